//! json: builds n records, serializes them with serde_json, parses the text back and checks it. Output: the
//! JSON text.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Reading {
    id: u64,
    device: String,
    runtime: String,
    latency_us: f64,
    joules: f64,
    ok: bool,
    tags: Vec<String>,
}

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let n = crate::input_number(input)?;
    let runtimes = ["native", "wasmtime", "wasmi", "container", "node"];
    let records: Vec<Reading> = (0..n)
        .map(|i| Reading {
            id: i,
            device: format!("device-{}", i % 17),
            runtime: runtimes[(i % 5) as usize].to_string(),
            // Dyadic fractions print and parse exactly on every target.
            latency_us: (i % 1000) as f64 * 0.25,
            joules: (i % 333) as f64 / 64.0,
            ok: i % 7 != 0,
            tags: vec![format!("batch-{}", i / 100), "study".to_string()],
        })
        .collect();
    let text = serde_json::to_vec(&records).map_err(|e| e.to_string())?;
    let parsed: Vec<Reading> = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    if parsed != records {
        return Err("parsed records differ from the serialized ones".into());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let out = super::run(b"3").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[{\"id\":0,\"device\":\"device-0\""));
    }
}
