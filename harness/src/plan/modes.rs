//! `modes`: `cold` and `warm` are the per-invocation modes the schedule runs; `load` plays the `[load]`
//! table's levels instead. Each is named once.

use super::span::SpannedError;
use harness_data::Mode;
use serde::Deserialize;
use toml::Spanned;

const VALID_MODES: &str = "cold, warm, load";

/// A mode as a plan names it. serde reads the name (a value of the wrong type is its error, at the value's
/// line); a name that is no mode is kept, so that [`validate`] refuses it at its own line, in the order the
/// plan's errors are reported, rather than as a TOML error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub(super) enum PlanMode {
    Cold,
    Warm,
    Load,
    Unknown(String),
}

impl From<String> for PlanMode {
    fn from(name: String) -> PlanMode {
        match name.as_str() {
            "cold" => PlanMode::Cold,
            "warm" => PlanMode::Warm,
            "load" => PlanMode::Load,
            _ => PlanMode::Unknown(name),
        }
    }
}

impl PlanMode {
    /// The per-invocation mode (`None` for `load`), or the unknown name.
    fn invocation_mode(&self) -> Result<Option<Mode>, &str> {
        match self {
            PlanMode::Cold => Ok(Some(Mode::Cold)),
            PlanMode::Warm => Ok(Some(Mode::Warm)),
            PlanMode::Load => Ok(None),
            PlanMode::Unknown(name) => Err(name),
        }
    }
}

/// The modes a plan asks for.
pub(super) struct Modes {
    /// The per-invocation modes, in the plan's order.
    pub invocation: Vec<Mode>,
    /// `load` was named: the plan needs a `[load]` table.
    pub load: bool,
}

/// Refuses an unknown mode, an empty list and a mode named twice (it would measure its cells twice, with repeated iteration
/// numbers).
pub(super) fn validate(modes: &Spanned<Vec<Spanned<PlanMode>>>) -> Result<Modes, SpannedError> {
    let mut named = Vec::new();
    let mut out = Modes {
        invocation: Vec::new(),
        load: false,
    };
    for mode in modes.get_ref() {
        let invocation = mode.get_ref().invocation_mode().map_err(|other| {
            (
                mode.span(),
                format!("field `modes`: unknown mode `{other}`; valid modes: {VALID_MODES}"),
            )
        })?;
        if named.contains(&mode.get_ref()) {
            let name = invocation.map_or("load", Mode::as_str);
            return Err((
                mode.span(),
                format!("field `modes`: `{name}` is named twice; name each mode once"),
            ));
        }
        named.push(mode.get_ref());
        match invocation {
            Some(m) => out.invocation.push(m),
            None => out.load = true,
        }
    }
    if named.is_empty() {
        return Err((
            modes.span(),
            format!("field `modes` is empty; valid modes: {VALID_MODES}"),
        ));
    }
    Ok(out)
}
