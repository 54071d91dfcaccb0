//! fuzzy: approximate search (Sellers' dynamic programming, up to K edits) of a fixed pattern in the input
//! text. Output: the number of end positions that match and the first few of them.

const PATTERN: &[u8] = b"webasembly";
const MAX_EDITS: usize = 2;

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let m = PATTERN.len();
    // column[i] = fewest edits to match PATTERN[..i] ending at the current text position.
    let mut column: Vec<usize> = (0..=m).collect();
    let mut matches = Vec::new();
    let mut count = 0u64;
    for (pos, &c) in input.iter().enumerate() {
        let mut diagonal = column[0];
        column[0] = 0;
        for i in 1..=m {
            let substitute = diagonal + usize::from(PATTERN[i - 1] != c);
            diagonal = column[i];
            column[i] = substitute.min(column[i] + 1).min(column[i - 1] + 1);
        }
        if column[m] <= MAX_EDITS {
            count += 1;
            if matches.len() < 16 {
                matches.push(pos);
            }
        }
    }
    let listed: Vec<String> = matches.iter().map(|p| p.to_string()).collect();
    Ok(format!("{count}: {}", listed.join(",")).into_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_near_matches() {
        let out = String::from_utf8(super::run(b"xx webassembly yy webasm zz").unwrap()).unwrap();
        assert!(out.starts_with("3: 12,13,14"), "{out}");
        assert_eq!(super::run(b"nothing here").unwrap(), b"0: ");
    }
}
