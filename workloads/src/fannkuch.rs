//! fannkuch-redux: the Benchmarks Game program (De Macedo et al.'s headline JS-vs-Wasm workload): every
//! permutation of 1..=n, each flipped (its first k+1 elements reversed, k its first element) until 1 leads;
//! the output is the checksum (flip counts, alternately added and subtracted in permutation order) and the most
//! flips, as the Benchmarks Game prints them. Input: n as ASCII, 1-12. Sequential, as its single-thread C
//! version: the permutations in the order of the counting algorithm, so every runtime sums the same way.

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let n = crate::input_number(input)?;
    if !(1..=12).contains(&n) {
        return Err(format!(
            "fannkuch-redux({n}): n must be 1 to 12 (12! permutations at most)"
        ));
    }
    let (checksum, max_flips) = fannkuch(std::hint::black_box(n as usize));
    Ok(format!("{checksum}\nPfannkuchen({n}) = {max_flips}\n").into_bytes())
}

/// The checksum and the maximum flip count over every permutation of `n` elements.
pub fn fannkuch(n: usize) -> (i64, u32) {
    let mut perm1: Vec<usize> = (0..n).collect();
    let mut perm = vec![0usize; n];
    let mut count = vec![0usize; n];
    let (mut checksum, mut max_flips, mut permutation) = (0i64, 0u32, 0u64);
    let mut r = n;
    loop {
        while r > 1 {
            count[r - 1] = r;
            r -= 1;
        }
        perm.copy_from_slice(&perm1);
        let mut flips = 0u32;
        let mut k = perm[0];
        while k != 0 {
            perm[..=k].reverse();
            flips += 1;
            k = perm[0];
        }
        max_flips = max_flips.max(flips);
        checksum += if permutation % 2 == 0 {
            i64::from(flips)
        } else {
            -i64::from(flips)
        };
        // The next permutation: rotate the first r + 1 elements until a counter is left.
        loop {
            if r == n {
                return (checksum, max_flips);
            }
            perm1[..=r].rotate_left(1);
            count[r] -= 1;
            if count[r] > 0 {
                break;
            }
            r += 1;
        }
        permutation += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_benchmarks_games_reference_output() {
        // The Benchmarks Game's own expected output for n = 7.
        assert_eq!(super::run(b"7").unwrap(), b"228\nPfannkuchen(7) = 16\n");
        assert_eq!(super::fannkuch(1), (0, 0));
        assert!(super::run(b"13").is_err() && super::run(b"0").is_err());
    }
}
