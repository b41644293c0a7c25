import type { ServerInfo } from "./index";

/** vitest globalSetup: starts one server; tests read its info with `inject("b24")`. */
export function setup(project: { provide(key: "b24", value: ServerInfo): void }): Promise<() => Promise<void>>;
export default setup;

declare module "vitest" {
  export interface ProvidedContext {
    b24: ServerInfo;
  }
}
