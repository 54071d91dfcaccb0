//! The commands scripts/build-commands.sh builds into artifacts/commands/, checked against the contract that the
//! harness's WASI-command runtime relies on: the native twin prints `benchmark.stdout.expected` for
//! `default.input`, which is the built-in workload's own output; bench directories import exactly sightglass's
//! `bench.start`/`bench.end` and nobench ones do not; every module exports `_start`; and each module computes the
//! same bytes under an independent WASI host (Node's `node:wasi`), calling start before end, once each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// (directory, workload, imports bench.start/bench.end)
const COMMANDS: &[(&str, &str, bool)] = &[
    ("fibonacci", "fibonacci", true),
    ("fibonacci-nobench", "fibonacci", false),
    ("sha256", "sha256", true),
    ("sha256-nobench", "sha256", false),
    ("nbody", "nbody", true),
    ("nbody-nobench", "nbody", false),
    ("transfer-wasi", "transfer", true),
];

/// The native twins: dynamically linked (as artifacts/native) and statically linked (for container images).
const NATIVE: &[&str] = &["benchmark", "benchmark.static"];

/// The directory of one built command; a missing build fails naming the script that makes it.
fn command_dir(dir: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../artifacts/commands")
        .join(dir);
    for file in ["benchmark.wasm"].iter().chain(NATIVE) {
        assert!(
            path.join(file).is_file(),
            "{} is missing: run scripts/build-commands.sh (scripts/build-workloads.sh and scripts/setup.sh run it)",
            path.join(file).display()
        );
    }
    path
}

fn small_input(workload: &str) -> Vec<u8> {
    let spec = harness_workloads::find(workload).expect("a built-in workload");
    spec.prepare_input(spec.small_input).expect("its small input")
}

/// Runs `program args` in `cwd` with `stdin` piped in.
fn run_in(cwd: &Path, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
    // A command given a FILE may exit without reading stdin: a broken pipe here is expected.
    let _ = child.stdin.take().expect("piped stdin").write_all(stdin);
    child.wait_with_output().expect("waiting for the command")
}

#[test]
fn native_commands_print_the_expected_output_of_the_builtin_workload() {
    for &(dir, workload, _) in COMMANDS.iter().filter(|c| c.0 != "transfer-wasi") {
        let path = command_dir(dir);
        let input = std::fs::read(path.join("default.input")).expect("default.input");
        assert_eq!(
            input,
            small_input(workload),
            "{dir}: default.input is the harness's small input"
        );
        let expected = std::fs::read(path.join("benchmark.stdout.expected")).expect("benchmark.stdout.expected");
        let builtin = harness_workloads::run(workload, &input).expect("the built-in workload");
        assert_eq!(expected, builtin, "{dir}: the expected output is the built-in's");

        for native in NATIVE {
            let from_file = run_in(&path, &path.join(native), &["default.input"], b"");
            let stderr = String::from_utf8_lossy(&from_file.stderr);
            assert_eq!(from_file.status.code(), Some(0), "{dir}/{native}: {stderr}");
            assert_eq!(
                from_file.stdout, expected,
                "{dir}/{native}: output for default.input as FILE"
            );
            let from_stdin = run_in(&path, &path.join(native), &[], &input);
            let stderr = String::from_utf8_lossy(&from_stdin.stderr);
            assert_eq!(from_stdin.status.code(), Some(0), "{dir}/{native}: {stderr}");
            assert_eq!(
                from_stdin.stdout, expected,
                "{dir}/{native}: output for default.input on stdin"
            );
        }
    }
}

#[test]
fn a_workload_error_exits_2_and_an_unreadable_input_exits_3() {
    let path = command_dir("fibonacci");
    let bad = run_in(&path, &path.join("benchmark"), &[], b"not a number");
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected a decimal number"),
        "{bad:?}"
    );

    let missing = run_in(&path, &path.join("benchmark"), &["no-such.input"], b"");
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no-such.input"),
        "{missing:?}"
    );
}

/// Whether an ELF executable asks for a dynamic loader (has a PT_INTERP program header): one that does not runs
/// in an empty (`FROM scratch`) container image.
fn needs_dynamic_loader(elf: &[u8]) -> bool {
    assert!(
        elf.starts_with(b"\x7fELF") && elf[4] == 2,
        "not a 64-bit ELF executable"
    );
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (entry_size, count) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).any(|i| {
        let at = phoff + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}

#[test]
fn the_static_twin_needs_no_dynamic_loader_and_the_native_one_does() {
    for &(dir, _, _) in COMMANDS {
        let path = command_dir(dir);
        let static_twin = std::fs::read(path.join("benchmark.static")).expect("benchmark.static");
        assert!(
            !needs_dynamic_loader(&static_twin),
            "{dir}/benchmark.static is dynamically linked"
        );
        let native = std::fs::read(path.join("benchmark")).expect("benchmark");
        assert!(
            needs_dynamic_loader(&native),
            "{dir}/benchmark: linked as artifacts/native is, dynamically"
        );
    }
}

/// One import of a module; `signature` is (params, results) of a function import.
#[derive(Debug)]
struct Import {
    module: String,
    name: String,
    signature: Option<(usize, usize)>,
}

/// What a module imports and exports (export names).
struct Interface {
    imports: Vec<Import>,
    exports: Vec<String>,
}

fn interface(wasm: &[u8]) -> Interface {
    use wasmparser::{CompositeInnerType, Parser, Payload, TypeRef};
    let mut func_types = Vec::new();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("a valid module") {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.expect("a type").into_types() {
                        func_types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some((f.params().len(), f.results().len())),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.expect("an import");
                    let signature = match import.ty {
                        TypeRef::Func(index) => func_types[index as usize],
                        _ => None,
                    };
                    imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        signature,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    exports.push(export.expect("an export").name.to_string());
                }
            }
            _ => {}
        }
    }
    Interface { imports, exports }
}

#[test]
fn bench_dirs_import_bench_start_and_end_and_nobench_dirs_do_not() {
    for &(dir, _, bench) in COMMANDS {
        let wasm = std::fs::read(command_dir(dir).join("benchmark.wasm")).expect("benchmark.wasm");
        let module = interface(&wasm);
        assert!(
            module.exports.iter().any(|e| e == "_start"),
            "{dir} exports no _start: {:?}",
            module.exports
        );
        let mut bench_imports: Vec<&Import> = module.imports.iter().filter(|i| i.module == "bench").collect();
        bench_imports.sort_by(|a, b| a.name.cmp(&b.name));
        if bench {
            let names: Vec<&str> = bench_imports.iter().map(|i| i.name.as_str()).collect();
            assert_eq!(names, ["end", "start"], "{dir}");
            for import in &bench_imports {
                assert_eq!(
                    import.signature,
                    Some((0, 0)),
                    "{dir}: bench.{} takes and returns nothing",
                    import.name
                );
            }
        } else {
            assert!(bench_imports.is_empty(), "{dir} imports {bench_imports:?}");
        }
        for import in &module.imports {
            assert!(
                import.module == "wasi_snapshot_preview1" || import.module == "bench",
                "{dir} imports {}.{}, which no WASI preview1 host provides",
                import.module,
                import.name
            );
        }
    }
}

/// A WASI preview1 host independent of the harness: Node's `node:wasi`, preopening the working directory as `.`
/// (as sightglass does) and providing `bench.start`/`bench.end`, whose calls it reports on stderr's last line.
const NODE_WASI_HOST: &str = r#"
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const [modulePath, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['benchmark', ...args], env: {}, preopens: { '.': '.' }, returnOnExit: true });
const calls = [];
const bench = { start() { calls.push('start'); }, end() { calls.push('end'); } };
WebAssembly.instantiate(fs.readFileSync(modulePath), { ...wasi.getImportObject(), bench }).then(({ instance }) => {
  const code = wasi.start(instance);
  process.stderr.write(`\nbench calls: ${calls.join(',')}\n`);
  process.exitCode = code;
});
"#;

struct NodeHost {
    _dir: tempfile::TempDir,
    script: PathBuf,
}

impl NodeHost {
    fn new() -> NodeHost {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // .cjs: CommonJS whatever package.json lies above the temporary directory.
        let script = dir.path().join("wasi-host.cjs");
        std::fs::write(&script, NODE_WASI_HOST).expect("writing the node host");
        NodeHost { _dir: dir, script }
    }

    /// Runs `module` with `args` in `cwd` (preopened as `.`); returns the output and the bench calls made.
    fn run(&self, cwd: &Path, module: &Path, args: &[&str], stdin: &[u8]) -> (Output, String) {
        let mut all = vec!["--no-warnings", self.script.to_str().unwrap(), module.to_str().unwrap()];
        all.extend_from_slice(args);
        let node = which_node();
        let output = run_in(cwd, &node, &all, stdin);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let calls = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("bench calls: "))
            .unwrap_or_else(|| panic!("node did not run {}: {stderr}", module.display()))
            .to_string();
        (output, calls)
    }
}

fn which_node() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("node"))
                .find(|p| p.is_file())
        })
        .expect("node is not on PATH: install Node.js 18 or newer (scripts/setup-runtimes.sh does it)")
}

#[test]
fn wasm_commands_compute_the_expected_output_under_node_wasi() {
    let host = NodeHost::new();
    for &(dir, _, bench) in COMMANDS.iter().filter(|c| c.0 != "transfer-wasi") {
        let path = command_dir(dir);
        let expected = std::fs::read(path.join("benchmark.stdout.expected")).expect("benchmark.stdout.expected");
        let (output, calls) = host.run(&path, &path.join("benchmark.wasm"), &["default.input"], b"");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{dir}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, expected, "{dir}: the module's output for default.input");
        assert_eq!(calls, if bench { "start,end" } else { "" }, "{dir}: bench calls");
    }
    // The preopened directory is all a command sees: a path out of it is refused by the WASI host.
    let path = command_dir("fibonacci");
    let (outside, calls) = host.run(&path, &path.join("benchmark.wasm"), &["../sha256/default.input"], b"");
    assert_eq!(outside.status.code(), Some(3), "{outside:?}");
    assert_eq!(calls, "", "no bench span for a command that could not read its input");
}

#[test]
fn transfer_wasi_moves_its_bytes_through_stdin_or_a_preopened_file() {
    let path = command_dir("transfer-wasi");
    let input = small_input("transfer");
    let expected = harness_workloads::run("transfer", &input).expect("the built-in transfer");
    let work = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(work.path().join("blob.input"), &input).expect("writing the input file");
    let host = NodeHost::new();
    for args in [&[][..], &["blob.input"][..]] {
        for native in NATIVE {
            let out = run_in(work.path(), &path.join(native), args, &input);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{native} {args:?}: {stderr}");
            assert!(
                out.stdout == expected,
                "{native} {args:?}: output differs from the built-in transfer"
            );
        }
        let (wasm, calls) = host.run(work.path(), &path.join("benchmark.wasm"), args, &input);
        assert_eq!(
            wasm.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&wasm.stderr)
        );
        assert!(
            wasm.stdout == expected,
            "wasm transfer-wasi {args:?}: output differs from the built-in"
        );
        assert_eq!(calls, "start,end");
    }
}
