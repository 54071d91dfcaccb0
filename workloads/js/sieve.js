'use strict';
// Port of workloads/src/sieve.rs: Eratosthenes up to a limit; "count largest".
const { WorkloadError, inputNumber } = require('./common');

exports.run = (input) => {
  const limit = inputNumber(input);
  if (limit > 1_000_000_000) throw new WorkloadError('limit above 1e9 would need over 1 GB');
  const composite = new Uint8Array(limit + 1);
  let count = 0;
  let largest = 0;
  for (let i = 2; i <= limit; i++) {
    if (!composite[i]) {
      count++;
      largest = i;
      for (let j = i * i; j <= limit; j += i) composite[j] = 1;
    }
  }
  return Buffer.from(`${count} ${largest}`);
};
