//! sieve: sieve of Eratosthenes up to a limit; memory-walking CPU kernel. Output: the count of primes and the
//! largest one, as ASCII.

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let limit = crate::input_number(input)? as usize;
    if limit > 1_000_000_000 {
        return Err("limit above 1e9 would need over 1 GB".into());
    }
    let mut composite = vec![false; limit + 1];
    let (mut count, mut largest) = (0u64, 0usize);
    for i in 2..=limit {
        if !composite[i] {
            count += 1;
            largest = i;
            // i * i overflows a 32-bit usize (wasm32) once i > 65535; such a prime has no multiple left to mark.
            let mut j = i.saturating_mul(i);
            while j <= limit {
                composite[j] = true;
                j += i;
            }
        }
    }
    Ok(format!("{count} {largest}").into_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_primes() {
        assert_eq!(super::run(b"100").unwrap(), b"25 97");
        assert_eq!(super::run(b"1000000").unwrap(), b"78498 999983");
    }
}
