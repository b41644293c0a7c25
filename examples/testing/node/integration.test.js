// Testing code that calls Bitrix24, with vitest, against b24-server instead of a paid portal.
//
// Run it with a fresh server around the whole run:
//
//     b24-server exec -- npx vitest run
//
// `exec` starts an ephemeral server on free ports and sets B24_WEBHOOK, B24_URL, B24_ADMIN_URL,
// B24_ADMIN_TOKEN, B24_DATA_DIR and NODE_EXTRA_CA_CERTS; the server and its data are gone when
// vitest ends.
import { execFileSync } from "node:child_process";
import { beforeEach, expect, test } from "vitest";

const { B24_WEBHOOK: webhook, B24_URL: server, B24_ADMIN_URL: adminUrl } = process.env;
const adminAuth = { Authorization: `Bearer ${process.env.B24_ADMIN_TOKEN}` };

/** Calls a control of the admin API; its JSON answer (null for 204). */
async function admin(method, path, body) {
  const response = await fetch(adminUrl + path, {
    method,
    headers: { ...adminAuth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

/** The command line, on the test server's database (exec sets B24_DATA_DIR). */
const b24 = (...args) => execFileSync("b24-server", args, { encoding: "utf8" }).trim();

/** A REST call through the administrator's webhook, as the code under test would make it. */
const call = (method, params = {}) =>
  fetch(webhook + method, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(params),
  });

// Every test starts from an empty CRM: ids from 1, no faults, real time, an empty journal.
beforeEach(() => admin("POST", "/reset"));

test("ids start at one in every test", async () => {
  const deal = await call("crm.item.add", { entityTypeId: 2, fields: { title: "First deal" } });
  expect(deal.status).toBe(200);
  expect((await deal.json()).result.item.id).toBe(1);
});

test("the third call fails with a 503 and the journal shows it", async () => {
  await admin("POST", "/faults", {
    match: { method: "crm.item.list" },
    after: 2,
    times: 1,
    action: { error: "QUERY_LIMIT_EXCEEDED" },
  });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await call("crm.item.list", { entityTypeId: 2 })).status);
  expect(statuses).toEqual([200, 200, 503, 200]);
  const refused = await admin("GET", "/journal?method=crm.item.list&error=QUERY_LIMIT_EXCEEDED");
  expect(refused.entries).toHaveLength(1);
});

test("an access token expires an hour later and the refresh renews it", async () => {
  const app = JSON.parse(b24("app", "create", "--name", "Under test", "--scopes", "crm"));
  const code = b24("app", "authorize", "--client-id", app.client_id, "--user", "1");
  const grant = { client_id: app.client_id, client_secret: app.client_secret };
  const token = async (params) =>
    (await fetch(`${server}/oauth/token/?${new URLSearchParams({ ...grant, ...params })}`)).json();
  const tokens = await token({ grant_type: "authorization_code", code });

  await admin("POST", "/clock", { advance_s: 3601 }); // an hour passes in a millisecond
  const expired = await fetch(`${server}/rest/server.time?auth=${tokens.access_token}`);
  expect([expired.status, (await expired.json()).error]).toEqual([401, "expired_token"]);

  const renewed = await token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token });
  const fresh = await fetch(`${server}/rest/server.time?auth=${renewed.access_token}`);
  expect(fresh.status).toBe(200);
});

test("a new deal sends an event to the handler", async () => {
  b24("events", "webhook", "add", "--event", "ONCRMDEALADD", "--url", "http://127.0.0.1:9/deal");
  await call("crm.deal.add", { fields: { TITLE: "Evented" } });
  // Waits up to 5 s for the first delivery, without polling in the test.
  const captured = await admin("GET", "/events?event=ONCRMDEALADD&wait_ms=5000");
  expect(captured.entries[0].body).toContain("data%5BFIELDS%5D%5BID%5D=1");
});
