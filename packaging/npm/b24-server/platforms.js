"use strict";
// The per-platform packages holding the binary (the esbuild and Biome pattern): one package per
// platform, all listed as optionalDependencies, npm installs the one whose os/cpu/libc match.
// The release workflow builds each; `stage-platform.js` writes its package.json from this table.

/** @type {ReadonlyArray<{name: string, os: string, cpu: string, libc?: string, target: string, exe: string}>} */
const PLATFORMS = [
  { name: "@b24-server/linux-x64", os: "linux", cpu: "x64", libc: "glibc", target: "x86_64-unknown-linux-gnu", exe: "b24-server" },
  { name: "@b24-server/linux-arm64", os: "linux", cpu: "arm64", libc: "glibc", target: "aarch64-unknown-linux-gnu", exe: "b24-server" },
  { name: "@b24-server/linux-x64-musl", os: "linux", cpu: "x64", libc: "musl", target: "x86_64-unknown-linux-musl", exe: "b24-server" },
  { name: "@b24-server/linux-arm64-musl", os: "linux", cpu: "arm64", libc: "musl", target: "aarch64-unknown-linux-musl", exe: "b24-server" },
  { name: "@b24-server/darwin-x64", os: "darwin", cpu: "x64", target: "x86_64-apple-darwin", exe: "b24-server" },
  { name: "@b24-server/darwin-arm64", os: "darwin", cpu: "arm64", target: "aarch64-apple-darwin", exe: "b24-server" },
  { name: "@b24-server/win32-x64", os: "win32", cpu: "x64", target: "x86_64-pc-windows-msvc", exe: "b24-server.exe" },
];

/** Whether this Linux runs on musl (Alpine) rather than glibc, as Biome tells them apart. */
function isMusl() {
  if (process.platform !== "linux") return false;
  const report = typeof process.report?.getReport === "function" ? process.report.getReport() : null;
  const header = report && (typeof report === "string" ? JSON.parse(report) : report).header;
  return !(header && header.glibcVersionRuntime);
}

/** The platform package for this machine, or undefined when none is built for it. */
function currentPlatform() {
  const libc = process.platform === "linux" ? (isMusl() ? "musl" : "glibc") : undefined;
  return PLATFORMS.find(
    (p) => p.os === process.platform && p.cpu === process.arch && p.libc === libc,
  );
}

module.exports = { PLATFORMS, currentPlatform };
