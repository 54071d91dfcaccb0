//! The few WASI preview1 calls a Rust `wasm32-wasip1` workload module can make, served identically to
//! wasmtime and wasmi.
//!
//! The workload ABI moves data through linear memory, not stdio, so the modules only reach WASI on a panic
//! (`fd_write` to stderr, then abort) or through std's start-up. Serving that subset in the harness keeps the
//! per-instance cost of both engines equal and free of a full WASI context; any other WASI call traps with
//! a message naming it, so a module that needs more fails loudly instead of silently misbehaving.

pub const MODULE: &str = "wasi_snapshot_preview1";

/// errno values of WASI preview1.
pub const ERRNO_SUCCESS: i32 = 0;
pub const ERRNO_BADF: i32 = 8;
pub const ERRNO_FAULT: i32 = 21;

/// What a served call did, for the engine-specific glue to translate.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// Return this errno to the guest.
    Errno(i32),
    /// The guest asked to exit: stop the invocation (a trap, with the exit code in the message).
    Exit(i32),
}

/// Host-side state of the shim, kept in each store.
#[derive(Debug, Default)]
pub struct WasiState {
    /// Bytes the guest wrote to stdout and stderr (a panic message ends up here).
    pub stderr: Vec<u8>,
    pub memory_cap: MemoryCap,
}

impl WasiState {
    pub fn capped(max_bytes: Option<usize>) -> WasiState {
        WasiState {
            memory_cap: MemoryCap {
                max_bytes,
                denied: None,
            },
            ..Default::default()
        }
    }
}

/// The plan's `memory_mb` for one Wasm instance. Both engines ask it before growing a linear memory; a
/// denied growth traps, and the invocation's error says the cap was the reason.
#[derive(Debug, Default)]
pub struct MemoryCap {
    pub max_bytes: Option<usize>,
    /// The size a denied growth asked for.
    pub denied: Option<usize>,
}

impl MemoryCap {
    pub fn allows(&mut self, desired: usize) -> bool {
        match self.max_bytes {
            Some(max) if desired > max => {
                self.denied = Some(desired);
                false
            }
            _ => true,
        }
    }

    /// Why the guest stopped, when the cap stopped it.
    pub fn reason(&self) -> Option<String> {
        let (denied, max) = (self.denied?, self.max_bytes?);
        Some(format!(
            "memory cap reached: linear memory would grow to {} MiB, over the plan's memory_mb = {}",
            denied.div_ceil(1 << 20),
            max >> 20
        ))
    }
}

/// Whether the shim serves `name`.
pub fn serves(name: &str) -> bool {
    matches!(
        name,
        "fd_write"
            | "proc_exit"
            | "environ_get"
            | "environ_sizes_get"
            | "args_get"
            | "args_sizes_get"
            | "random_get"
            | "clock_time_get"
            | "sched_yield"
    )
}

fn read_u32(memory: &[u8], at: usize) -> Option<u32> {
    memory
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
}

fn write_bytes(memory: &mut [u8], at: usize, bytes: &[u8]) -> bool {
    match memory.get_mut(at..at + bytes.len()) {
        Some(slot) => {
            slot.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

/// Serves one call on the guest's linear memory. `args` are the i32/i64 arguments widened to i64.
pub fn serve(state: &mut WasiState, memory: &mut [u8], name: &str, args: &[i64]) -> Served {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let ok = |written: bool| Served::Errno(if written { ERRNO_SUCCESS } else { ERRNO_FAULT });
    match name {
        "fd_write" => {
            let (fd, iovs, count, nwritten) = (arg(0), arg(1) as usize, arg(2) as usize, arg(3) as usize);
            if fd != 1 && fd != 2 {
                return Served::Errno(ERRNO_BADF);
            }
            let mut total = 0u32;
            for i in 0..count {
                let (Some(ptr), Some(len)) = (read_u32(memory, iovs + 8 * i), read_u32(memory, iovs + 8 * i + 4))
                else {
                    return Served::Errno(ERRNO_FAULT);
                };
                let Some(bytes) = memory.get(ptr as usize..ptr as usize + len as usize) else {
                    return Served::Errno(ERRNO_FAULT);
                };
                // Keep at most 64 KiB: enough for any panic message, bounded for a chatty guest.
                let room = (64 * 1024usize).saturating_sub(state.stderr.len()).min(bytes.len());
                state.stderr.extend_from_slice(&bytes[..room]);
                total += len;
            }
            ok(write_bytes(memory, nwritten, &total.to_le_bytes()))
        }
        "proc_exit" => Served::Exit(arg(0) as i32),
        // No environment and no arguments: both counts are zero.
        "environ_sizes_get" | "args_sizes_get" => {
            ok(write_bytes(memory, arg(0) as usize, &[0; 4]) && write_bytes(memory, arg(1) as usize, &[0; 4]))
        }
        "environ_get" | "args_get" | "sched_yield" => Served::Errno(ERRNO_SUCCESS),
        // Deterministic bytes: workloads must not depend on randomness, and their digests must match.
        "random_get" => {
            let (ptr, len) = (arg(0) as usize, arg(1) as usize);
            let bytes = harness_workloads::input::pseudo_random_bytes(len);
            ok(write_bytes(memory, ptr, &bytes))
        }
        "clock_time_get" => {
            let now = harness_probes::clock::monotonic_ns();
            ok(write_bytes(memory, arg(2) as usize, &now.to_le_bytes()))
        }
        other => unreachable!("serve called for unserved WASI function {other}"),
    }
}

/// The message of a trap raised for a WASI call the shim does not serve.
pub fn unsupported(name: &str) -> String {
    format!(
        "the workload called WASI `{name}`, which the harness does not provide (workloads exchange data through the harness ABI, not WASI)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_write_gathers_iovecs_and_reports_count() {
        let mut memory = vec![0u8; 256];
        memory[100..105].copy_from_slice(b"hello");
        memory[120..126].copy_from_slice(b" world");
        // Two iovecs at 0: (100, 5), (120, 6).
        memory[0..4].copy_from_slice(&100u32.to_le_bytes());
        memory[4..8].copy_from_slice(&5u32.to_le_bytes());
        memory[8..12].copy_from_slice(&120u32.to_le_bytes());
        memory[12..16].copy_from_slice(&6u32.to_le_bytes());
        let mut state = WasiState::default();
        let served = serve(&mut state, &mut memory, "fd_write", &[2, 0, 2, 200]);
        assert_eq!(served, Served::Errno(ERRNO_SUCCESS));
        assert_eq!(state.stderr, b"hello world");
        assert_eq!(u32::from_le_bytes(memory[200..204].try_into().unwrap()), 11);
    }

    #[test]
    fn out_of_bounds_pointers_fault_instead_of_panicking() {
        let mut memory = vec![0u8; 16];
        let mut state = WasiState::default();
        assert_eq!(
            serve(&mut state, &mut memory, "fd_write", &[2, 100, 1, 0]),
            Served::Errno(ERRNO_FAULT)
        );
        assert_eq!(
            serve(&mut state, &mut memory, "random_get", &[10, 100]),
            Served::Errno(ERRNO_FAULT)
        );
        assert_eq!(
            serve(&mut state, &mut memory, "fd_write", &[5, 0, 0, 0]),
            Served::Errno(ERRNO_BADF)
        );
    }

    #[test]
    fn exit_and_unserved_names() {
        let mut memory = vec![0u8; 16];
        assert_eq!(
            serve(&mut WasiState::default(), &mut memory, "proc_exit", &[3]),
            Served::Exit(3)
        );
        assert!(serves("fd_write"));
        assert!(!serves("path_open"));
        assert!(unsupported("path_open").contains("path_open"));
    }
}
