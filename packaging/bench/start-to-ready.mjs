// Start-to-ready of startServer(): from the call to its resolution (the ready file read), over N
// starts (default 30), each followed by stop(). Run it where the npm package is installed:
//
//     cd target/packaging/npm-test && node ../../../packaging/bench/start-to-ready.mjs [N]
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "noop.js"));
const { startServer } = require("b24-server");

const runs = Number(process.argv[2] ?? 30);
await (await startServer()).stop(); // warm the page cache
const times = [];
for (let i = 0; i < runs; i++) {
  const began = performance.now();
  const server = await startServer();
  times.push(performance.now() - began);
  await server.stop();
}
times.sort((a, b) => a - b);
const median = runs % 2 ? times[(runs - 1) / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
console.log(
  `node startServer(), ${runs} starts: min ${times[0].toFixed(0)} ms, median ${median.toFixed(0)} ms, p90 ${times[Math.floor(runs * 0.9) - 1].toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms`,
);
