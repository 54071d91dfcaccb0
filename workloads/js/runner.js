'use strict';
// The node side of the `node-js` and `node-wasm` runtimes: serves invocations framed as in
// harness/src/runtime/served.rs, on stdin and stdout.
//
//   node runner.js js   <port.js>       [--once]   a JavaScript port (exports run(Buffer) -> Buffer)
//   node runner.js wasm <module.wasm>   [--once]   the workload's wasm32-wasip1 module, with node:wasi
//   node runner.js command <module.wasm> <dir> <args JSON> [--once]
//                                                  a WASI command (`_start`): the request is its stdin, <dir> is
//                                                  preopened as `.`; bench.start/bench.end are stamped
//
// Request: u32 length + input. Response: u32 status (0 ok, 1 workload error, 2 trap, 3 output over the cap), u32 length, then six u64
// readings of process.hrtime.bigint() (CLOCK_MONOTONIC on Linux, the harness's clock): main, loaded, received,
// ready, input, executed; then the output (or the error text). All little-endian. `--once` serves one request
// (a cold invocation); otherwise the loop ends at EOF.
const mainNs = process.hrtime.bigint();
const fs = require('node:fs');

const [kind, file, ...rest] = process.argv.slice(2);
const flags = rest.filter((a) => a.startsWith('--'));
const operands = rest.filter((a) => !a.startsWith('--'));
const once = flags.includes('--once');
// A command's output cap (stdout and stderr together, harness/src/runtime/wasi/output.rs), given by the harness
// for command workloads: output past it is status 3 with no payload, never read into memory.
const capFlag = flags.find((a) => a.startsWith('--output-cap='));
const outputCap = capFlag ? Number(capFlag.slice('--output-cap='.length)) : Infinity;
const OVER_CAP = 3;

class Trap extends Error {}
class OverCap extends Error {}

function loadJs(path) {
  const port = require(path);
  return (input, stamps) => {
    stamps.ready = stamps.received;
    stamps.input = stamps.received;
    const out = port.run(input);
    stamps.executed = process.hrtime.bigint();
    if (out && out.length > outputCap) throw new OverCap('output over the cap');
    return out;
  };
}

function loadWasm(path) {
  const { WASI } = require('node:wasi');
  const module = new WebAssembly.Module(fs.readFileSync(path));
  return (input, stamps) => {
    // A fresh instance per request, as the wasmtime and wasmi hosts do.
    const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
    const instance = new WebAssembly.Instance(module, wasi.getImportObject());
    wasi.initialize(instance);
    stamps.ready = process.hrtime.bigint();
    const ex = instance.exports;
    const ptr = ex.harness_alloc(input.length) >>> 0;
    new Uint8Array(ex.memory.buffer, ptr, input.length).set(input);
    stamps.input = process.hrtime.bigint();
    let status;
    try {
      status = ex.harness_run(input.length);
    } catch (e) {
      throw new Trap(`wasm trap: ${e.message}`);
    }
    stamps.executed = process.hrtime.bigint();
    const out = Buffer.from(new Uint8Array(ex.memory.buffer, ex.harness_output_ptr() >>> 0, ex.harness_output_len() >>> 0));
    if (status !== 0) {
      const err = new Error(out.toString('utf8'));
      err.workloadError = true;
      throw err;
    }
    return out;
  };
}

// A command's response payload: u32 exit code, u64 called, u64 returned, u64 bench.start, u64 bench.end (0: not
// called), u32 stdout length, stdout, then stderr. A trap is status 2 with its message, as for modules.
function loadCommand(path, dir, argsJson) {
  const { WASI } = require('node:wasi');
  const os = require('node:os');
  const paths = require('node:path');
  const module = new WebAssembly.Module(fs.readFileSync(path));
  const args = [paths.basename(path), ...JSON.parse(argsJson || '[]')];
  // node:wasi takes stdio as file descriptors: the request goes through a file, and so does the output. Each
  // file is unlinked as soon as it is open, so nothing is left behind, even when the process is killed.
  let serial = 0;
  const scratch = () => {
    const file = paths.join(os.tmpdir(), `harness-command-${process.pid}-${serial++}`);
    const fd = fs.openSync(file, 'w+');
    fs.unlinkSync(file);
    return fd;
  };
  const readBack = (fd) => {
    const out = Buffer.alloc(fs.fstatSync(fd).size);
    let got = 0;
    while (got < out.length) got += fs.readSync(fd, out, got, out.length - got, got);
    return out;
  };
  return (input, stamps) => {
    const fds = [scratch(), scratch(), scratch()];
    // Written at offset 0 without moving the descriptor's offset, which the guest then reads from.
    let put = 0;
    while (put < input.length) put += fs.writeSync(fds[0], input, put, input.length - put, put);
    const bench = { start: 0n, end: 0n };
    try {
      const wasi = new WASI({
        version: 'preview1', args, env: {}, preopens: { '.': dir },
        stdin: fds[0], stdout: fds[1], stderr: fds[2], returnOnExit: true,
      });
      const imports = wasi.getImportObject();
      imports.bench = {
        start() { bench.start = process.hrtime.bigint(); },
        end() { bench.end = process.hrtime.bigint(); },
      };
      const instance = new WebAssembly.Instance(module, imports);
      const called = process.hrtime.bigint();
      stamps.ready = called;
      stamps.input = called;
      let code;
      try {
        code = wasi.start(instance);
      } catch (e) {
        throw new Trap(`wasm trap: ${e.message}`);
      }
      const returned = process.hrtime.bigint();
      stamps.executed = returned;
      if (fs.fstatSync(fds[1]).size + fs.fstatSync(fds[2]).size > outputCap) throw new OverCap('output over the cap');
      const out = readBack(fds[1]);
      const err = readBack(fds[2]);
      const head = Buffer.alloc(40);
      head.writeInt32LE(code ?? 0, 0);
      [called, returned, bench.start, bench.end].forEach((t, i) => head.writeBigUInt64LE(t, 4 + i * 8));
      head.writeUInt32LE(out.length, 36);
      return Buffer.concat([head, out, err]);
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  };
}

function readExact(len) {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    let n;
    try {
      n = fs.readSync(0, buf, got, len - got, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      if (e.code === 'EOF') return null;
      throw e;
    }
    if (n === 0) return null;
    got += n;
  }
  return buf;
}

function writeAll(buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

let handler;
if (kind === 'js') handler = loadJs(file);
else if (kind === 'wasm') handler = loadWasm(file);
else if (kind === 'command') handler = loadCommand(file, operands[0], operands[1]);
else {
  process.stderr.write(`usage: node runner.js js|wasm <file> [--once], or command <file> <dir> <args JSON> [--once]; got ${kind}\n`);
  process.exit(64);
}
const loadedNs = process.hrtime.bigint();

for (;;) {
  const header = readExact(4);
  if (header === null) break;
  const input = readExact(header.readUInt32LE(0));
  if (input === null) break;
  const stamps = { received: process.hrtime.bigint() };
  let status = 0;
  let payload;
  try {
    payload = Buffer.from(handler(input, stamps));
  } catch (e) {
    const workloadError = e.workloadError || (e.constructor && e.constructor.name === 'WorkloadError');
    status = e instanceof OverCap ? OVER_CAP : workloadError ? 1 : 2;
    payload = Buffer.from(workloadError ? e.message : `${e.name}: ${e.message}`);
  }
  const now = process.hrtime.bigint();
  const frame = Buffer.alloc(56 + payload.length);
  frame.writeUInt32LE(status, 0);
  frame.writeUInt32LE(payload.length, 4);
  const readings = [mainNs, loadedNs, stamps.received, stamps.ready ?? now, stamps.input ?? now, stamps.executed ?? now];
  readings.forEach((t, i) => frame.writeBigUInt64LE(t, 8 + i * 8));
  payload.copy(frame, 56);
  writeAll(frame);
  if (once) break;
}
