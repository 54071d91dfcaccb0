//! fibonacci: naive doubly recursive fib(n), a call-heavy CPU kernel. Input: n as ASCII.

pub fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let n = crate::input_number(input)?;
    if n > 90 {
        return Err(format!("fib({n}) overflows u64; use n <= 90"));
    }
    Ok(fib(std::hint::black_box(n)).to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::run(b"25").unwrap(), b"75025");
        assert_eq!(super::run(b"0").unwrap(), b"0");
        assert!(super::run(b"x").is_err());
    }
}
