'use strict';
// Port of workloads/src/matmul.rs: n x n f64 product (i-k-j), output the little-endian bytes of the row sums.
const { WorkloadError, inputNumber } = require('./common');

exports.run = (input) => {
  const n = inputNumber(input);
  if (n === 0 || n > 4096) throw new WorkloadError('side must be between 1 and 4096');
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) {
    a[i] = ((i * 7 + 3) % 101) / 101.0;
    b[i] = ((i * 13 + 5) % 103) / 103.0;
  }
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  const out = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) {
    // Rust's f64 `sum` folds left from -0.0.
    let sum = -0.0;
    for (let j = 0; j < n; j++) sum += c[i * n + j];
    out.writeDoubleLE(sum, i * 8);
  }
  return out;
};
