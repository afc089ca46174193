/**
 * Role assignments of one consumer invocation, grouped per role: instead of `POST /users/{id}/roles` for every
 * user (one call per user in Auth0's slow "other endpoints" bucket), the users that gain a role wait together and
 * are sent with `POST /roles/{id}/users`, up to ROLE_USERS_PER_CALL users a call. A first load with roles then
 * costs about one call per new user plus one per role per invocation.
 *
 * A user's operation parks here after its own writes and is released when every role it gains is applied. The
 * groups go out when a group is full, or when no operation of the invocation can still add to them (each one has
 * parked or finished): waiting longer could not group more, or when the Lambda's time runs short. A refused
 * grouped call (Auth0 applies all or none) is split until the user at fault is alone, so each user gets its own
 * outcome; a passing failure fails each user of the call, whose record SQS then delivers again (users already
 * applied cost no call on the retry). Should Auth0 refuse the grouped endpoint itself (403: a scope it wants),
 * the invocation goes on user by user.
 */
import { Auth0Error } from "../adapters/auth0/errors.js";
import { ROLE_USERS_PER_CALL, type Auth0Adapter } from "../adapters/auth0/client.js";

interface Waiter {
  userId: string;
  /** Resolved when all its roles are applied; rejected with the first failure. */
  settle: (err?: unknown) => void;
  /** Groups of its roles not answered yet, and the first failure among them. */
  left: number;
  failure?: unknown;
}

/** One operation's hold on the groups: it parks (add) at most once, and releases when it finishes. */
export interface RoleSlot {
  /** Adds the user to each role's group; resolves when all are applied, rejects with this user's failure. */
  add(userId: string, roleIds: string[]): Promise<void>;
  /** The operation will not add (it finished, or never reached its roles). Idempotent. */
  release(): void;
  /** Called once when the operation parks, so its worker can start the next operation meanwhile. */
  onPark?: () => void;
}

export interface RoleGroupOptions {
  /** Users per grouped call. */
  cap?: number;
  /** Lambda time left; when it falls under `safetyMs` the groups go out at once, whoever may still join. */
  timeLeftMs?: () => number;
  safetyMs?: number;
}

export class RoleGroups {
  private readonly groups = new Map<string, Waiter[]>();
  /** Records of the invocation not yet opened, and operations that may still add. */
  private recordsPending: number;
  private active = 0;
  private readonly cap: number;
  private timer?: NodeJS.Timeout;
  /** Auth0 refused the grouped endpoint itself (403: a scope it wants): each user alone from then on. */
  private groupedRefused = false;

  constructor(
    private readonly auth0: Pick<Auth0Adapter, "assignRoleToUsers" | "assignRoleIds" | "forgetRoles">,
    records = 1,
    private readonly opts: RoleGroupOptions = {},
  ) {
    this.recordsPending = records;
    this.cap = opts.cap ?? ROLE_USERS_PER_CALL;
  }

  /** A record of the invocation is parsed: its operations may add from now on (0 for a malformed record). */
  opened(operations: number): void {
    this.recordsPending = Math.max(0, this.recordsPending - 1);
    this.active += operations;
    this.maybeFlush();
  }

  /** A slot for one of the opened operations. */
  slot(): RoleSlot {
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.active--;
      this.maybeFlush();
    };
    const slot: RoleSlot = {
      add: (userId, roleIds) => {
        if (!held) return Promise.reject(new Error("a role slot adds once"));
        const done = new Promise<void>((resolve, reject) => {
          const waiter: Waiter = { userId, left: roleIds.length, settle: (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error("role assignment failed", { cause: err }))) };
          if (roleIds.length === 0) resolve();
          for (const roleId of roleIds) this.join(roleId, waiter);
        });
        slot.onPark?.();
        release();
        return done;
      },
      release,
    };
    return slot;
  }

  private join(roleId: string, waiter: Waiter): void {
    const group = this.groups.get(roleId) ?? [];
    group.push(waiter);
    this.groups.set(roleId, group);
    if (group.length >= this.cap) this.send(roleId);
    // Parked users must not outlive the Lambda: while groups wait, the time left is watched.
    if (this.opts.timeLeftMs && this.groups.size > 0 && !this.timer) {
      this.timer = setInterval(() => this.maybeFlush(), 250);
      this.timer.unref();
    }
  }

  private maybeFlush(): void {
    const late = this.opts.timeLeftMs !== undefined && this.opts.timeLeftMs() < (this.opts.safetyMs ?? 10_000);
    if (!late && (this.recordsPending > 0 || this.active > 0)) return;
    for (const roleId of [...this.groups.keys()]) this.send(roleId);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(roleId: string): void {
    const waiters = this.groups.get(roleId) ?? [];
    this.groups.delete(roleId);
    if (waiters.length === 0) return;
    // Each waiter's own promise carries the outcome; apply answers every waiter and never rejects.
    void this.apply(roleId, waiters);
  }

  /**
   * One grouped call. Auth0 applies it whole or not at all: refused (a user absent, or at its role limit), it is
   * split in halves until the user at fault is alone, so the others are applied and that one gets its own reason
   * (a few calls, not one per user). A passing failure fails each of its users, whose records SQS delivers again.
   */
  private async apply(roleId: string, waiters: Waiter[]): Promise<void> {
    if (this.groupedRefused) return this.oneByOne(roleId, waiters);
    const users = [...new Set(waiters.map((w) => w.userId))];
    try {
      await this.auth0.assignRoleToUsers(roleId, users);
      for (const w of waiters) this.answer(w);
    } catch (err) {
      if (err instanceof Auth0Error && err.statusCode === 403) {
        this.groupedRefused = true;
        return this.oneByOne(roleId, waiters);
      }
      if (err instanceof Auth0Error && err.errorCode === "inexistent_role") {
        // The role itself is gone (deleted in Auth0 since its name was resolved): no user is at fault. The names
        // are resolved again, and the users retried: then an unknown role rejects their rows before any write.
        this.auth0.forgetRoles();
        const gone = new Auth0Error(`${err.message} (deleted since its name was looked up; the users are retried)`, { kind: "server", retryable: true, statusCode: err.statusCode, errorCode: err.errorCode, cause: err });
        for (const w of waiters) this.answer(w, gone);
        return;
      }
      if (err instanceof Auth0Error && !err.retryable && waiters.length > 1) {
        const half = Math.ceil(waiters.length / 2);
        await Promise.all([this.apply(roleId, waiters.slice(0, half)), this.apply(roleId, waiters.slice(half))]);
        return;
      }
      for (const w of waiters) this.answer(w, err);
    }
  }

  /** Each user alone, with the per-user endpoint (`POST /users/{id}/roles`). */
  private async oneByOne(roleId: string, waiters: Waiter[]): Promise<void> {
    await Promise.all(
      waiters.map(async (w) => {
        try {
          await this.auth0.assignRoleIds(w.userId, [roleId]);
          this.answer(w);
        } catch (own) {
          this.answer(w, own);
        }
      }),
    );
  }

  private answer(w: Waiter, err?: unknown): void {
    if (err !== undefined && w.failure === undefined) w.failure = err;
    if (--w.left === 0) w.settle(w.failure);
  }
}
