//! fault: misbehaves on purpose, to test that the harness records failures and goes on. `trap` panics (a trap
//! in Wasm, a crash of the native process); `loop` never returns, so only a deadline can stop it.

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    match input {
        b"trap" => panic!("fault workload asked to trap"),
        b"loop" => {
            let mut spins = 0u64;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        other => Err(format!(
            "fault expects `trap` or `loop`, got {:?}",
            String::from_utf8_lossy(other)
        )),
    }
}
