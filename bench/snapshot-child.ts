/**
 * One snapshot read in a process of its own, so that its memory is the reader's alone (the Auth0 emulator, which
 * holds the whole tenant and builds the export file, lives in the parent): start an export job through
 * `Auth0Snapshot`, wait for it, stream every user and count them, nothing else. Samples rss and heapUsed every
 * 20 ms (and every 1,000 users, should the stream keep the event loop from the timer) and prints one JSON line.
 * Run with --expose-gc: the baseline is taken after a full collection, so the imports' garbage is not in it.
 */
import { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import { Pacer } from "../functions/adapters/auth0/pacer.js";
import { Auth0Snapshot } from "../functions/adapters/auth0/snapshot.js";

const env = process.env;
const adapter = new Auth0Adapter({
  domain: env.BENCH_AUTH0_DOMAIN ?? "",
  baseUrl: env.BENCH_AUTH0_BASE_URL ?? "",
  credentials: { clientId: env.BENCH_AUTH0_CLIENT_ID ?? "", clientSecret: env.BENCH_AUTH0_CLIENT_SECRET ?? "" },
  connection: env.BENCH_CONNECTION ?? "",
  connectionType: "database",
  verifyEmail: false,
  // The emulator builds the whole file (stringify + gzip) on the poll that completes the job: generous.
  timeoutMs: 120_000,
  maxRetries: 2,
  pacer: new Pacer({ rate: 100, burst: 100 }),
});
let fileBytes = 0;
const snapshot = new Auth0Snapshot(adapter, {
  connection: env.BENCH_CONNECTION ?? "",
  poll: { initialMs: 100, maxMs: 1_000 },
  fetch: async (input, init) => {
    const res = await fetch(input, init);
    fileBytes = Number(res.headers.get("content-length") ?? 0);
    return res;
  },
});

// Sampled rather than read from getrusage: ru_maxrss survives fork and exec and would carry the parent's peak.
(globalThis as { gc?: () => void }).gc?.();
const before = process.memoryUsage();
let peakRss = before.rss;
let peakHeap = before.heapUsed;
let samples = 0;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
  samples++;
};
const sampler = setInterval(sample, 20);
const started = Date.now();
const r = await snapshot.readExport({ deadline: Date.now() + 600_000 });
if (r.state !== "completed") throw new Error(`the export job is still ${r.status}`);
const jobDoneAt = Date.now();
let users = 0;
for await (const _user of r.users) if (++users % 1_000 === 0) sample();
const finished = Date.now();
sample();
clearInterval(sampler);
// What the reader still holds once its garbage is collected (the users were counted, not kept).
(globalThis as { gc?: () => void }).gc?.();
const after = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    users,
    fileBytes,
    waitMs: jobDoneAt - started,
    streamMs: finished - jobDoneAt,
    samples,
    beforeRssBytes: before.rss,
    beforeHeapUsedBytes: before.heapUsed,
    peakRssBytes: peakRss,
    peakHeapUsedBytes: peakHeap,
    afterGcHeapUsedBytes: after.heapUsed,
    calls: snapshot.stats.calls,
    downloads: snapshot.stats.downloads,
  })}\n`,
);
