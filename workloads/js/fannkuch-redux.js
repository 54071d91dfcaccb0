'use strict';
// Port of workloads/src/fannkuch.rs: the Benchmarks Game's fannkuch-redux, sequential, the same permutation
// order, output "<checksum>\nPfannkuchen(<n>) = <max flips>\n".
const { WorkloadError, inputNumber } = require('./common');

function fannkuch(n) {
  const perm1 = new Int32Array(n);
  for (let i = 0; i < n; i++) perm1[i] = i;
  const perm = new Int32Array(n);
  const count = new Int32Array(n);
  let checksum = 0;
  let maxFlips = 0;
  let permutation = 0;
  let r = n;
  for (;;) {
    while (r > 1) {
      count[r - 1] = r;
      r--;
    }
    perm.set(perm1);
    let flips = 0;
    let k = perm[0];
    while (k !== 0) {
      for (let i = 0, j = k; i < j; i++, j--) {
        const t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
      }
      flips++;
      k = perm[0];
    }
    if (flips > maxFlips) maxFlips = flips;
    checksum += permutation % 2 === 0 ? flips : -flips;
    for (;;) {
      if (r === n) return [checksum, maxFlips];
      const first = perm1[0];
      for (let i = 0; i < r; i++) perm1[i] = perm1[i + 1];
      perm1[r] = first;
      count[r]--;
      if (count[r] > 0) break;
      r++;
    }
    permutation++;
  }
}

exports.run = (input) => {
  const n = inputNumber(input);
  if (n < 1 || n > 12) {
    throw new WorkloadError(`fannkuch-redux(${n}): n must be 1 to 12 (12! permutations at most)`);
  }
  const [checksum, maxFlips] = fannkuch(n);
  return Buffer.from(`${checksum}\nPfannkuchen(${n}) = ${maxFlips}\n`);
};
