//! Outputs under load are checked as invocations' are: every answer of a level against the level's first, and
//! the level's against the digest its workload and input gave before (cold, warm, or an earlier level).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The output every request of a level must give: the level's first answer. Every answer is checked, byte for
/// byte (a memory compare costs far less than the runtime producing the output, and less than hashing it), so
/// a runtime that computes something else under load fails as it would cold; only the first answer and a
/// differing one are hashed, for the messages.
#[derive(Debug, Default)]
pub struct ExpectedOutput {
    first: std::sync::OnceLock<Vec<u8>>,
    mismatch: Mutex<Option<String>>,
}

impl ExpectedOutput {
    /// Whether `output` is the level's output; the first answer sets it.
    pub fn check(&self, output: &[u8]) -> Result<(), String> {
        let first = self.first.get_or_init(|| output.to_vec());
        if first.as_slice() == output {
            return Ok(());
        }
        let why = format!(
            "output digest {} differs from the level's first answer, {}",
            harness_workloads::digest(output),
            harness_workloads::digest(first)
        );
        self.mismatch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| why.clone());
        Err(why)
    }

    /// The digest of the level's output, if any request answered.
    pub fn digest(&self) -> Option<String> {
        self.first.get().map(|first| harness_workloads::digest(first))
    }

    /// The first answer that differed, if any.
    pub fn mismatch(&self) -> Option<String> {
        self.mismatch.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Each (workload, input)'s output digest, with who gave it first ("native (cold)"): what every level's
/// answers must match, as every invocation's must.
pub type KnownDigests = BTreeMap<(String, String), (String, String)>;

/// Fails when a level's answers differed from one another, or from what `known` holds for its workload and
/// input; else records its digest there for the levels after it. `here` names the level: "wasmi (clients 2)".
pub fn check_output(
    known: &mut KnownDigests,
    (workload, input): (&str, &str),
    here: &str,
    expected: &ExpectedOutput,
) -> anyhow::Result<()> {
    let what = format!("digest mismatch for workload `{workload}` input `{input}`");
    let compare = "runtimes that computed different things cannot be compared";
    if let Some(why) = expected.mismatch() {
        anyhow::bail!("{what} under load on {here}: {why}; {compare}");
    }
    let Some(digest) = expected.digest() else {
        return Ok(());
    };
    let key = (workload.to_string(), input.to_string());
    let (first, who) = known.entry(key).or_insert_with(|| (digest.clone(), here.to_string()));
    if *first != digest {
        anyhow::bail!("{what}: {who} gave {first}, {here} gave {digest}; {compare}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_must_be_the_levels_first() {
        let expected = ExpectedOutput::default();
        assert_eq!(expected.digest(), None);
        assert!(expected.check(b"6765").is_ok());
        assert!(expected.check(b"6765").is_ok());
        let why = expected.check(b"6766").unwrap_err();
        assert!(why.contains(&harness_workloads::digest(b"6766")), "{why}");
        assert!(expected.check(b"6765").is_ok(), "the first answer stays the reference");
        assert_eq!(expected.mismatch(), Some(why));
        assert_eq!(expected.digest(), Some(harness_workloads::digest(b"6765")));
    }

    #[test]
    fn a_level_answering_otherwise_than_the_invocations_fails_naming_both() {
        let key = ("fibonacci", "20");
        let mut known = KnownDigests::new();
        let (same, other) = (ExpectedOutput::default(), ExpectedOutput::default());
        same.check(b"6765").unwrap();
        other.check(b"6766").unwrap();
        known.insert(
            ("fibonacci".into(), "20".into()),
            (harness_workloads::digest(b"6765"), "native (cold)".into()),
        );
        check_output(&mut known, key, "wasmi (clients 2)", &same).unwrap();
        let e = check_output(&mut known, key, "wasmi (clients 2)", &other)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("native (cold) gave") && e.contains("wasmi (clients 2) gave"),
            "{e}"
        );
        // With nothing known, the first level's answer becomes the reference for the next ones.
        let mut fresh = KnownDigests::new();
        check_output(&mut fresh, key, "native (burst 1)", &other).unwrap();
        assert!(check_output(&mut fresh, key, "wasmi (clients 2)", &same).is_err());
        // Answers that differ within a level fail it.
        let random = ExpectedOutput::default();
        random.check(b"1").unwrap();
        assert!(random.check(b"2").is_err());
        let e = check_output(&mut KnownDigests::new(), key, "native (clients 2)", &random)
            .unwrap_err()
            .to_string();
        assert!(e.contains("under load on native (clients 2)"), "{e}");
    }
}
