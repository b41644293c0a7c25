"use strict";
// The jest `globalTeardown` that stops the server `b24-server/jest/setup` started.
module.exports = async function globalTeardown() {
  await globalThis.__B24_SERVER__?.stop();
  globalThis.__B24_SERVER__ = undefined;
};
