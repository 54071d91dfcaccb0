//! The WASI command contract (issue 14), as a plan is checked against it: what a command module must export
//! and may import. A leaf: the plan parser asks it, the runtimes run what it admits.

/// The sightglass convention's import module: `bench.start()` and `bench.end()`, no params, no results.
pub const BENCH_MODULE: &str = "bench";

/// The largest file a command may be given: its `stdin` file (read into memory before the run) and each file
/// beside its module (copied into its container image). The same 256 MiB as a built-in's largest input.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Checks one of a command's files against [`MAX_FILE_BYTES`]; the error says what the file is for and the fix.
pub fn check_file_size(path: &std::path::Path, bytes: u64, used_as: &str) -> Result<(), String> {
    if bytes > MAX_FILE_BYTES {
        return Err(format!(
            "{} is {bytes} bytes, more than the {} MiB a command's file may hold ({used_as}); give a smaller \
             file, or move this one out of the module's directory",
            path.display(),
            MAX_FILE_BYTES >> 20
        ));
    }
    Ok(())
}

/// Every function of WASI preview1 (`wasi_snapshot_preview1`), which all four Wasm runtimes implement.
pub const PREVIEW1: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// What a command module declares, checked before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandShape {
    /// Imports both `bench.start` and `bench.end`.
    pub bench_phases: bool,
}

/// Checks that `wasm` is a command every Wasm runtime can run: it exports `_start`, and imports only WASI
/// preview1 functions and `bench.start`/`bench.end`. The error names the module and the offending import.
pub fn check_module(wasm: &[u8], shown_as: &str) -> Result<CommandShape, String> {
    let engine = wasmi::Engine::default();
    let module =
        wasmi::Module::new(&engine, wasm).map_err(|e| format!("{shown_as} is not a valid Wasm module: {e}"))?;
    let mut bench = (false, false);
    for import in module.imports() {
        let (field, name) = (import.module(), import.name());
        let is_func = import.ty().func().is_some();
        let provided = is_func
            && match field {
                "wasi_snapshot_preview1" => PREVIEW1.contains(&name),
                BENCH_MODULE if name == "start" || name == "end" => {
                    let ty = import.ty().func().expect("checked above");
                    if !ty.params().is_empty() || !ty.results().is_empty() {
                        return Err(format!(
                            "{shown_as} imports `bench.{name}` with the signature {ty:?}; the sightglass \
                             convention is no parameters and no results"
                        ));
                    }
                    if name == "start" {
                        bench.0 = true;
                    } else {
                        bench.1 = true;
                    }
                    true
                }
                _ => false,
            };
        if !provided {
            return Err(format!(
                "{shown_as} imports `{field}.{name}`, which no runtime provides: a command may import only \
                 WASI preview1 functions (`wasi_snapshot_preview1`) and `bench.start`/`bench.end`"
            ));
        }
    }
    if !module
        .exports()
        .any(|e| e.name() == "_start" && e.ty().func().is_some())
    {
        return Err(format!(
            "{shown_as} exports no `_start` function: it is not a WASI command (build it as a program, e.g. \
             `--target wasm32-wasip1` with a `main`, not a library)"
        ));
    }
    if bench.0 != bench.1 {
        return Err(format!(
            "{shown_as} imports only one of `bench.start` and `bench.end`; import both or neither"
        ));
    }
    Ok(CommandShape { bench_phases: bench.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn a_command_with_bench_imports_has_bench_phases() {
        let wasm = module(
            r#"(module (import "bench" "start" (func)) (import "bench" "end" (func))
               (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
               (memory (export "memory") 1) (func (export "_start")))"#,
        );
        assert_eq!(check_module(&wasm, "m.wasm"), Ok(CommandShape { bench_phases: true }));
        let plain = module(r#"(module (memory (export "memory") 1) (func (export "_start")))"#);
        assert_eq!(check_module(&plain, "m.wasm"), Ok(CommandShape { bench_phases: false }));
    }

    #[test]
    fn unprovided_imports_and_missing_start_are_named() {
        let foreign = module(r#"(module (import "env" "foo" (func)) (func (export "_start")))"#);
        let e = check_module(&foreign, "x/m.wasm").unwrap_err();
        assert!(e.contains("x/m.wasm imports `env.foo`"), "{e}");
        let unknown_wasi =
            module(r#"(module (import "wasi_snapshot_preview1" "fd_frobnicate" (func)) (func (export "_start")))"#);
        assert!(
            check_module(&unknown_wasi, "m")
                .unwrap_err()
                .contains("`wasi_snapshot_preview1.fd_frobnicate`")
        );
        let reactor = module(r#"(module (func (export "_initialize")))"#);
        assert!(check_module(&reactor, "m").unwrap_err().contains("exports no `_start`"));
        let half = module(r#"(module (import "bench" "start" (func)) (func (export "_start")))"#);
        assert!(check_module(&half, "m").unwrap_err().contains("only one of"));
    }
}
