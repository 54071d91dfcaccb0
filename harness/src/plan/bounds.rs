//! Bounds no host can exceed: at least one repetition, waits of at most a day or an hour, and a schedule that
//! fits in memory. Checked from the counts alone, before anything is scheduled.

use super::span::{SpannedError, key_span};
use harness_data::plan::WasmStack;
use toml::Spanned;

/// The most invocations one run may schedule (the schedule and the cell labels are held in memory).
pub const MAX_SCHEDULED: u128 = 100_000_000;
/// The longest per-invocation deadline: a day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// The longest cooldown and baseline idle: an hour.
pub const MAX_IDLE_MS: u64 = 3_600_000;

pub(super) fn repetitions(repetitions: &Spanned<u32>) -> Result<(), SpannedError> {
    if *repetitions.get_ref() == 0 {
        return Err((repetitions.span(), "field `repetitions` must be at least 1".into()));
    }
    Ok(())
}

/// The plan's waits, in milliseconds.
pub(super) struct Waits {
    pub timeout_ms: u64,
    pub cooldown_ms: u64,
    pub baseline_ms: u64,
}

/// Millisecond fields past a day are typos, and a sleep that never ends looks like a hang. `text` locates the
/// field (serde read it without a span).
pub(super) fn waits(text: &str, waits: &Waits) -> Result<(), SpannedError> {
    for (field, value, max) in [
        ("timeout_ms", waits.timeout_ms, MAX_TIMEOUT_MS),
        ("cooldown_ms", waits.cooldown_ms, MAX_IDLE_MS),
        ("baseline_ms", waits.baseline_ms, MAX_IDLE_MS),
    ] {
        if value > max {
            return Err((
                key_span(text, field),
                format!("field `{field}` is {value}; use at most {max} milliseconds"),
            ));
        }
    }
    Ok(())
}

/// The schedule holds every invocation in memory: `repetitions = 4294967295` once aborted on a 64 GiB
/// allocation. `cells` is (workload, input) pairs x runtimes x modes; counted in u128 so the product itself
/// cannot overflow.
pub(super) fn schedule(cells: u128, repetitions: &Spanned<u32>, warmup: u32) -> Result<(), SpannedError> {
    let scheduled = cells * (u128::from(*repetitions.get_ref()) + u128::from(warmup));
    if scheduled > MAX_SCHEDULED {
        return Err((
            repetitions.span(),
            format!(
                "{scheduled} invocations scheduled ({cells} cells x (repetitions + warmup)), more than the \
                 {MAX_SCHEDULED} one run can hold; lower `repetitions` or split the plan into several runs"
            ),
        ));
    }
    Ok(())
}

/// `wasm_stack_kib`: the guests run on the harness's own threads, so the stack must fit in them.
pub(super) fn wasm_stack(kib: &Spanned<i64>) -> Result<WasmStack, SpannedError> {
    let (min, max) = (WasmStack::MIN_KIB, WasmStack::MAX_KIB);
    match u32::try_from(*kib.get_ref()) {
        Ok(value) if (min..=max).contains(&value) => Ok(WasmStack { kib: value }),
        _ => Err((
            kib.span(),
            format!(
                "field `wasm_stack_kib` is {}; use {min} to {max} KiB (the default, wasmtime's, is {})",
                kib.get_ref(),
                WasmStack::DEFAULT_KIB
            ),
        )),
    }
}
