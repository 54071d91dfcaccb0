'use strict';
// Port of workloads/src/fuzzy.rs: Sellers' approximate search for a fixed pattern with up to 2 edits.
// Output: "count: first,positions".

const PATTERN = Buffer.from('webasembly');
const MAX_EDITS = 2;

exports.run = (input) => {
  const m = PATTERN.length;
  const column = new Int32Array(m + 1);
  for (let i = 0; i <= m; i++) column[i] = i;
  const matches = [];
  let count = 0;
  for (let pos = 0; pos < input.length; pos++) {
    const c = input[pos];
    let diagonal = column[0];
    column[0] = 0;
    for (let i = 1; i <= m; i++) {
      const substitute = diagonal + (PATTERN[i - 1] !== c ? 1 : 0);
      diagonal = column[i];
      column[i] = Math.min(substitute, column[i] + 1, column[i - 1] + 1);
    }
    if (column[m] <= MAX_EDITS) {
      count++;
      if (matches.length < 16) matches.push(pos);
    }
  }
  return Buffer.from(`${count}: ${matches.join(',')}`);
};
