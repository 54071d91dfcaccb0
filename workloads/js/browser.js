'use strict';
// The in-page side of the browser runtimes (chromium-wasm, chromium-js): the page the harness's loopback server
// serves loads this script; the harness drives it over the browser's own protocol (the DevTools protocol on a
// pipe) with two calls:
//
//   harnessPrepare(kind, name)  'wasm': fetches /wasm/<name>.wasm and compiles it once; 'js': fetches the port
//                               /js/<name>.js (and common.js) and loads it. Resolves to a JSON string of the
//                               timer's facts (crossOriginIsolated, the smallest step of performance.now()).
//   harnessInvoke(inputBase64)  one invocation on a fresh instance (Wasm) or one call of the port's run (JS);
//                               resolves to a JSON string: status (0 ok, 1 workload error, 2 trap), output
//                               (base64) or error, and performance.now() readings (received, ready, input,
//                               executed, done) that the harness maps onto its clock.
//
// Nothing animates and nothing is fetched beyond the loopback origin.
(function () {
  // The part of node's Buffer the ports use, on Uint8Array (slices stay Buffers through Symbol.species).
  class Buffer extends Uint8Array {
    static from(value) {
      if (typeof value === 'string') return Buffer.wrap(new TextEncoder().encode(value));
      const copy = new Buffer(value.length);
      copy.set(value);
      return copy;
    }
    static wrap(bytes) {
      return new Buffer(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    static alloc(n) {
      return new Buffer(n);
    }
    static allocUnsafe(n) {
      return new Buffer(n);
    }
    static concat(list) {
      const out = new Buffer(list.reduce((n, b) => n + b.length, 0));
      let at = 0;
      for (const b of list) {
        out.set(b, at);
        at += b.length;
      }
      return out;
    }
    toString() {
      return new TextDecoder().decode(this);
    }
    view() {
      return new DataView(this.buffer, this.byteOffset, this.byteLength);
    }
    readUInt32BE(at) {
      return this.view().getUint32(at, false);
    }
    readUInt32LE(at) {
      return this.view().getUint32(at, true);
    }
    writeUInt32BE(v, at) {
      this.view().setUint32(at, v >>> 0, false);
      return at + 4;
    }
    writeUInt32LE(v, at) {
      this.view().setUint32(at, v >>> 0, true);
      return at + 4;
    }
    writeBigUInt64BE(v, at) {
      this.view().setBigUint64(at, v, false);
      return at + 8;
    }
    writeDoubleLE(v, at) {
      this.view().setFloat64(at, v, true);
      return at + 8;
    }
    copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
      const end = Math.min(sourceEnd, sourceStart + target.length - targetStart);
      const part = this.subarray(sourceStart, Math.max(end, sourceStart));
      target.set(part, targetStart);
      return part.length;
    }
    equals(other) {
      return this.length === other.length && this.every((b, i) => b === other[i]);
    }
  }

  function toBase64(bytes) {
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }

  function fromBase64(text) {
    const raw = atob(text);
    const out = new Buffer(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  // A CommonJS module from its source: the ports `require('./common')` and use Buffer.
  function commonJs(source, modules) {
    const module = { exports: {} };
    const require = (name) => {
      const found = modules[name.replace(/^\.\//, '').replace(/\.js$/, '')];
      if (!found) throw new Error(`the page has no module ${name}`);
      return found;
    };
    new Function('require', 'exports', 'module', 'Buffer', source)(require, module.exports, module, Buffer);
    return module.exports;
  }

  async function fetchOk(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response;
  }

  // The smallest step performance.now() takes here: 5 us cross-origin isolated in Chromium, 100 us otherwise.
  function timerStep() {
    let smallest = Infinity;
    let last = performance.now();
    for (let i = 0, steps = 0; i < 1e6 && steps < 50; i++) {
      const t = performance.now();
      if (t !== last) {
        smallest = Math.min(smallest, t - last);
        last = t;
        steps++;
      }
    }
    return smallest;
  }

  // WASI preview1 as the built-in modules import it: no environment, stdout and stderr dropped, exit as a trap.
  function wasiImports(memory) {
    return {
      environ_get: () => 0,
      environ_sizes_get: (countPtr, sizePtr) => {
        const view = new DataView(memory().buffer);
        view.setUint32(countPtr, 0, true);
        view.setUint32(sizePtr, 0, true);
        return 0;
      },
      fd_write: (fd, iovs, count, writtenPtr) => {
        const view = new DataView(memory().buffer);
        let written = 0;
        for (let i = 0; i < count; i++) written += view.getUint32(iovs + i * 8 + 4, true);
        view.setUint32(writtenPtr, written, true);
        return 0;
      },
      proc_exit: (code) => {
        throw new Error(`proc_exit(${code})`);
      },
    };
  }

  let invoke = null;

  window.harnessPrepare = async (kind, name) => {
    if (kind === 'wasm') {
      const module = await WebAssembly.compile(await (await fetchOk(`/wasm/${name}.wasm`)).arrayBuffer());
      invoke = (input, t) => {
        let exports = null;
        const instance = new WebAssembly.Instance(module, {
          wasi_snapshot_preview1: wasiImports(() => exports.memory),
        });
        exports = instance.exports;
        t.ready = performance.now();
        const ptr = exports.harness_alloc(input.length) >>> 0;
        new Uint8Array(exports.memory.buffer, ptr, input.length).set(input);
        t.input = performance.now();
        let status;
        try {
          status = exports.harness_run(input.length);
        } catch (e) {
          return { status: 2, error: `wasm trap: ${e.message}` };
        }
        t.executed = performance.now();
        const out = new Uint8Array(exports.memory.buffer, exports.harness_output_ptr() >>> 0, exports.harness_output_len() >>> 0);
        if (status !== 0) return { status: 1, error: new TextDecoder().decode(out) };
        return { status: 0, output: toBase64(out) };
      };
    } else if (kind === 'js') {
      const modules = {};
      modules.common = commonJs(await (await fetchOk('/js/common.js')).text(), modules);
      const port = commonJs(await (await fetchOk(`/js/${name}.js`)).text(), modules);
      invoke = (input, t) => {
        t.ready = t.received;
        t.input = t.received;
        let out;
        try {
          out = port.run(input);
        } catch (e) {
          const workload = e.constructor && e.constructor.name === 'WorkloadError';
          return { status: workload ? 1 : 2, error: workload ? e.message : `${e.name}: ${e.message}` };
        }
        t.executed = performance.now();
        return { status: 0, output: toBase64(out) };
      };
    } else {
      throw new Error(`unknown kind ${kind}`);
    }
    return JSON.stringify({ isolated: window.crossOriginIsolated === true, step_ms: timerStep() });
  };

  window.harnessInvoke = (inputBase64) => {
    const input = fromBase64(inputBase64);
    const t = { received: performance.now() };
    const result = invoke(input, t);
    t.done = performance.now();
    result.t = t;
    return JSON.stringify(result);
  };

  // The harness's clock handshake: one reading of the page's clock.
  window.harnessNow = () => performance.now();
})();
