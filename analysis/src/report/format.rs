//! The one set of formatters every renderer and the terminal use: the report's blocks, and how a duration, an
//! energy, a byte count and a p-value are written. A leaf: it imports nothing from the crate, so the report's
//! layouts, the load section and `harness measure`'s summary can all use it without importing each other.

/// The report laid out as blocks, shared by the Markdown and HTML renderers so the two show the same numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Paragraph(String),
    Bullets(Vec<String>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A figure of `Report::figures`, by index.
    Figure(usize),
    /// A matrix of `Report::glance`, by index: a table whose cells the HTML report colours
    /// (`report::glance::cell_colour`); text as `document::glance_header` and `document::glance_row` give it.
    Glance(usize),
    /// The key to the matrices' colours (HTML only: Markdown has no colour, its cells say the same in words).
    GlanceLegend,
}

/// What a table shows where there is no value.
pub const DASH: &str = "-";

pub const TIME_UNITS: [(&str, f64); 4] = [("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)];
pub const ENERGY_UNITS: [(&str, f64); 4] = [("nJ", 1e-9), ("µJ", 1e-6), ("mJ", 1e-3), ("J", 1.0)];
const BYTE_UNITS: [(&str, f64); 4] = [("B", 1.0), ("KiB", 1024.0), ("MiB", 1048576.0), ("GiB", 1073741824.0)];

/// A unit for values given in `base` units, chosen so the typical value reads between 1 and 1000.
pub fn scale(typical: f64, units: &[(&'static str, f64)]) -> (&'static str, f64) {
    units
        .iter()
        .rev()
        .find(|(_, f)| typical.abs() >= *f)
        .copied()
        .unwrap_or(units[0])
}

/// A value with 4 significant digits in the unit that suits it.
fn with_unit(value: f64, units: &[(&'static str, f64)]) -> String {
    if !value.is_finite() {
        return DASH.into();
    }
    let (unit, factor) = scale(value, units);
    let v = value / factor;
    let decimals = (3 - v.abs().max(1e-12).log10().floor() as i32).clamp(0, 3) as usize;
    format!("{v:.decimals$} {unit}")
}

/// A duration in the report: 850.0 ns, 21.30 µs, 2.500 ms.
pub fn duration(ns: f64) -> String {
    with_unit(ns, &TIME_UNITS)
}

/// An energy in the report: 520.0 µJ, 12.30 mJ, 1.234 J.
pub fn joules(joules: f64) -> String {
    with_unit(joules, &ENERGY_UNITS)
}

/// A duration on the terminal, short and ASCII: 850 ns, 21.3 us, 2.50 ms, 1.20 s.
pub fn short_duration(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.2} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} us", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// An energy on the terminal, short and ASCII: 520.0 uJ, 12.30 mJ, 1.20 J.
pub fn short_joules(joules: f64) -> String {
    match joules.abs() {
        a if a >= 1.0 => format!("{joules:.2} J"),
        a if a >= 1e-3 => format!("{:.2} mJ", joules * 1e3),
        _ => format!("{:.1} uJ", joules * 1e6),
    }
}

/// A size in bytes: 1234 B, 1.2 KiB, 3.4 MiB.
pub fn bytes(value: u64) -> String {
    binary_units(value as f64, false)
}

/// A measured amount of memory, which may be fractional or negative (a median per instance above an empty
/// host): one decimal in every unit, 512.0 B, 1.5 MiB.
pub fn memory(value: f64) -> String {
    binary_units(value, true)
}

fn binary_units(value: f64, decimal_bytes: bool) -> String {
    let (unit, factor) = scale(value, &BYTE_UNITS);
    if factor == 1.0 && !decimal_bytes {
        format!("{value} {unit}")
    } else {
        format!("{:.1} {unit}", value / factor)
    }
}

/// Three significant digits: 0.00211, 0.405, 36.8, 1234.
pub fn significant(value: f64) -> String {
    if !value.is_finite() {
        return DASH.into();
    }
    if value == 0.0 {
        return "0".into();
    }
    let decimals = |v: f64| (2 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let d = decimals(value);
    // Rounding may carry into the next power of ten (9.996 -> 10.00): then one decimal fewer.
    let rounded: f64 = format!("{value:.d$}").parse().unwrap_or(value);
    let d = decimals(rounded).min(d);
    format!("{value:.d$}")
}

pub fn p_value(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// The value formatted, or a dash.
pub fn or_dash<T>(value: Option<T>, f: impl Fn(T) -> String) -> String {
    value.map(f).unwrap_or_else(|| DASH.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_energies_read_at_a_glance() {
        assert_eq!(short_duration(850.0), "850 ns");
        assert_eq!(short_duration(21_300.0), "21.3 us");
        assert_eq!(short_duration(2_500_000.0), "2.50 ms");
        assert_eq!(short_joules(0.00052), "520.0 uJ");
        assert_eq!(short_joules(0.0123), "12.30 mJ");
    }

    #[test]
    fn bytes_have_no_decimal_below_a_kibibyte_and_memory_always_one() {
        assert_eq!(bytes(1234), "1.2 KiB");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(memory(512.0), "512.0 B");
        assert_eq!(memory(-3.0 * 1048576.0), "-3.0 MiB");
        assert_eq!(memory(1.5 * 1048576.0), "1.5 MiB");
    }
}
