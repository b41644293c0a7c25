// Type-checked (never run) by packaging/ci.sh against the installed package: the declarations in
// index.d.ts and vitest.d.ts describe the API as the tests use it, and are not `any`.
import { AdminError, connectServer, PortalsUnavailableError, startServer, type ServerInfo } from "b24-server";
import "b24-server/vitest";
import { inject } from "vitest";

export async function usesTheApi(): Promise<void> {
  const server = await startServer({ plan: "standard", https: true, timeoutMs: 5000 });
  const webhook: string | null = server.httpsWebhookUrl;
  await server.fault("QUERY_LIMIT_EXCEEDED", { method: "crm.item.list", after: 2, times: 1 });
  await server.fault({ delay_ms: 500 });
  const offset: number = (await server.clock.advance(3601)).offset_s;
  const status: number = (await server.journal({ method: "crm.*", error: "ANY" }))[0].http;
  const body: string = (await server.events({ event: "ONCRMDEALADD", waitMs: 100 }))[0].body;
  const portal = await server.freshPortal();
  await portal.reset();
  await portal.release();
  try {
    await server.newPortal("named");
  } catch (failure) {
    if (failure instanceof PortalsUnavailableError || failure instanceof AdminError) {
      const code: number = failure.status;
      void code;
    }
  }
  const info: ServerInfo = inject("b24");
  await connectServer(info).health();
  await server.stop();
  void [webhook, offset, status, body];

  // @ts-expect-error: a plan the server does not have
  await startServer({ plan: "free" });
  // @ts-expect-error: a webhook URL may be null, never a number
  const wrong: number = server.webhookUrl;
  // @ts-expect-error: inject("b24") is the server's info, not any
  const alsoWrong: number = inject("b24").url;
  void [wrong, alsoWrong];
}
