// Types of the b24-server package (index.js).

/** The request-rate plans: `standard` is the real service's 2 requests/s after a burst of 50. */
export type Plan = "standard" | "enterprise" | "unlimited";

export interface StartOptions {
  /** Request-rate plan (default `"unlimited"`). */
  plan?: Plan;
  /** Serve HTTPS beside HTTP (default `true`): the official SDKs speak only HTTPS. */
  https?: boolean;
  /** HTTP address (default `127.0.0.1:0`, a free port). */
  listen?: string;
  /** HTTPS address (default `127.0.0.1:0`). */
  tlsListen?: string;
  /** More `b24-server serve` options. */
  args?: string[];
  /** The binary to run (default: `findBinary()`). */
  binary?: string;
  /** How long to wait for the ready file (default 30 000 ms). */
  timeoutMs?: number;
  /** Variables for the server process. */
  env?: Record<string, string>;
}

/** What another process needs to reach a server (JSON-serialisable: `provide`/`inject`). */
export interface ServerInfo {
  url: string;
  httpsUrl: string | null;
  adminToken: string;
  webhookUrl: string | null;
  httpsWebhookUrl: string | null;
  caPath: string | null;
  plan?: Plan | null;
}

export interface FaultOptions {
  /** Method name; `*` stands for any characters (`"crm.item.*"`). */
  method?: string;
  /** `"webhook:ID"` or `"app:CLIENT_ID"`. */
  via?: string;
  /** Matching calls to let through first. */
  after?: number;
  /** How many calls fail (default: every one). */
  times?: number;
  probability?: number;
  seed?: number;
}

export type FaultAction =
  | { error: string; retry_after?: number }
  | { status: number; error: string; description: string }
  | { delay_ms: number }
  | { commit_then: "close" }
  | { network: "close" | "html502" };

export interface ClockView {
  now: string;
  offset_s: number;
  frozen: boolean;
}

export interface JournalEntry {
  seq: number;
  at: string;
  via: string | null;
  user: number | null;
  method: string;
  http: number;
  error: string | null;
  ms: number;
  params: Record<string, unknown>;
  batch: unknown;
  fault: number | null;
}

export interface CapturedEvent {
  seq: number;
  event: string;
  body: string;
  [field: string]: unknown;
}

export interface Clock {
  now(): Promise<ClockView>;
  /** Moves time forward: `clock.advance(3601)` and an access token has expired. */
  advance(seconds: number): Promise<ClockView>;
  set(when: string | Date): Promise<ClockView>;
  freeze(frozen?: boolean): Promise<ClockView>;
  real(): Promise<ClockView>;
}

/** The test-double controls of one portal. */
export interface Controls {
  /** The portal these controls act on (undefined: the server's default portal). */
  readonly portal: string | undefined;
  /** Deletes CRM data, ids, journal, faults, captured events and the clock offset; `[]` wipes auth too. */
  reset(keep?: string[]): Promise<{ deleted: Record<string, number>; webhook?: string; https_webhook?: string }>;
  /** Makes the next matching calls fail: an error code, or another action. */
  fault(errorOrAction: string | FaultAction, options?: FaultOptions): Promise<Record<string, unknown>>;
  faults(): Promise<Record<string, unknown>[]>;
  clearFaults(): Promise<void>;
  readonly clock: Clock;
  journal(filter?: { method?: string; error?: string; via?: string; since?: number; limit?: number }): Promise<JournalEntry[]>;
  events(filter?: { event?: string; status?: "pending" | "delivered" | "failed"; since?: number; waitMs?: number }): Promise<CapturedEvent[]>;
  saveSnapshot(name: string): Promise<Record<string, unknown>>;
  restoreSnapshot(name: string): Promise<Record<string, unknown>>;
}

/** Where a portal is reached: its webhooks, the server, the CA to trust. */
export interface Endpoints {
  readonly url: string;
  readonly adminUrl: string;
  readonly adminToken: string;
  readonly webhookUrl: string | null;
  readonly httpsWebhookUrl: string | null;
  /** `host:port` of the HTTPS listener: the domain SDKs take. */
  readonly domain: string | null;
  readonly caPath: string | null;
}

export interface B24Portal extends Controls, Endpoints {
  readonly name: string;
  readonly memberId: string | null;
  /** Removes the portal and everything in it. */
  delete(): Promise<void>;
}

/** A clean portal for one test; `release()` after it. */
export interface FreshPortal extends Controls, Endpoints {
  release(): Promise<void>;
}

export interface ConnectedServer extends Controls, Endpoints {
  readonly httpsUrl: string | null;
  readonly plan: Plan | null;
  readonly info: ServerInfo;
  health(): Promise<Record<string, unknown>>;
  /** A new, empty portal; throws PortalsUnavailableError on a server with one portal only. */
  newPortal(name?: string): Promise<B24Portal>;
  /** A new portal, or the server's only portal reset. */
  freshPortal(): Promise<FreshPortal>;
}

export interface B24Server extends ConnectedServer {
  readonly pid: number;
  /** What the server printed so far. */
  log(): string;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Starts an ephemeral server on free ports; resolves once it is ready. */
export function startServer(options?: StartOptions): Promise<B24Server>;
/** A running server, by its info (default: the environment `b24-server exec` sets). */
export function connectServer(info?: ServerInfo): ConnectedServer;
export function infoFromEnvironment(env?: Record<string, string | undefined>): ServerInfo;
/** The variables `b24-server exec` sets, for a server's info. */
export function environmentOf(info: ServerInfo): Record<string, string>;
/** The binary: $B24_SERVER_BINARY, else the platform package's (require.resolve). */
export function findBinary(): string;
export const BINARY_ENV: "B24_SERVER_BINARY";

export class B24ServerError extends Error {}
export class BinaryNotFoundError extends B24ServerError {}
export class ServerExitedError extends B24ServerError {
  readonly logTail: string;
}
export class ServerNotReadyError extends B24ServerError {}
export class AdminError extends B24ServerError {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  readonly route: string;
}
export class PortalsUnavailableError extends AdminError {}
