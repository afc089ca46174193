/**
 * Auth0 faults through the local pipeline (5xx, 429 storms, latency beyond the client timeout, expiring tokens).
 * Every test ends with the same three checks (test/helpers/reliability.ts). The queue's and the extractor's faults
 * are in reliability-delivery.test.ts.
 */
import { describe, expect, it } from "vitest";
import { LocalEnvironment } from "../../local/pipeline.js";
import { configWith, expectConsistent, scenario } from "../helpers/reliability.js";

describe("faults: the sync loses nothing and duplicates nothing", () => {
  it("20% of Auth0 answers are 5xx (half of them after the write landed)", async () => {
    const s = await scenario({ failRate: 0.2 });
    // A create whose 5xx came after the write landed is retried, meets the 409 and is found carrying this row's
    // key: our own create, counted created. On an empty tenant every row is created or dead-lettered.
    expect(s.summary).toMatchObject({ rowsRead: 150, rejected: 0, deadLettered: 0, created: 150, updated: 0, unchanged: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);

  it("on an empty tenant, created + dead-lettered = rows, whatever the fault rate", async () => {
    for (const failRate of [0.35, 0.6]) {
      const s = await scenario({ n: 60, failRate, config: configWith({ auth0: { maxRetries: 1 }, queue: { maxReceiveCount: 5 } }) });
      expect(s.summary, `fault rate ${failRate}`).toMatchObject({ rowsRead: 60, rejected: 0, updated: 0, unchanged: 0, unaccounted: 0 });
      expect(s.summary.created + s.summary.deadLettered, `fault rate ${failRate}`).toBe(60);
      expect(s.summary.created, `fault rate ${failRate}`).toBeGreaterThan(0);
    }
  }, 180_000);

  it("a 429 storm: every call waits for x-ratelimit-reset, none fails", async () => {
    let storms = 0;
    const s = await scenario({
      rate: 60,
      during: (env) => setTimeout(() => (env.emulator!.storm429(2500), storms++), 800),
    });
    expect(storms).toBe(1);
    expect(s.summary.auth0Status429).toBeGreaterThan(0);
    expect(s.summary).toMatchObject({ created: 150, deadLettered: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);

  it("latency spikes beyond the client timeout: timed-out writes that landed are found again, never duplicated", async () => {
    const s = await scenario({
      config: configWith({ auth0: { maxRetries: 3, timeoutMs: 1000 } }),
      during: (env) => {
        setTimeout(() => env.emulator!.setFaults({ latencyMs: 1500 }), 500);
        setTimeout(() => env.emulator!.setFaults({ latencyMs: 0 }), 2500);
      },
    });
    expect(s.summary).toMatchObject({ rowsRead: 150, deadLettered: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);

  it("every access token expires in the middle of the run: the next call gets a new one", async () => {
    let tokensBefore = 0;
    let env: LocalEnvironment | undefined;
    const s = await scenario({
      rate: 100,
      during: (e) => {
        env = e;
        // In the middle of the run: once the consumers have their tokens and have made some calls (not at a fixed
        // time, which a loaded machine may reach before the first call).
        const watch = setInterval(() => {
          if (e.emulator!.tokensIssued === 0 || e.emulator!.requestLog.length < 30) return;
          clearInterval(watch);
          tokensBefore = e.emulator!.tokensIssued;
          e.emulator!.expireAllTokens();
        }, 20);
      },
    });
    expect(tokensBefore).toBeGreaterThan(0);
    expect(env!.emulator!.tokensIssued).toBeGreaterThan(tokensBefore);
    expect(s.summary).toMatchObject({ created: 150, deadLettered: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);
});
