//! `runtimes`: which runtimes run every cell, each named once.

use super::span::SpannedError;
use harness_data::RuntimeKind;
use toml::Spanned;

/// Parses each name; refuses an unknown one (listing the valid ones), an empty list, and a runtime named twice
/// (it would measure its cells twice, with repeated iteration numbers).
pub(super) fn validate(names: &[Spanned<String>]) -> Result<Vec<RuntimeKind>, SpannedError> {
    let mut runtimes = Vec::new();
    for name in names {
        match name.get_ref().parse::<RuntimeKind>() {
            Ok(kind) if runtimes.contains(&kind) => {
                return Err((
                    name.span(),
                    format!("field `runtimes`: `{kind}` is named twice; name each runtime once"),
                ));
            }
            Ok(kind) => runtimes.push(kind),
            Err(unknown) => return Err((name.span(), format!("field `runtimes`: {unknown}"))),
        }
    }
    if runtimes.is_empty() {
        return Err((
            0..0,
            format!("field `runtimes` is empty; valid runtimes: {}", RuntimeKind::names()),
        ));
    }
    Ok(runtimes)
}
