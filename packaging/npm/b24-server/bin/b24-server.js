#!/usr/bin/env node
"use strict";
// `npx b24-server …`: runs the platform package's binary with the same arguments and exit status.
const { spawnSync } = require("node:child_process");
const { findBinary } = require("../index.js");

let binary;
try {
  binary = findBinary();
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  console.error(`could not run ${binary}: ${result.error.message}`);
  process.exit(1);
}
process.exitCode = result.status ?? 1;
if (result.signal) process.kill(process.pid, result.signal);
