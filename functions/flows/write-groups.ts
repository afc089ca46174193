/**
 * The writes of one consumer invocation that Auth0 takes for many users at once, grouped: role assignments per role
 * (`POST /roles/{id}/users`, up to ROLE_USERS_PER_CALL users a call, instead of `POST /users/{id}/roles` for every
 * user in Auth0's slow "other endpoints" bucket), and organization memberships per organization (`POST` and
 * `DELETE /organizations/{id}/members`, up to ORG_MEMBERS_PER_CALL members a call). A first load with roles then
 * costs about one call per new user plus one per role per invocation, and joining an organization a tenth of a call.
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
import { ORG_MEMBERS_PER_CALL, OrganizationWriteError, type Auth0Organizations } from "../adapters/auth0/organizations.js";

/** What the groups call: the adapter's grouped role writes and (with memberships) its organizations. */
export type GroupedWritesApi = Pick<Auth0Adapter, "assignRoleToUsers" | "assignRoleIds" | "forgetRoles"> & {
  organizations?: Pick<Auth0Organizations, "addMembers" | "removeMembers" | "forget">;
};

/** What a group writes: a role to its users, or users into or out of an organization. */
type GroupKind = "role" | "join" | "leave";

interface Waiter {
  userId: string;
  /** Resolved when all its writes are applied; rejected with a failure (an organization's first, else a role's). */
  settle: (err?: unknown) => void;
  /** Groups of its writes not answered yet, and the first failure of each kind. */
  left: number;
  roleFailure?: unknown;
  orgFailure?: unknown;
}

/** The organizations a user joins and leaves, by id, grouped with the invocation's other users. */
export interface MembershipWrites {
  join?: string[];
  leave?: string[];
}

/** One operation's hold on the groups: it parks (add) at most once, and releases when it finishes. */
export interface WriteSlot {
  /**
   * Adds the user to each role's group and each membership's; resolves when all are applied, rejects with this
   * user's failure (an OrganizationWriteError when a membership failed, which wins over a role's failure).
   */
  add(userId: string, roleIds: string[], memberships?: MembershipWrites): Promise<void>;
  /** The operation will not add (it finished, or never reached its roles). Idempotent. */
  release(): void;
  /** Called once when the operation parks, so its worker can start the next operation meanwhile. */
  onPark?: () => void;
}

export interface WriteGroupOptions {
  /** Users per grouped role call (organization memberships: ORG_MEMBERS_PER_CALL, Auth0's maximum). */
  cap?: number;
  /** Lambda time left; when it falls under `safetyMs` the groups go out at once, whoever may still join. */
  timeLeftMs?: () => number;
  safetyMs?: number;
}

export class WriteGroups {
  private readonly groups = new Map<string, Waiter[]>();
  /** Records of the invocation not yet opened, and operations that may still add. */
  private recordsPending: number;
  private active = 0;
  private readonly cap: number;
  private timer?: NodeJS.Timeout;
  /** Auth0 refused the grouped endpoint itself (403: a scope it wants): each user alone from then on. */
  private groupedRefused = false;

  constructor(
    private readonly auth0: GroupedWritesApi,
    records = 1,
    private readonly opts: WriteGroupOptions = {},
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
  slot(): WriteSlot {
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.active--;
      this.maybeFlush();
    };
    const slot: WriteSlot = {
      add: (userId, roleIds, memberships = {}) => {
        if (!held) return Promise.reject(new Error("a write slot adds once"));
        const keys: [GroupKind, string][] = [
          ...roleIds.map((id): [GroupKind, string] => ["role", id]),
          ...(memberships.join ?? []).map((id): [GroupKind, string] => ["join", id]),
          ...(memberships.leave ?? []).map((id): [GroupKind, string] => ["leave", id]),
        ];
        const done = new Promise<void>((resolve, reject) => {
          const waiter: Waiter = { userId, left: keys.length, settle: (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error("grouped write failed", { cause: err }))) };
          if (keys.length === 0) resolve();
          for (const [kind, id] of keys) this.join(`${kind}:${id}`, waiter);
        });
        slot.onPark?.();
        release();
        return done;
      },
      release,
    };
    return slot;
  }

  private join(key: string, waiter: Waiter): void {
    const group = this.groups.get(key) ?? [];
    group.push(waiter);
    this.groups.set(key, group);
    if (group.length >= (key.startsWith("role:") ? this.cap : ORG_MEMBERS_PER_CALL)) this.send(key);
    // Parked users must not outlive the Lambda: while groups wait, the time left is watched.
    if (this.opts.timeLeftMs && this.groups.size > 0 && !this.timer) {
      this.timer = setInterval(() => this.maybeFlush(), 250);
      this.timer.unref();
    }
  }

  private maybeFlush(): void {
    const late = this.opts.timeLeftMs !== undefined && this.opts.timeLeftMs() < (this.opts.safetyMs ?? 10_000);
    if (!late && (this.recordsPending > 0 || this.active > 0)) return;
    for (const key of [...this.groups.keys()]) this.send(key);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(key: string): void {
    const waiters = this.groups.get(key) ?? [];
    this.groups.delete(key);
    if (waiters.length === 0) return;
    // Each waiter's own promise carries the outcome; apply answers every waiter and never rejects.
    const at = key.indexOf(":");
    const kind = key.slice(0, at) as GroupKind;
    void (kind === "role" ? this.apply(key.slice(at + 1), waiters) : this.applyMembership(kind, key.slice(at + 1), waiters));
  }

  /**
   * One grouped membership call (all or nothing, as a role's): a refusal is split until the user at fault is
   * alone; an organization deleted since it was resolved makes its users retried (then rejected as unknown); a
   * passing failure fails each user of the call. Every failure is an OrganizationWriteError.
   */
  private async applyMembership(kind: "join" | "leave", orgId: string, waiters: Waiter[]): Promise<void> {
    const users = [...new Set(waiters.map((w) => w.userId))];
    const orgs = this.auth0.organizations;
    if (!orgs) {
      for (const w of waiters) this.answer(w, new Error("membership writes need the adapter's organizations"), "org");
      return;
    }
    try {
      await (kind === "join" ? orgs.addMembers(orgId, users) : orgs.removeMembers(orgId, users));
      for (const w of waiters) this.answer(w);
    } catch (err) {
      const e = err instanceof Auth0Error ? err : new Auth0Error(err instanceof Error ? err.message : String(err), { kind: "server", retryable: true, cause: err });
      if (e.statusCode === 404 && e.errorCode === "inexistent_organization") {
        orgs.forget();
        const gone = new OrganizationWriteError(new Auth0Error(`${e.message} (the organization is gone since it was looked up; the users are retried)`, { kind: "server", retryable: true, statusCode: 404, cause: e }));
        for (const w of waiters) this.answer(w, gone, "org");
        return;
      }
      if (!e.retryable && waiters.length > 1) {
        const half = Math.ceil(waiters.length / 2);
        await Promise.all([this.applyMembership(kind, orgId, waiters.slice(0, half)), this.applyMembership(kind, orgId, waiters.slice(half))]);
        return;
      }
      for (const w of waiters) this.answer(w, new OrganizationWriteError(e), "org");
    }
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

  private answer(w: Waiter, err?: unknown, kind: "role" | "org" = "role"): void {
    if (err !== undefined && kind === "role") w.roleFailure ??= err;
    if (err !== undefined && kind === "org") w.orgFailure ??= err;
    if (--w.left === 0) w.settle(w.orgFailure ?? w.roleFailure);
  }
}
