//! image-resize: halves a square RGB image with a bilinear filter in fixed-point integer arithmetic (so it is
//! bit-identical on every target). Input: the image (prepared by the host from a side in pixels). Output: the
//! resized RGB bytes.

use crate::input::{InputError, check_range, parse_count, pseudo_random_bytes};

/// Input layout: u32 LE side, then side x side x 3 bytes of a smooth gradient with noise. `range` bounds the
/// side (8192: a 192 MiB image, which a wasm32 guest still holds beside its output).
pub fn prepare(spec: &str, range: crate::Range) -> Result<Vec<u8>, InputError> {
    let side = side_in_range(spec, range)? as usize;
    let noise = pseudo_random_bytes(side * side);
    let mut out = Vec::with_capacity(4 + side * side * 3);
    out.extend_from_slice(&(side as u32).to_le_bytes());
    for y in 0..side {
        for x in 0..side {
            let n = noise[y * side + x] / 8;
            out.push(((x * 255 / side) as u8).wrapping_add(n));
            out.push(((y * 255 / side) as u8).wrapping_add(n));
            out.push((((x + y) * 127 / side) as u8).wrapping_add(n));
        }
    }
    Ok(out)
}

/// What [`prepare`] refuses, without allocating the image.
pub fn check(spec: &str, range: crate::Range) -> Result<(), InputError> {
    side_in_range(spec, range).map(|_| ())
}

fn side_in_range(spec: &str, range: crate::Range) -> Result<u64, InputError> {
    let side = parse_count(spec)?;
    check_range(spec, side, range, " pixels")?;
    Ok(side)
}

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let side = input
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
        .ok_or("input shorter than its header")?;
    let pixels = &input[4..];
    if pixels.len() != side * side * 3 {
        return Err(format!(
            "expected {} pixel bytes for side {side}, got {}",
            side * side * 3,
            pixels.len()
        ));
    }
    let out_side = side / 2;
    let mut out = Vec::with_capacity(out_side * out_side * 3);
    // Source coordinate of output pixel o, in 1/256 pixel: (o + 0.5) * scale - 0.5.
    let scale = (side << 8) / out_side;
    let at = |x: usize, y: usize, c: usize| pixels[(y * side + x) * 3 + c] as u32;
    for oy in 0..out_side {
        let sy = ((oy << 8) + 128) * scale / 256 - 128;
        let (y0, fy) = (sy >> 8, (sy & 255) as u32);
        let y1 = (y0 + 1).min(side - 1);
        for ox in 0..out_side {
            let sx = ((ox << 8) + 128) * scale / 256 - 128;
            let (x0, fx) = (sx >> 8, (sx & 255) as u32);
            let x1 = (x0 + 1).min(side - 1);
            for c in 0..3 {
                let top = at(x0, y0, c) * (256 - fx) + at(x1, y0, c) * fx;
                let bottom = at(x0, y1, c) * (256 - fx) + at(x1, y1, c) * fx;
                out.push(((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn halves_the_image() {
        let input = super::prepare("64", crate::find("image-resize").unwrap().range).unwrap();
        let out = super::run(&input).unwrap();
        assert_eq!(out.len(), 32 * 32 * 3);
        assert!(super::run(&input[..10]).is_err());
    }
}
