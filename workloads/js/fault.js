'use strict';
// Port of workloads/src/fault.rs (test-only): `trap` throws (a trap), `loop` never returns.
const { WorkloadError } = require('./common');

exports.run = (input) => {
  const text = input.toString('utf8');
  if (text === 'trap') throw new Error('fault workload asked to trap');
  if (text === 'loop') {
    let spins = 0;
    for (;;) spins = (spins + 1) | 0;
  }
  throw new WorkloadError(`fault expects \`trap\` or \`loop\`, got ${JSON.stringify(text)}`);
};
