'use strict';
// Port of workloads/src/mandelbrot.rs: the Benchmarks Game PBM bitmap, 50 iterations, escape radius 2.
const { WorkloadError, inputNumber } = require('./common');

exports.run = (input) => {
  const n = inputNumber(input);
  if (n === 0 || n > 16000) throw new WorkloadError('side must be between 1 and 16000');
  const header = Buffer.from(`P4\n${n} ${n}\n`);
  const rowBytes = Math.ceil(n / 8);
  const out = Buffer.alloc(header.length + rowBytes * n);
  header.copy(out, 0);
  for (let y = 0; y < n; y++) {
    const ci = (2.0 * y) / n - 1.0;
    const row = header.length + y * rowBytes;
    for (let x = 0; x < n; x++) {
      const cr = (2.0 * x) / n - 1.5;
      let zr = 0.0;
      let zi = 0.0;
      let inside = true;
      for (let i = 0; i < 50; i++) {
        const tr = zr * zr - zi * zi + cr;
        const ti = 2.0 * zr * zi + ci;
        zr = tr;
        zi = ti;
        if (zr * zr + zi * zi > 4.0) {
          inside = false;
          break;
        }
      }
      if (inside) out[row + (x >> 3)] |= 0x80 >> (x % 8);
    }
  }
  return out;
};
