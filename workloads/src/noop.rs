//! noop: the "hello" of serverless studies; measures pure runtime overhead.

pub fn run(_input: &[u8]) -> Result<Vec<u8>, String> {
    Ok(Vec::new())
}
