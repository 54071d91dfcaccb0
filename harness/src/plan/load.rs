//! `[load]`: the levels load mode plays (clients, rates, bursts) and its timings. The table and the `load`
//! mode come together: one without the other is refused. Every value is bounded here, before anything runs: a
//! rate of 1e12 once asked for a 1.76 TB arrival list, and a `duration_ms` near i64::MAX wrapped to a 1 ns
//! window once in nanoseconds. [`fits`] then checks the table against the plan's runtimes and workloads.

use super::file::{LoadFile, WorkloadFile};
use super::span::SpannedError;
use harness_data::load::{
    LoadPlan, default_load_duration_ms, default_load_idle_ms, default_load_instances, default_load_warmup_ms,
};
use harness_data::plan::PlanWorkload;
use harness_data::{RuntimeKind, Serving};
use std::ops::Range;
use toml::Spanned;

/// The most clients, burst requests or instances of one level: each is a thread (a container, a node
/// process) of this host; more is a typo.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// The highest open-loop rate, requests/s: ten times what `harness bench-load` tries, beyond any generator.
pub const MAX_RATE: f64 = 10_000_000.0;
/// The most arrivals one open-loop level may draw (rate x (warm-up + duration)): the generator holds them in
/// memory before the level starts.
pub const MAX_LEVEL_REQUESTS: f64 = 10_000_000.0;
/// The longest measured window of a level: an hour (in nanoseconds it stays far from u64's end).
pub const MAX_DURATION_MS: u64 = 3_600_000;
/// The longest warm-up or idle span of a level: an hour.
pub const MAX_WAIT_MS: u64 = 3_600_000;
/// The largest memory cap per instance, MiB (1 TiB; Docker refuses more).
pub const MAX_MEMORY_MB: u64 = 1 << 20;
/// Docker refuses a container memory limit below 6 MiB.
pub const MIN_CONTAINER_MEMORY_MB: u64 = 6;

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

/// Levels must be positive (0 clients or a negative rate cannot be run), bounded, each listed once, and
/// there must be at least one.
fn levels(file: &LoadFile) -> Result<LoadPlan, SpannedError> {
    let clients = whole_levels("clients", &file.clients)?;
    let burst = whole_levels("burst", &file.burst)?;
    let rates = file.rates.iter().map(rate).collect::<Result<Vec<_>, _>>()?;
    if let Some(again) = repeated(&file.rates, |a, b| a == b) {
        return Err(listed_twice("rates", again));
    }
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
        Some(v) => Some(memory_mb(v)?),
        None => None,
    };
    let duration_ms = millis("duration_ms", &file.duration_ms, default_load_duration_ms(), false)?;
    let warmup_ms = millis("warmup_ms", &file.warmup_ms, default_load_warmup_ms(), true)?;
    for r in &file.rates {
        level_requests(*r.get_ref(), warmup_ms + duration_ms)
            .map_err(|e| (r.span(), format!("field `load.rates`: {e}")))?;
    }
    Ok(LoadPlan {
        clients,
        rates,
        burst,
        duration_ms,
        warmup_ms,
        instances,
        memory_mb,
        idle_ms: millis("idle_ms", &file.idle_ms, default_load_idle_ms(), true)?,
        serving: serving(file.serving.as_ref())?,
    })
}

/// `serving`: `threads` (the default) or `processes`; it shapes the in-process Wasm engines' pools, and the
/// other runtimes serve as their platform does whatever it says (docs/load.md).
fn serving(value: Option<&Spanned<String>>) -> Result<Serving, SpannedError> {
    match value {
        Some(value) => value
            .get_ref()
            .parse::<Serving>()
            .map_err(|e| (value.span(), format!("field `load.serving`: {e}"))),
        None => Ok(Serving::default()),
    }
}

/// Clients or burst sizes: each positive, bounded, and listed once (a repeated level runs twice and its two
/// rows collide in reports).
fn whole_levels(field: &str, values: &[Spanned<i64>]) -> Result<Vec<u32>, SpannedError> {
    let levels = values
        .iter()
        .map(|v| positive(field, v))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(again) = repeated(values, |a, b| a == b) {
        return Err(listed_twice(field, again));
    }
    Ok(levels)
}

/// The first value equal to an earlier one.
fn repeated<T>(values: &[Spanned<T>], same: impl Fn(&T, &T) -> bool) -> Option<&Spanned<T>> {
    values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].iter().any(|earlier| same(earlier.get_ref(), v.get_ref())))
        .map(|(_, v)| v)
}

fn listed_twice<T: std::fmt::Display>(field: &str, value: &Spanned<T>) -> SpannedError {
    (
        value.span(),
        format!(
            "field `load.{field}`: {} is listed twice; list each level once (a longer `duration_ms` measures a \
             level more)",
            value.get_ref()
        ),
    )
}

fn positive(field: &str, value: &Spanned<i64>) -> Result<u32, SpannedError> {
    match u32::try_from(*value.get_ref()) {
        Ok(v) if (1..=MAX_CONCURRENCY).contains(&v) => Ok(v),
        _ => Err((
            value.span(),
            format!(
                "field `load.{field}`: {} is not a level; use a whole number from 1 to {MAX_CONCURRENCY}",
                value.get_ref()
            ),
        )),
    }
}

fn rate(rate: &Spanned<f64>) -> Result<f64, SpannedError> {
    check_rate(*rate.get_ref()).map_err(|e| (rate.span(), format!("field `load.rates`: {e}")))
}

/// An open-loop rate the generator can draw arrivals for: finite, above 0, at most [`MAX_RATE`].
pub fn check_rate(r: f64) -> Result<f64, String> {
    if !(r.is_finite() && r > 0.0 && r <= MAX_RATE) {
        return Err(format!(
            "{r} is not a rate; use requests per second above 0 and at most {MAX_RATE:.0}"
        ));
    }
    Ok(r)
}

/// The arrivals a level at `rate` draws over `span_ms` (warm-up and window) must fit in memory.
pub fn level_requests(rate: f64, span_ms: u64) -> Result<(), String> {
    let expected = rate * span_ms as f64 / 1000.0;
    if expected > MAX_LEVEL_REQUESTS {
        return Err(format!(
            "{rate} requests/s over {span_ms} ms (warm-up and duration) is {expected:.0} requests, more than the \
             {MAX_LEVEL_REQUESTS:.0} one level may draw; lower the rate or `duration_ms`"
        ));
    }
    Ok(())
}

/// A level's measured time: at least 1 ms (a 0 ms window has no requests and divides by zero), at most
/// [`MAX_DURATION_MS`].
pub fn check_duration_ms(value: u64) -> Result<u64, String> {
    if !(1..=MAX_DURATION_MS).contains(&value) {
        return Err(format!(
            "{value} is not a duration; use 1 to {MAX_DURATION_MS} milliseconds"
        ));
    }
    Ok(value)
}

fn millis(field: &str, value: &Option<Spanned<i64>>, default: u64, zero_ok: bool) -> Result<u64, SpannedError> {
    let Some(v) = value else {
        return Ok(default);
    };
    let (min, max) = if zero_ok {
        (0, MAX_WAIT_MS)
    } else {
        (1, MAX_DURATION_MS)
    };
    match u64::try_from(*v.get_ref()) {
        Ok(ms) if (min..=max).contains(&ms) => Ok(ms),
        _ => Err((
            v.span(),
            format!(
                "field `load.{field}` must be {min} to {max} milliseconds, not {}",
                v.get_ref()
            ),
        )),
    }
}

fn memory_mb(value: &Spanned<i64>) -> Result<u64, SpannedError> {
    match u64::try_from(*value.get_ref()) {
        Ok(mb) if (1..=MAX_MEMORY_MB).contains(&mb) => Ok(mb),
        _ => Err((
            value.span(),
            format!(
                "field `load.memory_mb`: {} is not a memory cap; use 1 to {MAX_MEMORY_MB} MiB per instance",
                value.get_ref()
            ),
        )),
    }
}

/// What each runtime and workload can serve under load, checked before anything runs: a command module has
/// no load server (it once ran cold and warm, then failed at its first level), and a container cannot start
/// under Docker's 6 MiB minimum.
pub(super) fn fits(
    table: Option<&Spanned<LoadFile>>,
    load: Option<&LoadPlan>,
    runtimes: &[RuntimeKind],
    workloads: &[WorkloadFile],
    planned: &[PlanWorkload],
) -> Result<(), SpannedError> {
    let (Some(table), Some(load)) = (table, load) else {
        return Ok(());
    };
    if let Some((entry, _)) = workloads.iter().zip(planned).find(|(_, w)| w.command.is_some()) {
        return Err((
            entry.name.span(),
            format!(
                "workload `{}` is a WASI command module, and load mode serves built-in workloads only: measure \
                 the command cold and warm (remove \"load\" from `modes` and the `[load]` table), and its load in \
                 another plan with built-in workloads",
                entry.name.get_ref()
            ),
        ));
    }
    if let (Some(mb), Some(span)) = (load.memory_mb, table.get_ref().memory_mb.as_ref().map(Spanned::span))
        && mb < MIN_CONTAINER_MEMORY_MB
        && runtimes.contains(&RuntimeKind::Container)
    {
        return Err((
            span,
            format!(
                "field `load.memory_mb`: {mb} MiB is below the {MIN_CONTAINER_MEMORY_MB} MiB Docker gives a \
                 container at least, and the plan runs `container`: raise it to {MIN_CONTAINER_MEMORY_MB} or more"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
