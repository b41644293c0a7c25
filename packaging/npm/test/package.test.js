// Tests of the installed npm packages: the platform package's binary, startServer(), the controls,
// the errors, and the jest setup. packaging/ci.sh runs them with the example suite, in a fresh
// folder where the two tarballs were installed offline.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { createRequire } from "node:module";
import {
  AdminError,
  BinaryNotFoundError,
  PortalsUnavailableError,
  ServerExitedError,
  connectServer,
  findBinary,
  startServer,
} from "b24-server";
import { afterAll, beforeAll, expect, inject, test } from "vitest";

const require = createRequire(import.meta.url);

const rest = async (webhook, method, params = {}) => {
  const response = await fetch(webhook + method, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(params),
  });
  return { status: response.status, body: await response.json() };
};

let server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.stop());

test("the binary comes from the platform package, found with require.resolve", () => {
  const saved = process.env.B24_SERVER_BINARY;
  delete process.env.B24_SERVER_BINARY;
  try {
    const binary = findBinary();
    expect(binary).toBe(require.resolve("@b24-server/linux-x64/bin/b24-server"));
    expect(execFileSync(binary, ["--version"], { encoding: "utf8" })).toMatch(/^b24-server /);
    const shim = path.join(path.dirname(require.resolve("b24-server/package.json")), "bin/b24-server.js");
    expect(execFileSync(process.execPath, [shim, "--version"], { encoding: "utf8" })).toMatch(/^b24-server /);
  } finally {
    if (saved !== undefined) process.env.B24_SERVER_BINARY = saved;
  }
});

test("a started server is ready with both webhooks and the CA", async () => {
  expect((await server.health()).status).toBe("ok");
  expect(server.webhookUrl.startsWith(`${server.url}/rest/1/`)).toBe(true);
  expect(server.httpsWebhookUrl.startsWith(`https://${server.domain}/rest/1/`)).toBe(true);
  expect(fs.existsSync(server.caPath)).toBe(true);
  expect((await rest(server.webhookUrl, "server.time")).status).toBe(200);
});

test("the controls fail a call, move the clock and show the journal", async () => {
  await server.reset();
  const rule = await server.fault("QUERY_LIMIT_EXCEEDED", { method: "crm.item.list", after: 1, times: 1 });
  expect(rule.action).toEqual({ error: "QUERY_LIMIT_EXCEEDED" });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await rest(server.webhookUrl, "crm.item.list", { entityTypeId: 2 })).status);
  expect(statuses).toEqual([200, 503, 200]);
  const refused = await server.journal({ method: "crm.item.*", error: "QUERY_LIMIT_EXCEEDED" });
  expect(refused.map((e) => e.http)).toEqual([503]);
  expect((await server.clock.advance(3601)).offset_s).toBeGreaterThanOrEqual(3601);
  await server.reset();
  expect((await server.clock.now()).offset_s).toBeLessThan(1);
  expect(await server.journal()).toEqual([]);
});

test("a control error names the route and the reason", async () => {
  const refused = await server.fault("NOT_A_CODE").catch((e) => e);
  expect(refused).toBeInstanceOf(AdminError);
  expect(refused.status).toBe(400);
  expect(refused.message).toContain("POST /_b24/faults answered 400");
});

test("a fresh portal starts empty every time", async () => {
  for (let round = 0; round < 2; round++) {
    const portal = await server.freshPortal();
    const added = await rest(portal.webhookUrl, "crm.item.add", { entityTypeId: 2, fields: { title: "Deal" } });
    expect(added.body.result.item.id).toBe(1);
    await portal.release();
  }
});

test("newPortal gives a portal of its own, or says to reset", async () => {
  let portal;
  try {
    portal = await server.newPortal();
  } catch (unavailable) {
    expect(unavailable).toBeInstanceOf(PortalsUnavailableError);
    expect(unavailable.message).toContain("use reset() between tests instead");
    return;
  }
  expect(portal.webhookUrl.endsWith("/")).toBe(true);
  await portal.fault("QUERY_LIMIT_EXCEEDED", { method: "server.time" });
  expect((await rest(portal.webhookUrl, "server.time")).status).toBe(503);
  expect((await rest(server.webhookUrl, "server.time")).status).toBe(200);
  await portal.delete();
});

test("the global setup's server is reachable from the tests", async () => {
  const shared = connectServer(inject("b24"));
  expect((await shared.health()).status).toBe("ok");
  expect(process.env.NODE_EXTRA_CA_CERTS).toBe(inject("b24").caPath);
});

test("a missing binary says how to get one", async () => {
  const saved = process.env.B24_SERVER_BINARY;
  process.env.B24_SERVER_BINARY = "/nonexistent/b24-server";
  try {
    expect(() => findBinary()).toThrow(BinaryNotFoundError);
    expect(() => findBinary()).toThrow("B24_SERVER_BINARY=/nonexistent/b24-server is not a file");
  } finally {
    if (saved === undefined) delete process.env.B24_SERVER_BINARY;
    else process.env.B24_SERVER_BINARY = saved;
  }
});

test("a port in use is named with what to do", async () => {
  const taken = net.createServer();
  await new Promise((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const { port } = taken.address();
  try {
    const exited = await startServer({ listen: `127.0.0.1:${port}` }).catch((e) => e);
    expect(exited).toBeInstanceOf(ServerExitedError);
    expect(exited.message).toContain("A port it was told to listen on is in use");
    expect(exited.logTail).toContain(`127.0.0.1:${port}`);
  } finally {
    taken.close();
  }
});

test("a server that exits shows its last log lines", async () => {
  const exited = await startServer({ args: ["--no-such-option"] }).catch((e) => e);
  expect(exited).toBeInstanceOf(ServerExitedError);
  expect(exited.message).toContain("unexpected argument '--no-such-option'");
});

test("the jest setup starts a server the tests reach from the environment, the teardown stops it", async () => {
  const saved = { ...process.env };
  const setup = require("b24-server/jest/setup");
  const teardown = require("b24-server/jest/teardown");
  try {
    await setup();
    const shared = connectServer();
    expect((await shared.health()).status).toBe("ok");
    expect((await rest(process.env.B24_WEBHOOK, "server.time")).status).toBe(200);
    await teardown();
    const gone = await shared.health().catch((e) => e);
    expect(gone).toBeInstanceOf(AdminError);
    expect(gone.error).toBe("UNREACHABLE");
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
});
