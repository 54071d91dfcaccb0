'use strict';
// Port of workloads/src/transfer.rs: the blob back with every byte incremented (wrapping).
exports.run = (input) => {
  const out = Buffer.allocUnsafe(input.length);
  for (let i = 0; i < input.length; i++) out[i] = (input[i] + 1) & 0xff;
  return out;
};
