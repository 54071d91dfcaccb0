//! Turning a plan's input spec into input bytes, identically on every host.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// A plain non-negative integer such as `25`.
pub fn parse_count(spec: &str) -> Result<u64, InputError> {
    spec.trim()
        .replace('_', "")
        .parse()
        .map_err(|_| InputError(format!("`{spec}` is not a whole number")))
}

/// A byte size: `512`, `1KB` (1000), `1KiB` (1024), `2MB`, `2MiB`, `1GiB`.
pub fn parse_size(spec: &str) -> Result<usize, InputError> {
    let s = spec.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .replace('_', "")
        .parse()
        .map_err(|_| InputError(format!("`{spec}` is not a size (examples: 512, 64KiB, 2MiB, 1MB)")))?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "KiB" | "K" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" | "M" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" | "G" => 1 << 30,
        other => {
            return Err(InputError(format!(
                "`{other}` in `{spec}` is not a size unit (B, KB, KiB, MB, MiB, GB, GiB)"
            )));
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| InputError(format!("`{spec}` is too large")))
}

/// Refuses an input outside the workload's range, before anything is allocated for it.
pub(crate) fn check_range(spec: &str, n: u64, range: crate::Range, unit: &str) -> Result<(), InputError> {
    if n < range.min || n > range.max {
        let show = |n: u64| match n {
            n if n >= 1 << 20 && n % (1 << 20) == 0 && !unit.is_empty() => format!("{}MiB", n >> 20),
            n => format!("{n}{unit}"),
        };
        return Err(InputError(format!(
            "`{spec}` is outside what this workload accepts ({} to {}): pick an input in that range",
            show(range.min),
            show(range.max)
        )));
    }
    Ok(())
}

/// Deterministic bytes from a fixed-seed xorshift generator: the same on every host and every run.
pub fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&state.to_le_bytes()[..take]);
    }
    out
}

/// Deterministic lowercase text of words separated by spaces, for the fuzzy search.
pub fn pseudo_text(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "energy",
        "latency",
        "runtime",
        "module",
        "container",
        "sample",
        "counter",
        "joule",
        "invocation",
        "kernel",
        "webassembly",
        "serverless",
        "cold",
        "warm",
        "probe",
        "sensor",
        "battery",
        "package",
        "interpreter",
        "compile",
    ];
    let random = pseudo_random_bytes(len / 4 + 8);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        let word = WORDS[random[i % random.len()] as usize % WORDS.len()];
        out.extend_from_slice(word.as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("1KB").unwrap(), 1000);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert!(parse_size("2XB").unwrap_err().0.contains("size unit"));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn generated_inputs_are_deterministic_and_sized() {
        assert_eq!(pseudo_random_bytes(1000), pseudo_random_bytes(1000));
        assert_eq!(pseudo_random_bytes(13).len(), 13);
        let text = pseudo_text(4096);
        assert_eq!(text.len(), 4096);
        assert!(text.iter().all(|b| b.is_ascii_lowercase() || *b == b' '));
    }
}
