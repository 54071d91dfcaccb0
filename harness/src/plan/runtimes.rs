//! `runtimes`: which runtimes run every cell, each named once. A runtime may run as a second arm,
//! `"wasmtime-aot:b"`: its own instance, measured as a runtime of its own (an A/A comparison: one runtime
//! against itself must come out equivalent or inconclusive).

use super::span::SpannedError;
use harness_data::RuntimeKind;
use toml::Spanned;

/// Runtimes that can run as a second arm: each arm is a separate engine in the harness or separate child
/// processes, so nothing is shared between arms and every probe sees both. (Node servers and containers are
/// shared per runtime and named by it.)
pub const ARM_RUNTIMES: [RuntimeKind; 4] = [
    RuntimeKind::Native,
    RuntimeKind::WasmtimeJit,
    RuntimeKind::WasmtimeAot,
    RuntimeKind::Wasmi,
];

/// Each runtime of the plan: its kind and the name its rows carry (the kind's, or `kind:arm`).
pub(super) struct Named {
    pub kinds: Vec<RuntimeKind>,
    pub names: Vec<String>,
}

/// Parses each name; refuses an unknown one (listing the valid ones), an empty list, and a name given twice
/// (it would measure its cells twice, with repeated iteration numbers).
pub(super) fn validate(names: &[Spanned<String>]) -> Result<Named, SpannedError> {
    let mut named = Named {
        kinds: Vec::new(),
        names: Vec::new(),
    };
    for name in names {
        let (kind, arm) = match name.get_ref().split_once(':') {
            Some((kind, arm)) => (kind, Some(arm)),
            None => (name.get_ref().as_str(), None),
        };
        let kind = kind
            .parse::<RuntimeKind>()
            .map_err(|unknown| (name.span(), format!("field `runtimes`: {unknown}")))?;
        if let Some(arm) = arm {
            if arm.is_empty() || !arm.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err((
                    name.span(),
                    format!(
                        "field `runtimes`: arm `{arm}` of `{kind}` must be letters, digits or `-`, e.g. \"{kind}:b\""
                    ),
                ));
            }
            if !ARM_RUNTIMES.contains(&kind) {
                return Err((
                    name.span(),
                    format!(
                        "field `runtimes`: `{kind}` cannot run as a second arm (its server or container is shared); \
                         arms are for {}",
                        ARM_RUNTIMES.map(RuntimeKind::as_str).join(", ")
                    ),
                ));
            }
        }
        let full = name.get_ref().clone();
        if named.names.contains(&full) {
            return Err((
                name.span(),
                format!(
                    "field `runtimes`: `{full}` is named twice; name each runtime once (a second arm: \"{kind}:b\")"
                ),
            ));
        }
        named.kinds.push(kind);
        named.names.push(full);
    }
    if named.kinds.is_empty() {
        return Err((
            0..0,
            format!("field `runtimes` is empty; valid runtimes: {}", RuntimeKind::names()),
        ));
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use crate::plan::Plan;
    use std::path::Path;

    fn parse(runtimes: &str, modes: &str) -> Result<Plan, String> {
        let text = format!(
            "repetitions = 3\nruntimes = {runtimes}\nmodes = {modes}\n[load]\nclients = [1]\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n"
        );
        let text = if modes.contains("load") {
            text
        } else {
            text.replace("[load]\nclients = [1]\n", "")
        };
        Plan::parse(&text, Path::new("p.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_second_arm_runs_under_its_own_name() {
        let plan = parse(r#"["wasmtime-aot", "wasmtime-aot:b"]"#, r#"["warm"]"#).unwrap();
        assert_eq!(plan.runtimes.len(), 2);
        assert_eq!(plan.runtime_names, vec!["wasmtime-aot", "wasmtime-aot:b"]);
        assert_eq!(plan.as_run().arms, vec!["wasmtime-aot", "wasmtime-aot:b"]);
        let plain = parse(r#"["wasmi"]"#, r#"["warm"]"#).unwrap();
        assert!(plain.as_run().arms.is_empty(), "plans without arms record none");
    }

    #[test]
    fn arms_are_refused_where_an_instance_is_shared() {
        let cases = [
            (r#"["wasmi", "wasmi"]"#, r#"["warm"]"#, "named twice"),
            (r#"["node-js:b"]"#, r#"["warm"]"#, "cannot run as a second arm"),
            (r#"["wasmi:"]"#, r#"["warm"]"#, "letters, digits"),
            (
                r#"["wasmi", "wasmi:b"]"#,
                r#"["warm", "load"]"#,
                "load levels serve one instance",
            ),
        ];
        for (runtimes, modes, says) in cases {
            let msg = parse(runtimes, modes).unwrap_err();
            assert!(msg.starts_with("p.toml:") && msg.contains(says), "{runtimes}: {msg}");
        }
    }
}
