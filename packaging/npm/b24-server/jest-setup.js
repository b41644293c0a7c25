"use strict";
// A jest `globalSetup` (with `b24-server/jest/teardown` as `globalTeardown`): one b24-server for
// the run. Tests reach it with `connectServer()` (from the variables set here, as `b24-server
// exec` sets them: B24_URL, B24_ADMIN_TOKEN, B24_WEBHOOK, B24_HTTPS_WEBHOOK, NODE_EXTRA_CA_CERTS).
const { startServer, environmentOf } = require("./index.js");

module.exports = async function globalSetup() {
  const server = await startServer({ plan: process.env.B24_PLAN || "unlimited" });
  Object.assign(process.env, environmentOf(server.info));
  globalThis.__B24_SERVER__ = server;
};
