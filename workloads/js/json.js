'use strict';
// Port of workloads/src/json.rs: n records serialized as serde_json writes them (floats always carry a
// fraction: 0.0, not 0), parsed back and compared. Output: the JSON text.
const { WorkloadError, inputNumber } = require('./common');

const RUNTIMES = ['native', 'wasmtime', 'wasmi', 'container', 'node'];

// serde_json prints f64 with ryu (shortest round trip), like JavaScript, but keeps ".0" on whole numbers.
function float(x) {
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

function serialize(records) {
  const parts = records.map((r) =>
    `{"id":${r.id},"device":${JSON.stringify(r.device)},"runtime":${JSON.stringify(r.runtime)},` +
    `"latency_us":${float(r.latency_us)},"joules":${float(r.joules)},"ok":${r.ok},` +
    `"tags":[${r.tags.map((t) => JSON.stringify(t)).join(',')}]}`);
  return `[${parts.join(',')}]`;
}

function same(a, b) {
  return a.id === b.id && a.device === b.device && a.runtime === b.runtime && a.latency_us === b.latency_us &&
    a.joules === b.joules && a.ok === b.ok && a.tags.length === b.tags.length &&
    a.tags.every((t, i) => t === b.tags[i]);
}

exports.run = (input) => {
  const n = inputNumber(input);
  const records = [];
  for (let i = 0; i < n; i++) {
    records.push({
      id: i,
      device: `device-${i % 17}`,
      runtime: RUNTIMES[i % 5],
      latency_us: (i % 1000) * 0.25,
      joules: (i % 333) / 64.0,
      ok: i % 7 !== 0,
      tags: [`batch-${Math.floor(i / 100)}`, 'study'],
    });
  }
  const text = serialize(records);
  const parsed = JSON.parse(text);
  if (parsed.length !== records.length || !parsed.every((r, i) => same(r, records[i]))) {
    throw new WorkloadError('parsed records differ from the serialized ones');
  }
  return Buffer.from(text);
};
