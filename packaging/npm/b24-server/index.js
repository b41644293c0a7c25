"use strict";
// b24-server for JavaScript tests: start a Bitrix24 test double, reset it, make calls fail, move
// its clock, read what your code sent. Node's standard library only.

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { PLATFORMS, currentPlatform } = require("./platforms.js");

/** Set this to a binary's path to use it instead of the platform package's. */
const BINARY_ENV = "B24_SERVER_BINARY";
/** Header that picks the portal an admin call acts on. */
const PORTAL_HEADER = "X-B24-Portal";
/** Variables a started server must not inherit: it always makes an ephemeral SQLite portal. */
const SCRUBBED_ENV = ["B24_DATA_DIR", "B24_DATABASE_URL", "B24_NO_ADMIN", "B24_LISTEN", "B24_TLS_LISTEN"];

class B24ServerError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}
/** No binary for this platform (or B24_SERVER_BINARY points nowhere). */
class BinaryNotFoundError extends B24ServerError {}
/** The server ended before it was ready; `logTail` holds its last log lines. */
class ServerExitedError extends B24ServerError {
  constructor(message, logTail) {
    super(message);
    this.logTail = logTail;
  }
}
/** The server did not write its ready file in time. */
class ServerNotReadyError extends B24ServerError {}
/** A control of the admin API (/_b24/…) answered with an error. */
class AdminError extends B24ServerError {
  constructor(status, error, description, route) {
    super(`${route} answered ${status} ${error}: ${description}`);
    this.status = status;
    this.error = error;
    this.description = description;
    this.route = route;
  }
}
/** The server has no portals route (POST /_b24/portals): it holds one portal only. */
class PortalsUnavailableError extends AdminError {
  constructor(status, error, description, route) {
    super(status, error, description, route);
    this.message = `${route} answered ${status}: this b24-server holds one portal only; use reset() between tests instead, or upgrade b24-server for a portal per test`;
  }
}

/**
 * The path of the b24-server binary: $B24_SERVER_BINARY, else the one in this platform's package
 * (@b24-server/<os>-<cpu>, found with require.resolve).
 */
function findBinary() {
  const override = process.env[BINARY_ENV];
  if (override) {
    if (fs.existsSync(override)) return override;
    throw new BinaryNotFoundError(
      `${BINARY_ENV}=${override} is not a file: point it at a b24-server binary, or unset it to use the one installed with the package`,
    );
  }
  const platform = currentPlatform();
  if (!platform) {
    throw new BinaryNotFoundError(
      `b24-server has no binary for ${process.platform}-${process.arch} (built for: ${PLATFORMS.map((p) => p.name.split("/")[1]).join(", ")}); build one with \`cargo install b24-server\` and set ${BINARY_ENV} to its path`,
    );
  }
  try {
    return require.resolve(`${platform.name}/bin/${platform.exe}`);
  } catch {
    throw new BinaryNotFoundError(
      `the package ${platform.name}, which holds the b24-server binary for this platform, is not installed: npm skips optional dependencies with --no-optional or --omit=optional, and when node_modules was copied from another platform. Reinstall (npm install --save-dev b24-server), or set ${BINARY_ENV} to a binary`,
    );
  }
}

/** Calls to the admin API of one server, optionally for one portal. */
function adminCaller(url, adminToken) {
  const adminUrl = `${url}/_b24`;
  return async function admin(method, route, { body, query, portal, signal } = {}) {
    let target = adminUrl + route;
    const pairs = Object.entries(query ?? {}).filter(([, v]) => v !== undefined && v !== null);
    if (pairs.length) target += `?${new URLSearchParams(pairs.map(([k, v]) => [k, String(v)]))}`;
    const headers = { Authorization: `Bearer ${adminToken}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (portal) headers[PORTAL_HEADER] = portal;
    const where = `${method} /_b24${route}`;
    let response;
    try {
      response = await fetch(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (failure) {
      throw new AdminError(0, "UNREACHABLE", `${failure.cause?.message ?? failure.message}; is the server at ${url} running?`, where);
    }
    const text = await response.text();
    if (!response.ok) {
      let error = "HTTP_ERROR";
      let description = text.slice(0, 500);
      try {
        const shown = JSON.parse(text);
        error = shown.error ?? error;
        description = shown.error_description ?? description;
      } catch {}
      throw new AdminError(response.status, error, description, where);
    }
    return text ? JSON.parse(text) : null;
  };
}

/** The test-double controls of one portal (`portal` undefined: the server's default portal). */
function controls(admin, portal) {
  const call = (method, route, options = {}) => admin(method, route, { ...options, portal });
  return {
    portal,
    /** Deletes CRM data, ids, journal, faults, captured events and the clock offset. */
    reset: (keep) => call("POST", "/reset", { body: keep === undefined ? {} : { keep } }),
    /**
     * Makes the next matching calls fail: `fault("QUERY_LIMIT_EXCEEDED", { method:
     * "crm.item.list", after: 2, times: 1 })`, or another action: `fault({ delay_ms: 500 })`.
     */
    fault(errorOrAction, { method, via, after, times, probability, seed } = {}) {
      const action = typeof errorOrAction === "string" ? { error: errorOrAction } : errorOrAction;
      if (!action || typeof action !== "object") {
        throw new TypeError('fault() takes an error code ("QUERY_LIMIT_EXCEEDED") or an action ({ delay_ms: 500 })');
      }
      const rule = { action };
      const match = Object.fromEntries(Object.entries({ method, via }).filter(([, v]) => v !== undefined));
      if (Object.keys(match).length) rule.match = match;
      for (const [key, value] of Object.entries({ after, times, probability, seed })) {
        if (value !== undefined) rule[key] = value;
      }
      return call("POST", "/faults", { body: rule });
    },
    /** The fault rules in force. */
    faults: async () => (await call("GET", "/faults")).faults,
    /** Removes every fault rule. */
    clearFaults: async () => {
      await call("DELETE", "/faults");
    },
    clock: {
      /** `{ now, offset_s, frozen }`. */
      now: () => call("GET", "/clock"),
      /** Moves time forward: `clock.advance(3601)` and an access token has expired. */
      advance: (seconds) => call("POST", "/clock", { body: { advance_s: seconds } }),
      /** Moves time forward to an instant (ISO-8601 text or a Date). */
      set: (when) => call("POST", "/clock", { body: { set: when instanceof Date ? when.toISOString() : when } }),
      /** Makes time stand still (or run again, with `false`). */
      freeze: (frozen = true) => call("POST", "/clock", { body: { freeze: frozen } }),
      /** Back to real time. */
      real: () => call("DELETE", "/clock"),
    },
    /** The REST calls made, oldest first, secrets removed; `method` takes `*` patterns. */
    journal: async ({ method, error, via, since, limit } = {}) =>
      (await call("GET", "/journal", { query: { method, error, via, since, limit } })).entries,
    /** Outbound event deliveries with their bodies; `waitMs` for a first new one. */
    events: async ({ event, status, since, waitMs } = {}) =>
      (await call("GET", "/events", { query: { event, status, since, wait_ms: waitMs } })).entries,
    /** Saves the portal's data, ids included, under `name`. */
    saveSnapshot: (name) => call("POST", "/snapshots", { body: { name } }),
    /** Puts back the data saved under `name`. */
    restoreSnapshot: (name) => call("POST", `/snapshots/${encodeURIComponent(name)}/restore`),
  };
}

/** `host:port` of an https URL: the domain SDKs take. */
const domainOf = (httpsUrl) => (httpsUrl ? new URL(httpsUrl).host : null);

/**
 * The server the environment names, as `b24-server exec` and the jest and vitest setups set it:
 * B24_URL, B24_ADMIN_TOKEN, B24_WEBHOOK, B24_HTTPS_WEBHOOK and NODE_EXTRA_CA_CERTS.
 */
function infoFromEnvironment(env = process.env) {
  if (!env.B24_URL || !env.B24_ADMIN_TOKEN) {
    throw new B24ServerError(
      "B24_URL and B24_ADMIN_TOKEN are not set: run the tests under `b24-server exec --`, or with the b24-server/vitest or b24-server/jest global setup, or pass connectServer() the server's info",
    );
  }
  const httpsWebhookUrl = env.B24_HTTPS_WEBHOOK || null;
  return {
    url: env.B24_URL,
    httpsUrl: httpsWebhookUrl ? new URL(httpsWebhookUrl).origin : null,
    adminToken: env.B24_ADMIN_TOKEN,
    webhookUrl: env.B24_WEBHOOK || null,
    httpsWebhookUrl,
    caPath: env.NODE_EXTRA_CA_CERTS || null,
  };
}

/** The variables `b24-server exec` sets, for a server's info. */
function environmentOf(info) {
  const variables = {
    B24_URL: info.url,
    B24_ADMIN_URL: `${info.url}/_b24`,
    B24_ADMIN_TOKEN: info.adminToken,
    B24_WEBHOOK: info.webhookUrl,
    B24_HTTPS_WEBHOOK: info.httpsWebhookUrl,
    NODE_EXTRA_CA_CERTS: info.caPath,
    REQUESTS_CA_BUNDLE: info.caPath,
    SSL_CERT_FILE: info.caPath,
  };
  return Object.fromEntries(Object.entries(variables).filter(([, v]) => v));
}

/**
 * A server reached by its details (`server.info`, e.g. passed from a vitest globalSetup to the
 * tests with `provide`/`inject`), or by default the one the environment names: its controls,
 * `newPortal()` and `freshPortal()`.
 */
function connectServer(info = infoFromEnvironment()) {
  const { url, adminToken } = info;
  if (!url || !adminToken) throw new TypeError("connectServer() needs { url, adminToken }");
  const admin = adminCaller(url.replace(/\/$/, ""), adminToken);
  const server = {
    ...controls(admin, undefined),
    url: url.replace(/\/$/, ""),
    httpsUrl: info.httpsUrl ?? null,
    adminUrl: `${url.replace(/\/$/, "")}/_b24`,
    adminToken,
    webhookUrl: info.webhookUrl ?? null,
    httpsWebhookUrl: info.httpsWebhookUrl ?? null,
    caPath: info.caPath ?? null,
    domain: domainOf(info.httpsUrl),
    plan: info.plan ?? null,
    /** The details another process needs to reach this server (JSON-serialisable). */
    get info() {
      const { url, httpsUrl, adminToken, webhookUrl, httpsWebhookUrl, caPath, plan } = server;
      return { url, httpsUrl, adminToken, webhookUrl, httpsWebhookUrl, caPath, plan };
    },
    async reset(keep) {
      const answer = await admin("POST", "/reset", { body: keep === undefined ? {} : { keep } });
      if (answer?.webhook) {
        server.webhookUrl = answer.webhook;
        server.httpsWebhookUrl = answer.https_webhook ?? null;
      }
      return answer;
    },
    health: () => admin("GET", "/health"),
    /** A new, empty portal with its own webhook and controls; `portal.delete()` removes it. */
    async newPortal(name) {
      let created;
      try {
        created = await admin("POST", "/portals", { body: name === undefined ? {} : { name } });
      } catch (failure) {
        if (failure instanceof AdminError && (failure.status === 404 || failure.status === 405)) {
          throw new PortalsUnavailableError(failure.status, failure.error, failure.description, failure.route);
        }
        throw failure;
      }
      return portalOf(admin, server, created);
    },
    /**
     * A clean portal for one test: a new portal (`release()` deletes it), or, on a server that
     * holds one portal only, that portal reset (`release()` does nothing).
     */
    async freshPortal() {
      if (!singlePortal.has(server.adminUrl)) {
        try {
          const portal = await server.newPortal();
          return Object.assign(portal, { release: () => portal.delete() });
        } catch (failure) {
          if (!(failure instanceof PortalsUnavailableError)) throw failure;
          singlePortal.add(server.adminUrl);
        }
      }
      await server.reset(server.webhookUrl ? undefined : []);
      return Object.assign(Object.create(server), { release: async () => {} });
    },
  };
  return server;
}

/** Servers known to hold one portal only, by admin URL. */
const singlePortal = new Set();

function portalOf(admin, server, created) {
  const portal = {
    ...controls(admin, created.portal),
    name: created.portal,
    url: server.url,
    adminUrl: server.adminUrl,
    adminToken: server.adminToken,
    webhookUrl: created.webhook,
    httpsWebhookUrl: created.https_webhook ?? null,
    domain: created.domain ?? domainOf(server.httpsUrl),
    memberId: created.member_id ?? null,
    caPath: server.caPath,
    /** Removes the portal and everything in it. */
    delete: async () => {
      await admin("DELETE", `/portals/${encodeURIComponent(created.portal)}`);
    },
  };
  return portal;
}

const lastLines = (file, count = 20) => {
  try {
    return fs.readFileSync(file, "utf8").trim().split("\n").slice(-count).join("\n");
  } catch {
    return "";
  }
};

/**
 * Starts an ephemeral server (a fresh portal in a temporary directory, free ports) and resolves
 * once it is ready. `await server.stop()` ends it and removes its data.
 */
async function startServer({
  plan = "unlimited",
  https = true,
  listen = "127.0.0.1:0",
  tlsListen = "127.0.0.1:0",
  args = [],
  binary,
  timeoutMs = 30_000,
  env = {},
} = {}) {
  const program = binary ?? findBinary();
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "b24-server-js-"));
  const ready = path.join(workdir, "ready.json");
  const logFile = path.join(workdir, "server.log");
  const command = ["serve", "--ephemeral", "--listen", listen, "--plan", plan, "--ready-file", ready];
  command.push(...(https ? ["--tls-listen", tlsListen] : ["--no-tls"]), ...args);
  const childEnv = { ...process.env };
  for (const name of SCRUBBED_ENV) delete childEnv[name];
  childEnv.B24_LOG ??= "warn";
  Object.assign(childEnv, env);
  const log = fs.openSync(logFile, "w");
  const child = spawn(program, command, { stdio: ["ignore", log, log], env: childEnv });
  fs.closeSync(log);
  let exited = null;
  let spawnError = null;
  const exit = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once("error", (error) => {
      spawnError = error;
      exited ??= { code: null, signal: null };
      resolve();
    });
  });
  const cleanup = () => fs.rmSync(workdir, { recursive: true, force: true });
  const deadline = Date.now() + timeoutMs;
  let pause = 1;
  let shown;
  for (;;) {
    if (fs.existsSync(ready)) {
      shown = JSON.parse(fs.readFileSync(ready, "utf8"));
      break;
    }
    if (exited) {
      const tail = lastLines(logFile);
      cleanup();
      if (spawnError) {
        throw new BinaryNotFoundError(`could not run ${program}: ${spawnError.message}; set ${BINARY_ENV} to a b24-server binary`);
      }
      const hint = /in use/i.test(tail)
        ? " A port it was told to listen on is in use: pass listen: \"127.0.0.1:0\" and tlsListen: \"127.0.0.1:0\" (the defaults) for free ports."
        : "";
      throw new ServerExitedError(
        `b24-server exited (${exited.signal ?? `status ${exited.code}`}) before it was ready.${hint} Its last log lines:\n${tail}`,
        tail,
      );
    }
    if (Date.now() > deadline) {
      const tail = lastLines(logFile);
      child.kill("SIGKILL");
      await exit;
      cleanup();
      throw new ServerNotReadyError(
        `b24-server was not ready after ${timeoutMs} ms (no ready file); pass a larger timeoutMs on a slow machine. Its last log lines:\n${tail}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10);
  }
  const server = connectServer({
    url: shown.http,
    httpsUrl: shown.https,
    adminToken: shown.admin_token,
    webhookUrl: shown.webhook,
    httpsWebhookUrl: shown.https_webhook,
    caPath: shown.ca,
    plan,
  });
  server.pid = child.pid;
  /** What the server printed so far. */
  server.log = () => lastLines(logFile, Number.MAX_SAFE_INTEGER);
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its data. */
  server.stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exit;
      clearTimeout(timer);
    }
    cleanup();
  };
  if (Symbol.asyncDispose) server[Symbol.asyncDispose] = server.stop;
  return server;
}

module.exports = {
  startServer,
  connectServer,
  infoFromEnvironment,
  environmentOf,
  findBinary,
  BINARY_ENV,
  B24ServerError,
  BinaryNotFoundError,
  ServerExitedError,
  ServerNotReadyError,
  AdminError,
  PortalsUnavailableError,
};
