//! matmul: C = A x B for two n x n f64 matrices filled by a fixed formula, naive i-k-j loop. Output: the
//! little-endian bytes of C's row sums, so the digest covers every element's contribution.

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let n = crate::input_number(input)? as usize;
    if n == 0 || n > 4096 {
        return Err("side must be between 1 and 4096".into());
    }
    let a: Vec<f64> = (0..n * n).map(|i| ((i * 7 + 3) % 101) as f64 / 101.0).collect();
    let b: Vec<f64> = (0..n * n).map(|i| ((i * 13 + 5) % 103) as f64 / 103.0).collect();
    let mut c = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    let mut out = Vec::with_capacity(n * 8);
    for row in c.chunks(n) {
        out.extend_from_slice(&row.iter().sum::<f64>().to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn identity_like_sizes() {
        let out = super::run(b"3").unwrap();
        assert_eq!(out.len(), 24);
        let first = f64::from_le_bytes(out[..8].try_into().unwrap());
        assert!(first > 0.0);
    }
}
