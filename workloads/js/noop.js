'use strict';
// Port of workloads/src/noop.rs: nothing, pure runtime overhead.
exports.run = () => Buffer.alloc(0);
