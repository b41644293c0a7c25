// Testing code that calls Bitrix24 through the official JS SDK, with vitest and the b24-server
// package: no paid portal, no network.
//
//     npm install --save-dev b24-server @bitrix24/b24jssdk vitest
//     npx vitest run
//
// vitest.config.js names the package's global setup (`globalSetup: ["b24-server/vitest"]`): it
// starts one server for the run and sets NODE_EXTRA_CA_CERTS before the workers start, so the
// SDK, which speaks only HTTPS, trusts the server's local CA.
import { B24Hook } from "@bitrix24/b24jssdk";
import { connectServer } from "b24-server";
import { beforeEach, expect, inject, test } from "vitest";

const server = connectServer(inject("b24"));
let portal; // a clean portal for every test: its own, or the server's only one, reset
let b24; // the SDK's client on it, as the code under test would build it

beforeEach(async () => {
  portal = await server.freshPortal();
  b24 = B24Hook.fromWebhookUrl(portal.httpsWebhookUrl);
  return () => portal.release();
});

const call = async (method, params = {}) =>
  (await b24.actions.v2.call.make({ method, params })).getData().result;

test("every test starts from an empty CRM", async () => {
  expect(await call("crm.deal.add", { fields: { TITLE: "First deal" } })).toBe(1);
  expect((await call("crm.deal.list")).map((deal) => deal.TITLE)).toEqual(["First deal"]);
});

test("the SDK retries a limit error and the journal shows both calls", async () => {
  await portal.fault("QUERY_LIMIT_EXCEEDED", { method: "crm.deal.list", times: 1 });
  expect(await call("crm.deal.list")).toEqual([]); // after one 503 and a retry
  const answers = (await portal.journal({ method: "crm.deal.list" })).map((e) => [e.http, e.error]);
  expect(answers).toEqual([
    [503, "QUERY_LIMIT_EXCEEDED"],
    [200, null],
  ]);
});

test("an error the SDK does not retry is thrown", async () => {
  await portal.fault("ACCESS_DENIED", { method: "crm.deal.add" });
  await expect(call("crm.deal.add", { fields: { TITLE: "Refused" } })).rejects.toMatchObject({
    code: "ACCESS_DENIED",
  });
});

test("a day passes in a millisecond", async () => {
  await call("crm.deal.add", { fields: { TITLE: "Old" } });
  await portal.clock.advance(86400);
  await call("crm.deal.add", { fields: { TITLE: "New" } });
  const deals = await call("crm.deal.list", { select: ["TITLE", "DATE_CREATE"] });
  const created = Object.fromEntries(deals.map((d) => [d.TITLE, d.DATE_CREATE.slice(0, 10)]));
  expect(created.Old < created.New).toBe(true);
});
