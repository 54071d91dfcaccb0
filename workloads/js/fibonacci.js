'use strict';
// Port of workloads/src/fibonacci.rs: naive doubly recursive fib(n), output as ASCII.
const { WorkloadError, inputNumber } = require('./common');

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

function fibBig(n) {
  return n < 2n ? n : fibBig(n - 1n) + fibBig(n - 2n);
}

exports.run = (input) => {
  const n = inputNumber(input);
  if (n > 90) throw new WorkloadError(`fib(${n}) overflows u64; use n <= 90`);
  // Doubles are exact up to fib(78) < 2^53; beyond, BigInt keeps the u64 result exact.
  return Buffer.from(String(n <= 78 ? fib(n) : fibBig(BigInt(n))));
};
