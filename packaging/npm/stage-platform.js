#!/usr/bin/env node
"use strict";
// Lays out one platform package (@b24-server/<platform>) around a built binary, ready for
// `npm pack` or `npm publish`:
//
//   node packaging/npm/stage-platform.js linux-x64 target/release/b24-server OUT_DIR
//
// Its package.json comes from the table in b24-server/platforms.js and the main package's version,
// so the optionalDependencies and the platform packages cannot drift apart.
const fs = require("node:fs");
const path = require("node:path");
const { PLATFORMS } = require("./b24-server/platforms.js");
const main = require("./b24-server/package.json");

const [short, binary, out] = process.argv.slice(2);
const platform = PLATFORMS.find((p) => p.name === `@b24-server/${short}`);
if (!platform || !binary || !out) {
  console.error(`usage: stage-platform.js PLATFORM BINARY OUT_DIR; platforms: ${PLATFORMS.map((p) => p.name.split("/")[1]).join(", ")}`);
  process.exit(2);
}
if (main.optionalDependencies[platform.name] !== main.version) {
  console.error(`${platform.name} must be an optionalDependency of b24-server at ${main.version}`);
  process.exit(1);
}
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, "bin"), { recursive: true });
fs.copyFileSync(binary, path.join(out, "bin", platform.exe));
fs.chmodSync(path.join(out, "bin", platform.exe), 0o755);
const manifest = {
  name: platform.name,
  version: main.version,
  description: `The b24-server binary for ${short} (installed by the b24-server package)`,
  license: main.license,
  os: [platform.os],
  cpu: [platform.cpu],
  ...(platform.libc ? { libc: [platform.libc] } : {}),
  files: [`bin/${platform.exe}`],
  preferUnplugged: true,
};
fs.writeFileSync(path.join(out, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
fs.writeFileSync(
  path.join(out, "README.md"),
  `# ${platform.name}\n\nThe \`b24-server\` binary for ${short} (${platform.target}). Install \`b24-server\` instead: it depends on this package on this platform.\n`,
);
console.log(out);
