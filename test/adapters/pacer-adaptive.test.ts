import { describe, expect, it } from "vitest";
import { Pacer, type PacerOptions } from "../../functions/adapters/auth0/pacer.js";
import { shareOf } from "../../functions/core/budget.js";
import { GLOBAL_BUCKET, resolveRateLimits, type Auth0Plan } from "../../functions/core/rate-limits.js";
import { simulate, type Scenario } from "../helpers/simulated-tenant.js";

/** A pacer on a virtual clock: sleeping advances time instantly; no pause jitter. */
function virtualPacer(opts: Pick<PacerOptions, "rate" | "burst"> & Partial<PacerOptions>) {
  let now = 1_700_000_000_000;
  const pacer = new Pacer({
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    random: () => 0,
    // The AIMD arithmetic from a pacer at its rate; slow start has its own test below.
    slowStart: false,
    ...opts,
  });
  return { pacer, now: () => now, advance: (ms: number) => (now += ms) };
}

/** An answer's rate-limit headers. */
const answer = (remaining: number, limit = 10, reset = 0) => {
  const h: Record<string, string> = { "x-ratelimit-limit": String(limit), "x-ratelimit-remaining": String(remaining), "x-ratelimit-reset": String(reset) };
  return { get: (n: string) => h[n] ?? null };
};

describe("adaptive pacer", () => {
  it("slow start: a fresh pacer begins at 60% of its rate and probes up by 20% a second until its first cut or its rate", () => {
    const { pacer, advance } = virtualPacer({ rate: 10, burst: 10, slowStart: true });
    expect(pacer.currentRate).toBeCloseTo(6);
    advance(1000);
    pacer.observe(200, answer(9, 10));
    expect(pacer.currentRate).toBeCloseTo(8);
    advance(1000);
    pacer.observe(200, answer(9, 10));
    expect(pacer.currentRate).toBeCloseTo(10);
    // Once at its rate (or cut), it probes at the usual 5% a second.
    const other = virtualPacer({ rate: 10, burst: 10, slowStart: true }).pacer;
    other.observe(200, answer(1, 10));
    expect(other.currentRate).toBeCloseTo(5.1);
    const { pacer: cut, advance: later } = virtualPacer({ rate: 10, burst: 10, slowStart: true });
    cut.observe(200, answer(1, 10));
    later(2000);
    cut.observe(200, answer(9, 10));
    expect(cut.currentRate).toBeCloseTo(5.1 + 0.5);
    // Not adaptive: the configured rate from the start.
    expect(virtualPacer({ rate: 10, burst: 10, slowStart: true, adaptive: false }).pacer.currentRate).toBe(10);
  });

  it("a 429 lowers currentRate, once per episode", () => {
    const { pacer, advance } = virtualPacer({ rate: 10, burst: 10 });
    expect(pacer.currentRate).toBe(10);
    pacer.observe(429, answer(0));
    expect(pacer.currentRate).toBeCloseTo(7);
    // The other answers of the same episode (requests already in flight) cut nothing more.
    pacer.observe(429, answer(0));
    pacer.observe(200, answer(0));
    expect(pacer.currentRate).toBeCloseTo(7);
    expect(pacer.stats).toMatchObject({ decreases: 1, status429: 2 });
    advance(1000);
    pacer.observe(429, answer(0));
    expect(pacer.currentRate).toBeCloseTo(4.9);
  });

  it("cuts gently, before any 429, when an answer leaves the tenant's bucket nearly empty", () => {
    const { pacer, advance } = virtualPacer({ rate: 10, burst: 10 });
    pacer.observe(200, answer(2, 10));
    expect(pacer.currentRate).toBe(10);
    pacer.observe(200, answer(1, 10));
    expect(pacer.currentRate).toBeCloseTo(8.5);
    // "Nearly empty" is a tenth of x-ratelimit-limit on a bigger bucket.
    advance(1000);
    pacer.observe(200, answer(10, 100));
    expect(pacer.currentRate).toBeCloseTo(8.5);
    pacer.observe(200, answer(9, 100));
    expect(pacer.currentRate).toBeCloseTo(7.225);
    expect(pacer.stats.status429).toBe(0);
  });

  it("paces at the rate it learnt", async () => {
    const { pacer, now } = virtualPacer({ rate: 10, burst: 1 });
    pacer.observe(200, answer(0));
    expect(pacer.currentRate).toBeCloseTo(8.5);
    const start = now();
    for (let i = 0; i < 17; i++) await pacer.acquire();
    // 17 requests at 8.5/s take 2 s (1.7 s at 10/s).
    expect(now() - start).toBeGreaterThanOrEqual(1995);
    expect(now() - start).toBeLessThanOrEqual(2020);
  });

  it("quiet success probes back up toward, but never above, the ceiling", () => {
    const { pacer, advance } = virtualPacer({ rate: 10, burst: 10 });
    pacer.observe(429, answer(0));
    // Nothing is probed during the hold after a cut.
    advance(500);
    pacer.observe(200, answer(9));
    expect(pacer.currentRate).toBeCloseTo(7);
    // Then 5% of the ceiling per second: + 1 in 2 s.
    const rates: number[] = [];
    for (let t = 0; t < 2500; t += 100) {
      advance(100);
      pacer.observe(200, answer(9));
      rates.push(pacer.currentRate);
    }
    expect(pacer.currentRate).toBeCloseTo(8);
    expect(rates.every((r, i) => i === 0 || r >= rates[i - 1]!)).toBe(true);
    for (let t = 0; t < 120_000; t += 100) {
      advance(100);
      pacer.observe(200, answer(9));
      expect(pacer.currentRate).toBeLessThanOrEqual(10);
    }
    expect(pacer.currentRate).toBe(10);
  });

  it("never goes below a tenth of the ceiling", () => {
    const { pacer, advance } = virtualPacer({ rate: 10, burst: 10 });
    for (let i = 0; i < 30; i++) {
      pacer.observe(429, answer(0));
      advance(1500);
    }
    expect(pacer.stats.decreases).toBe(30);
    expect(pacer.currentRate).toBe(1);
  });

  it("a fresh pacer sends one request, and its burst only once the tenant's first answer shows it is there", async () => {
    const { pacer, now } = virtualPacer({ rate: 10, burst: 10 });
    await pacer.acquire();
    expect(now() - 1_700_000_000_000).toBe(0);
    // The tenant had 5 left: the reserve keeps one, and of the other 4 only half go at once (other instances may
    // have read the same 5); the next waits for the rate.
    pacer.observe(200, answer(5, 50));
    const start = now();
    await pacer.acquire();
    await pacer.acquire();
    expect(now()).toBe(start);
    await pacer.acquire();
    expect(now() - start).toBeGreaterThanOrEqual(100);
    // Without any answer (no headers ever), it still paces at the rate, one at a time.
    const silent = virtualPacer({ rate: 10, burst: 10 });
    for (let i = 0; i < 11; i++) await silent.pacer.acquire();
    expect(silent.now() - 1_700_000_000_000).toBeGreaterThanOrEqual(1000);
    expect(silent.now() - 1_700_000_000_000).toBeLessThanOrEqual(1010);
  });

  it("on a bucket of 2 (the free plan) no answer cuts, as every busy answer says 1 or 0 left; a 429 still does", () => {
    const { pacer, advance } = virtualPacer({ rate: 1, burst: 2 });
    for (let i = 0; i < 10; i++) {
      advance(1000);
      pacer.observe(200, answer(i % 2, 2));
    }
    expect(pacer.currentRate).toBe(1);
    pacer.observe(429, answer(0, 2));
    expect(pacer.currentRate).toBeCloseTo(0.7);
  });

  it("probes above its share, up to the ceiling, only while the tenant's bucket is half full; then back to the share without a cut", () => {
    const { pacer, advance } = virtualPacer({ rate: 5, burst: 5, ceiling: 20 });
    // A busy bucket: nothing above the share.
    for (let i = 0; i < 20; i++) {
      advance(500);
      pacer.observe(200, answer(10, 50));
    }
    expect(pacer.currentRate).toBe(5);
    // Half full: + 5% of the ceiling (1/s) per second.
    for (let i = 0; i < 10; i++) {
      advance(500);
      pacer.observe(200, answer(25, 50));
    }
    expect(pacer.currentRate).toBeCloseTo(10);
    for (let i = 0; i < 100; i++) {
      advance(500);
      pacer.observe(200, answer(49, 50));
    }
    expect(pacer.currentRate).toBe(20);
    // Room gone: back down at the same pace, to the share and no further, and no cut counted.
    for (let i = 0; i < 10; i++) {
      advance(500);
      pacer.observe(200, answer(24, 50));
    }
    expect(pacer.currentRate).toBeCloseTo(15);
    for (let i = 0; i < 100; i++) {
      advance(500);
      pacer.observe(200, answer(10, 50));
    }
    expect(pacer.currentRate).toBe(5);
    expect(pacer.stats.decreases).toBe(0);
    // Without a ceiling, the share is the ceiling.
    const alone = virtualPacer({ rate: 5, burst: 5 });
    alone.advance(10_000);
    alone.pacer.observe(200, answer(49, 50));
    expect(alone.pacer.currentRate).toBe(5);
  });

  it("after an idle spell (a warm Lambda between runs), one answer moves the rate by one second's step at most", () => {
    const { pacer, advance } = virtualPacer({ rate: 5, burst: 5, ceiling: 20 });
    pacer.observe(200, answer(40, 50));
    advance(30_000);
    pacer.observe(200, answer(49, 50));
    // + 5% of the ceiling, not 30 s worth of it (which would be the whole ceiling at once).
    expect(pacer.currentRate).toBeCloseTo(6);
  });

  it("adaptive: false keeps today's behaviour: the whole burst at once, the configured rate throughout", async () => {
    const { pacer, now, advance } = virtualPacer({ rate: 10, burst: 5, adaptive: false });
    for (let i = 0; i < 4; i++) await pacer.acquire();
    expect(now() - 1_700_000_000_000).toBe(0);
    pacer.observe(200, answer(0));
    advance(2000);
    pacer.observe(429, answer(0));
    expect(pacer.currentRate).toBe(10);
    expect(pacer.stats).toMatchObject({ decreases: 0, status429: 1, pauses: 1 });
  });
});

/**
 * The sync's instances, each its own adaptive Pacer, against one simulated tenant bucket (test/helpers/
 * simulated-tenant.ts): 300 virtual seconds each, deterministic per seed.
 */
describe("adaptive pacing against a simulated tenant", () => {
  const durationS = 300;
  const share429 = (o: { calls: number; status429: number }) => o.status429 / o.calls;

  // (a) The configuration says 16/s (2 instances x 8/s, burst 25 each, each with the whole 16/s as its ceiling, as
  // PacerSet.fromShares sets it); the tenant gives 10/s.
  const overdriven = (burst: number, workers: number, seed: number, adaptive = true, latency?: Scenario["latency"]): Scenario => ({
    tenant: { rate: 10, burst },
    instances: { count: 2, rate: 8, burst: 25, workers, adaptive, ceiling: 16 },
    durationS,
    seed,
    latency,
  });

  it.each([
    [10, 4, 1],
    [10, 25, 1],
    [10, 8, 2],
    [50, 4, 2],
    [50, 25, 1],
    [50, 8, 3],
  ])("(a) 2 x 8/s against a tenant of 10/s burst %i (%i workers each, seed %i): under 1 percent 429s, at least 9/s", async (burst, workers, seed) => {
    const o = await simulate(overdriven(burst, workers, seed));
    expect(share429(o)).toBeLessThan(0.01);
    expect(o.throughput).toBeGreaterThanOrEqual(9);
  });

  it("(a) holds with slower answers too (100 to 250 ms)", async () => {
    const o = await simulate(overdriven(10, 8, 4, true, { baseMs: 100, jitterMs: 150 }));
    expect(share429(o)).toBeLessThan(0.01);
    expect(o.throughput).toBeGreaterThanOrEqual(9);
  });

  it("(a) without adaptation, the sync leans on 429s", async () => {
    const o = await simulate(overdriven(10, 8, 1, false));
    expect(share429(o)).toBeGreaterThan(0.2);
  });

  // (b) The tenant gives 16/s burst 50, as configured, but another client takes 8/s of it.
  const shared = (fromS: number, seed: number, adaptive = true): Scenario => ({
    tenant: { rate: 16, burst: 50 },
    instances: { count: 2, rate: 8, burst: 25, workers: 8, adaptive, ceiling: 16 },
    competitor: { rate: 8, fromS },
    durationS,
    seed,
  });

  it.each([
    [0, 1],
    [0, 2],
    [5, 1],
    [5, 2],
  ])("(b) another client takes 8/s of 16/s from %i s (seed %i): under 1 percent 429s, the sync gets 85 percent of the rest", async (fromS, seed) => {
    const o = await simulate(shared(fromS, seed));
    expect(share429(o)).toBeLessThan(0.01);
    const left = 16 - o.competitor.throughput;
    expect(o.throughputWhileCompeting).toBeGreaterThanOrEqual(6.8);
    expect(o.throughputWhileCompeting).toBeGreaterThanOrEqual(0.85 * left);
    // And the sync no longer pushes the customer's own client into 429s.
    expect(share429(o.competitor)).toBeLessThan(0.01);
  });

  it("(b) without adaptation, both the sync and the other client meet 429s", async () => {
    const o = await simulate(shared(5, 1, false));
    expect(share429(o)).toBeGreaterThan(0.2);
    expect(share429(o.competitor)).toBeGreaterThan(0.02);
  });

  // (c) The configuration is right: 7 instances at 50/7 per second, burst 7 each (ceiling 50), against 50/s burst 50.
  const matched = (workers: number, seed: number, adaptive = true): Scenario => ({
    tenant: { rate: 50, burst: 50 },
    instances: { count: 7, rate: 50 / 7, burst: 7, workers, adaptive, ceiling: 50 },
    durationS,
    seed,
  });
  /** What the sync got of all the tenant could have given (its initial bucket and every refill). */
  const utilisation = (o: { ok: number }) => o.ok / (50 * durationS + 50);

  it.each([
    [4, 1],
    [25, 2],
  ])("(c) a right configuration loses nothing (%i workers each, seed %i): at least 99 percent used, no 429, no cut", async (workers, seed) => {
    const o = await simulate(matched(workers, seed));
    const before = await simulate(matched(workers, seed, false));
    expect(utilisation(o)).toBeGreaterThanOrEqual(0.99);
    expect(utilisation(o)).toBeGreaterThanOrEqual(utilisation(before) - 0.001);
    expect(o.status429).toBe(0);
    expect(o.pacers.map((p) => p.stats.decreases)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  // (c-tail) The same, with the work as SQS hands it out: 20 invocations of 100 users (a call each here), each to
  // whichever instance is free. In the last round only 6 of the 7 are busy: at their shares, a seventh of the
  // bucket goes unused; probing above the share (up to the whole bucket, while the tenant's bucket shows room)
  // takes it.
  const tail = (seed: number, ceiling: number, latency?: Scenario["latency"]): Scenario => ({
    tenant: { rate: 50, burst: 50 },
    instances: { count: 7, rate: 50 / 7, burst: 7, workers: 16, ceiling },
    jobs: { count: 20, size: 100 },
    firstAlone: true,
    startSpreadMs: 50,
    durationS: 120,
    seed,
    latency,
  });
  /** What the sync got of all the tenant could have given from the first call to the last answer. */
  const tailUtilisation = (o: { ok: number; finishedS: number }) => o.ok / (50 * o.finishedS + 50);

  it.each([
    [1, undefined],
    [2, undefined],
    [3, { baseMs: 100, jitterMs: 150 }],
  ])("(c-tail) 20 invocations of 100 over 7 instances (seed %i, latency %o): idle instances' share is used, still no 429", async (seed, latency) => {
    const o = await simulate(tail(seed, 50, latency));
    const atShare = await simulate(tail(seed, 50 / 7, latency));
    expect(o.finishedS).toBeLessThan(120);
    expect(tailUtilisation(o)).toBeGreaterThanOrEqual(0.97);
    expect(tailUtilisation(o)).toBeGreaterThanOrEqual(tailUtilisation(atShare) + 0.025);
    expect(o.status429).toBe(0);
  });

  // A start as the consumer's: each instance sends one call alone (GET /roles), then 16 workers at once; both
  // instances start within a few ms and read the same x-ratelimit-remaining. (a) on a bucket of 10, 35 s as in
  // the local pipeline's run.
  const start = (seed: number, latency?: Scenario["latency"]): Scenario => ({
    ...overdriven(10, 16, seed, true, latency),
    firstAlone: true,
    startSpreadMs: 10,
    durationS: 35,
  });

  it.each([
    [1, undefined],
    [2, undefined],
    [3, undefined],
    [4, { baseMs: 100, jitterMs: 150 }],
  ])("(a) a start of 2 instances together does not overrun the bucket (seed %i, latency %o)", async (seed, latency) => {
    let firstSeconds429 = 0;
    const o = await simulate({ ...start(seed, latency), onCharge: (_i, atMs, a) => void (atMs < 5000 && a.status === 429 && firstSeconds429++) });
    expect(firstSeconds429).toBe(0);
    expect(share429(o)).toBeLessThan(0.01);
    expect(o.throughput).toBeGreaterThanOrEqual(9);
  });

  // The smallest plans, at the consumer's shares of them (core/config.ts shareOf): the free plan's bucket of 2 (2
  // instances at 1/s, burst 2) and Enterprise non-production's 2/s burst 10 (2 at 1/s, burst 5).
  const plan = (name: Auth0Plan, workers: number, seed: number, latency?: Scenario["latency"]): Scenario => {
    const limits = resolveRateLimits({ plan: name });
    const { maxConcurrency, buckets } = shareOf(limits);
    const share = buckets[GLOBAL_BUCKET]!;
    expect(share.ceiling).toBe(share.rps * maxConcurrency);
    const bucket = limits.buckets[GLOBAL_BUCKET]!;
    return {
      tenant: { rate: bucket.requestsPerSecond, burst: bucket.burst },
      instances: { count: maxConcurrency, rate: share.rps, burst: share.burst, workers, ceiling: share.rps * maxConcurrency },
      firstAlone: true,
      startSpreadMs: 10,
      durationS: 120,
      seed,
      latency,
    };
  };

  it.each([
    ["free", 1, 1, undefined],
    ["free", 16, 2, undefined],
    ["free", 16, 3, { baseMs: 100, jitterMs: 150 }],
    ["enterprise-nonprod", 1, 1, undefined],
    ["enterprise-nonprod", 16, 2, undefined],
    ["enterprise-nonprod", 16, 3, { baseMs: 100, jitterMs: 150 }],
  ] as const)("the %s plan's small bucket, at the consumer's shares (%i workers each, seed %i, latency %o): 90 percent of its rate, under 1 percent 429s", async (name, workers, seed, latency) => {
    const s = plan(name, workers, seed, latency);
    const o = await simulate(s);
    expect(o.throughput).toBeGreaterThanOrEqual(0.9 * s.tenant.rate);
    expect(share429(o)).toBeLessThan(0.01);
  });

  it("the simulation is deterministic per seed", async () => {
    const a = await simulate(overdriven(10, 8, 5));
    const b = await simulate(overdriven(10, 8, 5));
    expect([a.calls, a.status429, a.ok]).toEqual([b.calls, b.status429, b.ok]);
  });
});
