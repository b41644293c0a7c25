// One b24-server for the run: started before the tests, stopped after them.
export default { test: { globalSetup: ["b24-server/vitest"] } };
