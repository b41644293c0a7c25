"use strict";
// A vitest `globalSetup`: one b24-server for the whole run, stopped when it ends.
//
//   // vitest.config.js
//   export default { test: { globalSetup: ["b24-server/vitest"] } };
//
//   // a test
//   import { inject } from "vitest";
//   import { connectServer } from "b24-server";
//   const server = connectServer(inject("b24"));
//
// It also sets the variables `b24-server exec` sets (B24_WEBHOOK, B24_HTTPS_WEBHOOK, B24_URL,
// B24_ADMIN_TOKEN, NODE_EXTRA_CA_CERTS, …) before vitest starts its workers: Node reads
// NODE_EXTRA_CA_CERTS only at process start, which the default `forks` pool satisfies.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, environmentOf } = require("./index.js");

async function setup(project) {
  const server = await startServer({ plan: process.env.B24_PLAN || "unlimited" });
  const info = server.info;
  if (info.caPath) {
    // vitest's pool may start a worker after the teardown, with the environment it was created
    // with: a copy of the CA outlives the server, so that worker finds NODE_EXTRA_CA_CERTS.
    const copy = path.join(os.tmpdir(), `b24-server-ca-${process.pid}.pem`);
    fs.copyFileSync(info.caPath, copy);
    process.once("exit", () => fs.rmSync(copy, { force: true }));
    info.caPath = copy;
  }
  Object.assign(process.env, environmentOf(info));
  project.provide("b24", info);
  return () => server.stop();
}

module.exports = setup;
module.exports.setup = setup;
