import { Pacer, type PacerOptions } from "../../functions/adapters/auth0/pacer.js";

/**
 * A discrete-event simulation of the sync's consumer instances against one Auth0 rate-limit bucket, on a virtual
 * clock: no real time passes, and a seed fixes every jitter, so a run is deterministic and takes well under a
 * second of real time per simulated minute.
 */

/** A small seeded PRNG (mulberry32): the same seed, the same jitter. */
export function seeded(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/** Virtual time: sleep() resolves when run() advances the clock to its deadline. */
export class VirtualClock {
  private timers: Timer[] = [];
  private seq = 0;
  constructor(public now: number) {}

  sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => this.at(this.now + Math.max(0, ms), resolve));

  /** Calls fire at virtual time `at` (timers at the same time fire in the order they were set). */
  at(at: number, fire: () => void): void {
    const t = { at, seq: this.seq++, fire };
    // Binary search for the insertion point: ordered by time, then by the order they were set.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.timers[mid]!.at <= at) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, t);
  }

  /** Advances to `until`, firing every timer on the way; between instants every pending promise settles. */
  async run(until: number): Promise<void> {
    for (;;) {
      // One macrotask turn drains the whole microtask queue: every await chain woken so far reaches its next sleep.
      await new Promise<void>((r) => setImmediate(r));
      const first = this.timers[0];
      if (!first || first.at > until) break;
      this.now = first.at;
      // Everything due at this instant fires together, then settles together.
      while (this.timers.length > 0 && this.timers[0]!.at === this.now) this.timers.shift()!.fire();
    }
    this.now = until;
  }
}

export interface Answer {
  status: number;
  headers: { get(name: string): string | null };
}

/** Auth0's bucket: continuous refill; headers computed when the request is charged (as local/auth0-emulator.ts). */
export class SimulatedTenant {
  private tokens: number;
  private last: number;
  constructor(
    private readonly clock: VirtualClock,
    readonly rate: number,
    readonly size: number,
  ) {
    this.tokens = size;
    this.last = clock.now;
  }

  charge(): Answer {
    const now = this.clock.now;
    this.tokens = Math.min(this.size, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    const ok = this.tokens >= 1;
    if (ok) this.tokens -= 1;
    const untilNext = this.tokens >= this.size ? 0 : ((1 - (this.tokens % 1)) / this.rate) * 1000;
    const h: Record<string, string> = {
      "x-ratelimit-limit": String(this.size),
      "x-ratelimit-remaining": String(Math.floor(this.tokens)),
      "x-ratelimit-reset": String(Math.ceil((now + untilNext) / 1000)),
    };
    return { status: ok ? 200 : 429, headers: { get: (n) => h[n] ?? null } };
  }
}

export interface Scenario {
  tenant: { rate: number; burst: number };
  /** The sync's consumer instances: each its own Pacer at its share, sharing nothing. */
  instances: { count: number; rate: number; burst: number; workers: number } & Partial<Pick<PacerOptions, "adaptive" | "reserve" | "ceiling">>;
  /** Each instance starts at a random time within this many ms (default 0: all at once). */
  startSpreadMs?: number;
  /** Each instance first sends one request alone and waits for its answer (the consumer's GET /roles), then starts its workers. */
  firstAlone?: boolean;
  /**
   * The work as SQS hands it out: `count` jobs (invocations) of `size` requests, each taken by whichever instance is
   * free; an instance's workers share its job, a 429 is repeated (as pacedFetch does), and an instance takes its
   * next job only once the last answer of the current one is in. Without it, every worker loops until the end.
   */
  jobs?: { count: number; size: number };
  /** Another client of the same bucket: one attempt every 1/rate s (jittered) from `fromS`; a 429 is simply lost. */
  competitor?: { rate: number; fromS: number };
  durationS: number;
  seed: number;
  /** Between the charge at the tenant and the answer reaching observe(): baseMs plus up to jitterMs. */
  latency?: { baseMs: number; jitterMs: number };
  /** Sees every charge of the sync: which instance, when (virtual ms since the start), and the answer. */
  onCharge?: (instance: number, atMs: number, answer: Answer) => void;
}

export interface Outcome {
  calls: number;
  status429: number;
  ok: number;
  /** The sync's successful calls per second over the run, and over the competitor's time. */
  throughput: number;
  throughputWhileCompeting: number;
  /** Virtual seconds from the start to the last answer of the last job (durationS without jobs, or if unfinished). */
  finishedS: number;
  competitor: { calls: number; status429: number; ok: number; throughput: number };
  pacers: Pacer[];
}

/** Runs a scenario: workers loop acquire -> charge -> (latency) observe -> on 429 waitForReset, as pacedFetch does. */
export async function simulate(s: Scenario): Promise<Outcome> {
  const rnd = seeded(s.seed);
  // An epoch a little off a second boundary, so the one-second resolution of x-ratelimit-reset matters.
  const start = 1_700_000_000_000 + Math.floor(rnd() * 1000);
  const end = start + s.durationS * 1000;
  const clock = new VirtualClock(start);
  const tenant = new SimulatedTenant(clock, s.tenant.rate, s.tenant.burst);
  const latency = s.latency ?? { baseMs: 30, jitterMs: 20 };
  const sync = { calls: 0, status429: 0, ok: 0, okCompeting: 0 };
  const other = { calls: 0, status429: 0, ok: 0 };
  const competeFrom = start + (s.competitor?.fromS ?? 0) * 1000;

  const { count, workers, ...opts } = s.instances;
  const pacers = Array.from({ length: count }, () => new Pacer({ ...opts, now: () => clock.now, sleep: clock.sleep, random: rnd }));
  /** One request as pacedFetch sends it; true if admitted. */
  const request = async (pacer: Pacer, i: number): Promise<boolean> => {
    await pacer.acquire();
    const a = tenant.charge();
    s.onCharge?.(i, clock.now - start, a);
    sync.calls++;
    if (a.status === 429) sync.status429++;
    else {
      sync.ok++;
      if (clock.now >= competeFrom) sync.okCompeting++;
    }
    await clock.sleep(latency.baseMs + rnd() * latency.jitterMs);
    pacer.observe(a.status, a.headers);
    if (a.status === 429) await pacer.waitForReset();
    return a.status !== 429;
  };
  let jobsLeft = s.jobs?.count ?? 0;
  let finished = end;
  const idle = pacers.map(() => false);
  const instance = async (pacer: Pacer, i: number): Promise<void> => {
    if (s.startSpreadMs) await clock.sleep(rnd() * s.startSpreadMs);
    if (s.firstAlone) await request(pacer, i);
    const size = s.jobs?.size;
    if (size === undefined) {
      await Promise.all(Array.from({ length: workers }, async () => {
        for (;;) await request(pacer, i);
      }));
      return;
    }
    while (jobsLeft > 0) {
      jobsLeft--;
      let left = size;
      await Promise.all(Array.from({ length: workers }, async () => {
        while (left > 0) {
          left--;
          while (!(await request(pacer, i)));
        }
      }));
    }
    // The last instance to run out of work marks the end of the work.
    idle[i] = true;
    if (idle.every(Boolean)) finished = clock.now;
  };
  pacers.forEach((p, i) => void instance(p, i));

  const c = s.competitor;
  if (c) {
    const attempt = (): void => {
      const a = tenant.charge();
      other.calls++;
      if (a.status === 429) other.status429++;
      else other.ok++;
      clock.at(clock.now + (1000 / c.rate) * (0.5 + rnd()), attempt);
    };
    clock.at(competeFrom, attempt);
  }

  await clock.run(end);
  const competingS = (end - competeFrom) / 1000;
  return {
    ...sync,
    throughput: sync.ok / s.durationS,
    throughputWhileCompeting: sync.okCompeting / competingS,
    finishedS: (finished - start) / 1000,
    competitor: { ...other, throughput: other.ok / competingS },
    pacers,
  };
}
