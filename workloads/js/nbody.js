'use strict';
// Port of workloads/src/nbody.rs: the Benchmarks Game 5-body simulation, same operations in the same order, so
// the doubles are bit-identical; energies printed to 9 decimals (toFixed rounds the exact value, as Rust does).
const { inputNumber } = require('./common');

const PI = Math.PI;
const SOLAR_MASS = 4.0 * PI * PI;
const DAYS_PER_YEAR = 365.24;

function body(pos, vel, mass) {
  return {
    pos: pos.slice(),
    vel: [vel[0] * DAYS_PER_YEAR, vel[1] * DAYS_PER_YEAR, vel[2] * DAYS_PER_YEAR],
    mass: mass * SOLAR_MASS,
  };
}

function bodies() {
  return [
    body([0, 0, 0], [0, 0, 0], 1.0),
    body([4.84143144246472e0, -1.1603200440274284e0, -1.0362204447112311e-1],
      [1.660076642744037e-3, 7.699011184197404e-3, -6.90460016972063e-5], 9.547919384243266e-4),
    body([8.34336671824458e0, 4.124798564124305e0, -4.035234171143214e-1],
      [-2.767425107268624e-3, 4.998528012349172e-3, 2.3041729757376393e-5], 2.858859806661308e-4),
    body([1.2894369562139131e1, -1.5111151401698631e1, -2.2330757889265573e-1],
      [2.964601375647616e-3, 2.3784717395948095e-3, -2.9658956854023756e-5], 4.366244043351563e-5),
    body([1.5379697114850911e1, -2.5919314609987964e1, 1.7925877295037118e-1],
      [2.6806777249038932e-3, 1.628241700382423e-3, -9.515922545197159e-5], 5.1513890204661145e-5),
  ];
}

function offsetMomentum(bs) {
  const p = [0, 0, 0];
  for (const b of bs) for (let k = 0; k < 3; k++) p[k] += b.vel[k] * b.mass;
  for (let k = 0; k < 3; k++) bs[0].vel[k] = -p[k] / SOLAR_MASS;
}

function energy(bs) {
  let e = 0.0;
  for (let i = 0; i < bs.length; i++) {
    const b = bs[i];
    e += 0.5 * b.mass * (b.vel[0] * b.vel[0] + b.vel[1] * b.vel[1] + b.vel[2] * b.vel[2]);
    for (let j = i + 1; j < bs.length; j++) {
      const c = bs[j];
      const d0 = b.pos[0] - c.pos[0];
      const d1 = b.pos[1] - c.pos[1];
      const d2 = b.pos[2] - c.pos[2];
      e -= b.mass * c.mass / Math.sqrt(d0 * d0 + d1 * d1 + d2 * d2);
    }
  }
  return e;
}

function advance(bs, dt) {
  for (let i = 0; i < 5; i++) {
    for (let j = i + 1; j < 5; j++) {
      const bi = bs[i];
      const bj = bs[j];
      const d = [bi.pos[0] - bj.pos[0], bi.pos[1] - bj.pos[1], bi.pos[2] - bj.pos[2]];
      const d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      const mag = dt / (d2 * Math.sqrt(d2));
      const mi = bi.mass * mag;
      const mj = bj.mass * mag;
      for (let k = 0; k < 3; k++) {
        bi.vel[k] -= d[k] * mj;
        bj.vel[k] += d[k] * mi;
      }
    }
  }
  for (const b of bs) for (let k = 0; k < 3; k++) b.pos[k] += dt * b.vel[k];
}

exports.run = (input) => {
  const steps = inputNumber(input);
  const system = bodies();
  offsetMomentum(system);
  const before = energy(system);
  for (let s = 0; s < steps; s++) advance(system, 0.01);
  return Buffer.from(`${before.toFixed(9)}\n${energy(system).toFixed(9)}`);
};
