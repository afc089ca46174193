import { setTimeout as sleep } from "node:timers/promises";

/**
 * Paces every Management API call of one process: a local token bucket at the configured budget, kept honest by
 * the tenant's own x-ratelimit-remaining (the local bucket never holds more than the tenant says is left) and
 * stopped until x-ratelimit-reset after a 429. Shared by all calls of a process, so concurrent work cannot
 * overrun it.
 */
export interface PacerOptions {
  /** Sustained requests per second. */
  rate: number;
  /** Bucket size: how many requests may go at once after a quiet spell. */
  burst: number;
  /**
   * Tokens of the tenant bucket this pacer never spends (default 1). A request arrives a little after it was
   * paced, and not always equally late; the reserve absorbs that jitter so a saturated pacer does not meet an
   * empty tenant bucket.
   */
  reserve?: number;
  /** Upper bound of one wait for a reset, so a clock skew can never park the process for long. */
  maxPauseMs?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface PacerStats {
  acquired: number;
  waitedMs: number;
  pauses: number;
}

/** Waits, and when the caller aborts, rejects with the caller's own reason (what it passed to abort()). */
const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  sleep(ms, undefined, { signal }).catch((err: unknown) => {
    throw signal?.aborted ? (signal.reason as unknown) : err;
  });

export class Pacer {
  readonly rate: number;
  readonly burst: number;
  /** The local bucket's size: the burst less the reserve. */
  readonly capacity: number;
  private readonly reserve: number;
  private tokens: number;
  private last: number;
  private pausedUntil = 0;
  private readonly maxPauseMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly stats: PacerStats = { acquired: 0, waitedMs: 0, pauses: 0 };

  constructor(opts: PacerOptions) {
    if (!(opts.rate > 0)) throw new RangeError(`pacer rate must be positive, got ${opts.rate}`);
    if (!(opts.burst >= 1)) throw new RangeError(`pacer burst must be at least 1, got ${opts.burst}`);
    this.rate = opts.rate;
    this.burst = opts.burst;
    this.reserve = Math.max(0, opts.reserve ?? 1);
    this.capacity = Math.max(1, opts.burst - this.reserve);
    this.tokens = this.capacity;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? defaultSleep;
    this.last = this.now();
    this.maxPauseMs = opts.maxPauseMs ?? 60_000;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Waits until a request may be sent, then takes its token. */
  async acquire(signal?: AbortSignal): Promise<void> {
    const started = this.now();
    for (;;) {
      const now = this.now();
      if (now < this.pausedUntil) {
        await this.sleep(this.pausedUntil - now, signal);
        continue;
      }
      this.refill(now);
      if (this.tokens >= 1) {
        this.tokens -= 1;
        this.stats.acquired++;
        this.stats.waitedMs += this.now() - started;
        return;
      }
      await this.sleep(Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000)), signal);
    }
  }

  /** Learns from a response's rate-limit headers. */
  observe(status: number, headers: { get(name: string): string | null }): void {
    const remaining = Number(headers.get("x-ratelimit-remaining"));
    const reset = Number(headers.get("x-ratelimit-reset"));
    const now = this.now();
    if (status === 429) {
      this.pauseUntilReset(Number.isFinite(reset) && reset > 0 ? reset : undefined);
      return;
    }
    if (headers.get("x-ratelimit-remaining") !== null && Number.isFinite(remaining)) {
      this.refill(now);
      // The tenant bucket is shared with every other client: never believe we have more than it has.
      this.tokens = Math.min(this.tokens, Math.max(0, remaining - this.reserve));
    }
  }

  /** After a 429: nothing leaves this process until the tenant's reset time (epoch seconds), plus a little jitter. */
  pauseUntilReset(resetEpochSeconds?: number): void {
    const now = this.now();
    let until = resetEpochSeconds !== undefined ? resetEpochSeconds * 1000 : now + 1000;
    if (until <= now) until = now + 1000 / this.rate;
    until = Math.min(until, now + this.maxPauseMs) + Math.floor(Math.random() * 50);
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.stats.pauses++;
    }
    this.tokens = 0;
    this.last = now;
  }

  /** Waits out the current pause, if any. */
  async waitForReset(signal?: AbortSignal): Promise<void> {
    const wait = this.pausedUntil - this.now();
    if (wait > 0) await this.sleep(wait, signal);
  }
}

const shared = new Map<string, Pacer>();

/** The process-wide pacer for a budget: every client in a Lambda instance shares it. */
export function sharedPacer(rate: number, burst: number): Pacer {
  const key = `${rate}/${burst}`;
  let p = shared.get(key);
  if (!p) {
    p = new Pacer({ rate, burst });
    shared.set(key, p);
  }
  return p;
}
