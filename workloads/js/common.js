'use strict';
// Shared by the JavaScript ports: the same input parsing as workloads/src/lib.rs `input_number`.

class WorkloadError extends Error {}

function inputNumber(input) {
  const text = input.toString('utf8').trim();
  if (!/^\d+$/.test(text)) {
    throw new WorkloadError(`expected a decimal number as input, got ${input.length} bytes`);
  }
  return Number(text);
}

module.exports = { WorkloadError, inputNumber };
