// The vitest setup's types for ESM test files (vitest.d.ts is the same for CommonJS): each
// augments the "vitest" that its own module system resolves, so `inject("b24")` is typed in both.
import type { ServerInfo } from "./index.js";

/** vitest globalSetup: starts one server; tests read its info with `inject("b24")`. */
export function setup(project: { provide(key: "b24", value: ServerInfo): void }): Promise<() => Promise<void>>;
export default setup;

declare module "vitest" {
  export interface ProvidedContext {
    b24: ServerInfo;
  }
}
