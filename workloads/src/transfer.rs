//! transfer: moves a blob into the runtime and back out, with a single cheap pass over it so the work is not
//! optimized away. Its latency is dominated by the input and output transfer phases, the I/O-serialization cost
//! Lumos found to dominate data-intensive functions. Output: the blob with every byte incremented.

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    Ok(input.iter().map(|b| b.wrapping_add(1)).collect())
}
