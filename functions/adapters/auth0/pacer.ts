import { setTimeout as sleep } from "node:timers/promises";

/**
 * Paces every Management API call of one process: a local token bucket at the configured budget, kept honest by
 * the tenant's own x-ratelimit-remaining (the local bucket never holds more than the tenant says is left) and
 * stopped until x-ratelimit-reset after a 429. Shared by all calls of a process, so concurrent work cannot
 * overrun it.
 *
 * Adaptive pacing (on by default). The tenant's bucket is shared with the customer's other clients and with the
 * sync's other instances, none of which this process can see, so `rate` (this instance's share) is only a target:
 * each pacer learns what the tenant really gives from the headers, alone, by AIMD (additive increase,
 * multiplicative decrease: the same rule on instances of the same share converges to a fair split of what is left):
 * - an answer that leaves the tenant's bucket nearly empty cuts the rate by 15%, a 429 by 30%, at most once a
 *   second (on a bucket too small to tell "nearly empty" from busy, such as the free plan's 2, only a 429 does);
 * - any other answer probes back up by 5% of the share per second, up to the share;
 * - above the share, up to `ceiling` (the whole configured bucket), only while the tenant's bucket is at least
 *   half full, i.e. while other instances leave it unused (at the end of a run, when only some are busy): by 5% of
 *   the ceiling per second, and back down to the share at that pace once it is not;
 * - a fresh pacer sends one request and spends the rest of its burst only once the tenant's first answer shows
 *   it is there, and then only half of what that answer reports (instances starting together all read the same
 *   remaining: each spending all of it overran the bucket at every start);
 * - and it starts at 60% of its share, probing up by 20% of it a second until its first cut (slow start): instances
 *   starting together at their full share, with another client on the bucket, overran it for the few seconds
 *   their cuts took (3 to 5 429s at each start of the bench's created-writes scenario; none with slow start).
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
  /**
   * The most an adaptive pacer may probe up to (default `rate`): the whole configured bucket when `rate` is one
   * instance's share of it. Above `rate` only while the tenant's bucket is at least half full, so only capacity
   * nobody uses (other instances idle at the end of a run) is taken, and given back as soon as the room is gone.
   */
  ceiling?: number;
  /** Learn what the tenant really gives (default true): below `rate`, or up to `ceiling` while it has room; false paces at `rate` throughout. */
  adaptive?: boolean;
  /** An adaptive pacer starts below its rate and probes up fast until its first cut (default true; see ADAPT.slowStart). */
  slowStart?: boolean;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The jitter of the pause after a 429 (default Math.random; simulations pass a seeded one). */
  random?: () => number;
}

export interface PacerStats {
  acquired: number;
  waitedMs: number;
  pauses: number;
}

/** One pacer's stats: PacerStats, plus how often it slowed down and the 429s it saw. */
export interface AdaptivePacerStats extends PacerStats {
  decreases: number;
  status429: number;
}

/**
 * The controller's constants, tuned on the simulated tenants of test/adapters/pacer-adaptive.test.ts (4 to 25
 * workers per instance, 30 to 250 ms latency, several seeds); there, each still met every target with margin when
 * moved by half either way. Only the early cut is indispensable: on 429s alone, up to 2% of calls were 429.
 */
const ADAPT = {
  /** A 429 is certain overload: cut hard. */
  cutOn429: 0.7,
  /** A nearly empty bucket is overload caught early: a gentler cut that, in practice, leaves no 429 to follow. */
  cutOnLow: 0.85,
  /**
   * At most one cut per second: a cut shows in x-ratelimit-remaining only a round trip later, and only once the
   * other instances' cuts have too; cutting on every answer of one episode would collapse the rate. One second is
   * also the resolution of x-ratelimit-reset.
   */
  holdMs: 1000,
  /** Probe: + 5% a second (of the share below it, of the ceiling above it): half way back up in 10 s, slow enough for the tenant's burst to absorb. */
  probePerSecond: 0.05,
  /**
   * Slow start: a fresh pacer begins at this share of its rate and probes up by `slowStartPerSecond` until its first
   * cut (or its share): instances that start together at their full share, with another client on the bucket,
   * overran it for the seconds the cuts took to find the rest.
   */
  slowStart: 0.6,
  slowStartPerSecond: 0.2,
  /** "Nearly empty": under a tenth of x-ratelimit-limit, and never less than what the reserve keeps plus one. */
  lowFraction: 0.1,
  /** "Room" to probe above the share: at least half of x-ratelimit-limit left, i.e. nobody is using it. */
  roomyFraction: 0.5,
  /** Never below a tenth of the share, so a misread header or another client's spike cannot park the sync. */
  floorFraction: 0.1,
};

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
  /** When the latest token was taken. */
  private sentAt: number;
  private pausedUntil = 0;
  private readonly maxPauseMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly adaptive: boolean;
  private readonly floor: number;
  /** The most it may probe up to: `rate` unless the options name more (see PacerOptions.ceiling). */
  readonly ceiling: number;
  private current: number;
  /** Probing up fast from below the rate, until the first cut or the rate (see ADAPT.slowStart). */
  private slowStarting: boolean;
  /** Tokens of the initial burst not spendable until the tenant's first answer shows they are there. */
  private unconfirmed: number;
  /** No cut and no probe before this time (the hold after a cut). */
  private holdUntil = 0;
  /** Probing counts from this time. */
  private probedAt: number;
  readonly stats: AdaptivePacerStats = { acquired: 0, waitedMs: 0, pauses: 0, decreases: 0, status429: 0 };

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
    this.random = opts.random ?? Math.random;
    this.last = this.now();
    this.sentAt = this.last;
    this.maxPauseMs = opts.maxPauseMs ?? 60_000;
    this.adaptive = opts.adaptive ?? true;
    this.slowStarting = this.adaptive && opts.slowStart !== false;
    this.current = this.slowStarting ? this.rate * ADAPT.slowStart : this.rate;
    this.floor = this.rate * ADAPT.floorFraction;
    this.ceiling = this.adaptive ? Math.max(this.rate, opts.ceiling ?? this.rate) : this.rate;
    this.unconfirmed = this.adaptive ? this.capacity - 1 : 0;
    this.probedAt = this.last;
  }

  /** The rate this pacer paces at now: `rate`, less while the tenant gives less, up to `ceiling` while it has room. */
  get currentRate(): number {
    return this.current;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.current);
    this.last = now;
  }

  /** Multiplicative decrease, at most once per hold. */
  private cut(now: number, factor: number): void {
    if (now < this.holdUntil) return;
    this.refill(now);
    this.current = Math.max(this.floor, this.current * factor);
    this.holdUntil = now + ADAPT.holdMs;
    this.probedAt = this.holdUntil;
    this.stats.decreases++;
  }

  /**
   * Additive increase for the time since the last probe: up to the share (`rate`) by 5% of it a second; above it,
   * only while `roomy`, by 5% of the ceiling a second.
   */
  private probe(now: number, roomy: boolean): void {
    if (now < this.holdUntil) return;
    this.refill(now);
    // At most one second's step at a time: a pacer idle for a while (a warm Lambda between runs) must not jump
    // to its ceiling on its first answer.
    this.slowStarting &&= this.stats.decreases === 0 && this.current < this.rate;
    const step = (Math.min(now - this.probedAt, 1000) / 1000) * (this.slowStarting ? ADAPT.slowStartPerSecond : ADAPT.probePerSecond);
    if (this.current < this.rate) this.current = Math.min(this.rate, this.current + step * this.rate);
    else if (roomy) this.current = Math.min(this.ceiling, this.current + step * this.ceiling);
    // Room gone (the other instances are back, or this one took it): back to the share, without a cut.
    else this.current = Math.max(this.rate, this.current - step * this.ceiling);
    this.probedAt = now;
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
      if (this.tokens - this.unconfirmed >= 1) {
        this.tokens -= 1;
        this.sentAt = now;
        this.stats.acquired++;
        this.stats.waitedMs += this.now() - started;
        return;
      }
      await this.sleep(Math.max(1, Math.ceil(((1 + this.unconfirmed - this.tokens) / this.current) * 1000)), signal);
    }
  }

  /** Learns from a response's rate-limit headers. */
  observe(status: number, headers: { get(name: string): string | null }): void {
    const remaining = Number(headers.get("x-ratelimit-remaining"));
    const reset = Number(headers.get("x-ratelimit-reset"));
    const now = this.now();
    if (status === 429) {
      this.stats.status429++;
      if (this.adaptive) this.cut(now, ADAPT.cutOn429);
      this.pauseUntilReset(Number.isFinite(reset) && reset > 0 ? reset : undefined);
      return;
    }
    if (headers.get("x-ratelimit-remaining") !== null && Number.isFinite(remaining)) {
      this.refill(now);
      const limit = Number(headers.get("x-ratelimit-limit") ?? Number.NaN);
      // "Nearly empty" needs room below the best answer a busy bucket gives (limit - 1): on a bucket of 2 (the free
      // plan) every answer says 1 or 0, and cutting on those parked the sync at a tenth of its rate. There the early
      // cut is off (low <= 0) and 429s alone do the learning.
      const low = Number.isFinite(limit) ? Math.min(Math.max(this.reserve + 1, limit * ADAPT.lowFraction), limit - 2) : this.reserve + 1;
      // The tenant bucket is shared with every other client: never believe we have more than it has. The first
      // answer only half: instances that start together all read the same remaining and would all spend it.
      const left = Math.max(0, remaining - this.reserve);
      // On a bucket of 2 every answer leaves 0 after the reserve: what accrued since our last request left is kept,
      // or each answer would restart the wait and the answers' latency would be lost (15% of the rate at 175 ms).
      const accrued = low <= 0 ? ((now - this.sentAt) / 1000) * this.current : 0;
      this.tokens = Math.min(this.tokens, (this.unconfirmed > 0 ? left / 2 : left) + accrued);
      this.unconfirmed = 0;
      if (this.adaptive) {
        if (remaining < low) this.cut(now, ADAPT.cutOnLow);
        // Probing above the share only where the early cut would catch its overshoot in time.
        else this.probe(now, low > 0 && remaining >= limit * ADAPT.roomyFraction);
      }
    }
  }

  /** After a 429: nothing leaves this process until the tenant's reset time (epoch seconds), plus a little jitter. */
  pauseUntilReset(resetEpochSeconds?: number): void {
    const now = this.now();
    let until = resetEpochSeconds !== undefined ? resetEpochSeconds * 1000 : now + 1000;
    if (until <= now) until = now + 1000 / this.current;
    until = Math.min(until, now + this.maxPauseMs) + Math.floor(this.random() * 50);
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.stats.pauses++;
    }
    this.tokens = 0;
    this.unconfirmed = 0;
    this.last = now;
  }

  /** Waits out the current pause, if any. */
  async waitForReset(signal?: AbortSignal): Promise<void> {
    const wait = this.pausedUntil - this.now();
    if (wait > 0) await this.sleep(wait, signal);
  }
}
