//! `[load]`: the levels load mode plays (clients, rates, bursts) and its timings. The table and the `load`
//! mode come together: one without the other is refused.

use super::file::LoadFile;
use super::span::SpannedError;
use harness_data::load::{
    LoadPlan, default_load_duration_ms, default_load_idle_ms, default_load_instances, default_load_warmup_ms,
};
use std::ops::Range;
use toml::Spanned;

/// The load plan when `modes` names `load` (`load_mode`); `modes_span` is where to point when the table is
/// missing.
pub(super) fn validate(
    table: Option<&Spanned<LoadFile>>,
    load_mode: bool,
    modes_span: Range<usize>,
) -> Result<Option<LoadPlan>, SpannedError> {
    match (table, load_mode) {
        (Some(table), true) => levels(table.get_ref()).map(Some),
        (Some(table), false) => Err((
            table.span(),
            "a `[load]` table, but `modes` has no \"load\": add it to `modes` or remove the table".into(),
        )),
        (None, true) => Err((
            modes_span,
            "mode `load` needs a `[load]` table with `clients`, `rates` or `burst`".into(),
        )),
        (None, false) => Ok(None),
    }
}

/// Levels must be positive (0 clients or a negative rate cannot be run), and there must be at least one.
fn levels(file: &LoadFile) -> Result<LoadPlan, SpannedError> {
    let clients = file
        .clients
        .iter()
        .map(|c| positive("clients", c))
        .collect::<Result<Vec<_>, _>>()?;
    let burst = file
        .burst
        .iter()
        .map(|b| positive("burst", b))
        .collect::<Result<Vec<_>, _>>()?;
    let rates = file.rates.iter().map(rate).collect::<Result<Vec<_>, _>>()?;
    if clients.is_empty() && rates.is_empty() && burst.is_empty() {
        return Err((
            0..0,
            "`[load]` has no levels: give `clients`, `rates` or `burst`".into(),
        ));
    }
    let instances = match &file.instances {
        Some(v) => positive("instances", v)?,
        None => default_load_instances(),
    };
    let memory_mb = match &file.memory_mb {
        Some(v) => Some(u64::from(positive("memory_mb", v)?)),
        None => None,
    };
    Ok(LoadPlan {
        clients,
        rates,
        burst,
        duration_ms: millis("duration_ms", &file.duration_ms, default_load_duration_ms(), false)?,
        warmup_ms: millis("warmup_ms", &file.warmup_ms, default_load_warmup_ms(), true)?,
        instances,
        memory_mb,
        idle_ms: millis("idle_ms", &file.idle_ms, default_load_idle_ms(), true)?,
    })
}

fn positive(field: &str, value: &Spanned<i64>) -> Result<u32, SpannedError> {
    match u32::try_from(*value.get_ref()) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err((
            value.span(),
            format!(
                "field `load.{field}`: {} is not a level; use a whole number of at least 1",
                value.get_ref()
            ),
        )),
    }
}

fn rate(rate: &Spanned<f64>) -> Result<f64, SpannedError> {
    let r = *rate.get_ref();
    if !(r.is_finite() && r > 0.0) {
        return Err((
            rate.span(),
            format!("field `load.rates`: {r} is not a rate; use requests per second above 0"),
        ));
    }
    Ok(r)
}

fn millis(field: &str, value: &Option<Spanned<i64>>, default: u64, zero_ok: bool) -> Result<u64, SpannedError> {
    match value {
        None => Ok(default),
        Some(v) if *v.get_ref() > 0 || (zero_ok && *v.get_ref() == 0) => Ok(*v.get_ref() as u64),
        Some(v) => Err((
            v.span(),
            format!(
                "field `load.{field}` must be {} milliseconds, not {}",
                if zero_ok { "0 or more" } else { "at least 1" },
                v.get_ref()
            ),
        )),
    }
}
