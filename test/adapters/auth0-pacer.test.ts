import { describe, expect, it } from "vitest";
import { Pacer } from "../../functions/adapters/auth0/pacer.js";
import { PacerSet } from "../../functions/adapters/auth0/pacers.js";
import { shareOf } from "../../functions/core/budget.js";
import { resolveRateLimits } from "../../functions/core/rate-limits.js";

/** A pacer on a virtual clock: sleeping advances time instantly. */
function virtualPacer(rate: number, burst: number) {
  let now = 1_000_000;
  const pacer = new Pacer({
    rate,
    burst,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    // Pacing at the rate from the start (slow start: test/adapters/pacer-adaptive.test.ts).
    slowStart: false,
  });
  return { pacer, now: () => now, advance: (ms: number) => (now += ms) };
}

const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n] ?? null });

describe("pacer", () => {
  it("lets a burst through once the tenant confirms it, then holds the sustained rate", async () => {
    const { pacer, now } = virtualPacer(10, 5);
    const start = now();
    const times: number[] = [];
    for (let i = 0; i < 24; i++) {
      await pacer.acquire();
      times.push(now() - start);
      // Adaptive pacing spends the burst only once the tenant's first answer shows it is there (a roomy bucket here).
      if (i === 0) pacer.observe(200, headers({ "x-ratelimit-limit": "100", "x-ratelimit-remaining": "99", "x-ratelimit-reset": "0" }));
    }
    // The burst less the one-token reserve goes at once...
    expect(times.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(times[4]).toBeGreaterThanOrEqual(100);
    // ...then 20 more at 10/s: the last leaves after 2 s.
    expect(times[23]).toBeGreaterThanOrEqual(2000);
    expect(times[23]).toBeLessThanOrEqual(2020);
  });

  it("never holds more than the tenant says remains", async () => {
    const { pacer, now } = virtualPacer(10, 50);
    // The tenant has 2 left; one is the reserve, so one request may go now and the next waits.
    pacer.observe(200, headers({ "x-ratelimit-remaining": "2", "x-ratelimit-reset": "0" }));
    const start = now();
    await pacer.acquire();
    await pacer.acquire();
    expect(now() - start).toBeGreaterThanOrEqual(100);
  });

  it("stops everything until x-ratelimit-reset after a 429", async () => {
    const { pacer, now } = virtualPacer(100, 100);
    const reset = Math.ceil((now() + 3000) / 1000);
    pacer.observe(429, headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) }));
    await pacer.acquire();
    expect(now()).toBeGreaterThanOrEqual(reset * 1000);
    expect(pacer.stats.pauses).toBe(1);
  });

  it("bounds a pause when the reset header is far off or missing", async () => {
    const { pacer, now } = virtualPacer(10, 10);
    const start = now();
    pacer.observe(429, headers({}));
    await pacer.acquire();
    expect(now() - start).toBeGreaterThanOrEqual(1000);
    expect(now() - start).toBeLessThan(1100);
    const p2 = new Pacer({ rate: 1, burst: 1, maxPauseMs: 5000 });
    p2.pauseUntilReset(Math.floor(Date.now() / 1000) + 3600);
    const started = Date.now();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop")), 50);
    await expect(p2.acquire(ac.signal)).rejects.toThrow("stop");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("refuses nonsense budgets", () => {
    expect(() => new Pacer({ rate: 0, burst: 1 })).toThrow(/rate must be positive/);
    expect(() => new Pacer({ rate: 1, burst: 0 })).toThrow(/burst must be at least 1/);
  });

  it("a consumer's pacers start at its share; Auth0's own buckets are their ceiling, a budget the config sets is not exceeded", () => {
    const share = shareOf(resolveRateLimits({ plan: "professional" }));
    const set = PacerSet.fromShares(share);
    expect(share.maxConcurrency).toBe(2);
    const writes = set.forGroup("writeUsers");
    expect(writes.rate).toBeCloseTo(200 / 60 / 2);
    expect(writes.ceiling).toBeCloseTo(200 / 60);
    // A group the config lowers (to leave the rest to other clients) and a global budget: the share is the ceiling.
    const lowered = PacerSet.fromShares(shareOf(resolveRateLimits({ plan: "professional", endpointGroups: { writeUsers: { requestsPerSecond: 2, burst: 10 } } })));
    expect(lowered.forGroup("writeUsers").ceiling).toBe(lowered.forGroup("writeUsers").rate);
    expect(lowered.forGroup("other").ceiling).toBeCloseTo(150 / 60);
    const budget = PacerSet.fromShares(shareOf(resolveRateLimits({ rateLimit: { requestsPerSecond: 32, burst: 50 } })));
    expect(budget.forGroup("writeUsers")).toMatchObject({ rate: 8, ceiling: 8 });
    // With neither (Enterprise production's bucket, Auth0's own), the whole bucket.
    expect(PacerSet.fromShares(shareOf(resolveRateLimits({}))).forGroup("writeUsers")).toMatchObject({ rate: 8, ceiling: 16 });
  });
});
