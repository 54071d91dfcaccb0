//! `[[probes]]`: each probe's own options are checked by its spec; a refusal points at the field's line.

use super::span::{SpannedError, field_span};
use harness_probes::spec::ProbeSpec;
use toml::Spanned;

/// The probes, each checked (`ProbeSpec::check`), in the plan's order.
pub(super) fn validate(text: &str, probes: Vec<Spanned<ProbeSpec>>) -> Result<Vec<ProbeSpec>, SpannedError> {
    let mut checked = Vec::with_capacity(probes.len());
    for probe in probes {
        if let Err((field, message)) = probe.get_ref().check() {
            return Err((field_span(text, probe.span(), field), message));
        }
        checked.push(probe.into_inner());
    }
    Ok(checked)
}
