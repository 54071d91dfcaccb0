//! mandelbrot: the Benchmarks Game bitmap (50 iterations, escape radius 2), output as a PBM image. Only
//! multiplications and additions, so it is bit-identical on every target. Input: side in pixels.

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let n = crate::input_number(input)? as usize;
    if n == 0 || n > 16_000 {
        return Err("side must be between 1 and 16000".into());
    }
    let mut out = format!("P4\n{n} {n}\n").into_bytes();
    let row_bytes = n.div_ceil(8);
    for y in 0..n {
        let ci = 2.0 * y as f64 / n as f64 - 1.0;
        let mut row = vec![0u8; row_bytes];
        for x in 0..n {
            let cr = 2.0 * x as f64 / n as f64 - 1.5;
            let (mut zr, mut zi, mut inside) = (0.0f64, 0.0f64, true);
            for _ in 0..50 {
                let (tr, ti) = (zr * zr - zi * zi + cr, 2.0 * zr * zi + ci);
                zr = tr;
                zi = ti;
                if zr * zr + zi * zi > 4.0 {
                    inside = false;
                    break;
                }
            }
            if inside {
                row[x / 8] |= 0x80 >> (x % 8);
            }
        }
        out.extend_from_slice(&row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_and_size() {
        let out = super::run(b"200").unwrap();
        assert!(out.starts_with(b"P4\n200 200\n"));
        assert_eq!(out.len(), 11 + 25 * 200);
        // The centre-left of the set is inside, the far corner outside.
        let body = &out[11..];
        assert_eq!(body[0] & 0x80, 0);
        assert_ne!(body[100 * 25 + 10], 0);
    }
}
