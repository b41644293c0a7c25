/** jest globalSetup (b24-server/jest/setup) or globalTeardown (b24-server/jest/teardown). */
declare function hook(): Promise<void>;
export = hook;
