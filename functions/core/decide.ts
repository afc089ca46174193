/**
 * The decision for one user of a row, taken once: the consumer executes it, `auth0-sync plan` describes it. It
 * comes in two steps because what Auth0 holds is read in between: `startUser` decides, from the ledger alone,
 * whether anything is to be done and where the current user comes from; `decideUser` takes that user (from the
 * ledger, or as found in Auth0) and returns the write, what the outcome counts as, and the role base.
 */
import type { SyncConfig } from "./config.js";
import { ownedKeys, writeFor, type SyncMode } from "./write-plan.js";
import type { CreateBody, CurrentUser, DesiredProfile, JsonObject, ObservedUser, Rejection, UserPatch } from "./types.js";

/** What the ledger says of a key (the adapter's entry has more; this is what a decision reads). */
export interface LedgerView {
  userId?: string;
  fingerprint?: string;
  managed?: boolean;
  blockedAt?: string;
  profile?: DesiredProfile;
  /** Set when a delivery that had sent a create for this key failed before recording the user. */
  createAttemptedAt?: string;
  /**
   * The user as a reconcile found it in Auth0, for a key no row has been applied to yet (a seeded entry, see
   * core/reconcile.ts): the next sync plans against it with no lookup.
   */
  observed?: ObservedUser;
}

export type { ObservedUser };

/** The settings a decision reads. */
export type DecisionConfig = Pick<SyncConfig, "mode" | "identity" | "roles"> & Partial<Pick<SyncConfig, "organizations">>;

/**
 * Whether this run already settled the key (an earlier delivery of its message, or an earlier attempt of the
 * segment or read that sent it): its outcome is counted, and must not be counted again.
 */
export function settledInRun(e: { lastRunSeen?: string; lastOutcome?: string } | undefined, runId: string): boolean {
  return e?.lastRunSeen === runId && e.lastOutcome !== undefined;
}

/**
 * Whether this entry says the profile with this fingerprint is in Auth0 as it stands: applied to a user the sync
 * manages and has not blocked. Such a row costs no Auth0 call.
 */
export function isApplied<E extends LedgerView>(e: E | undefined, fingerprint: string): e is E & { userId: string } {
  return Boolean(e?.userId && e.managed && e.fingerprint === fingerprint && !e.blockedAt);
}

/**
 * Of two rows with one email under two keys, the row whose key the ledger maps to that email wins, whatever comes
 * first: the managed user it last applied to that key has that email (an earlier row that took the email is then
 * refused by Auth0's 409 and the identity check).
 */
export function ownsEmail(entry: LedgerView | undefined, email: string): boolean {
  return Boolean(entry?.managed && entry.userId && entry.profile?.email === email);
}

/** The Auth0 user as the sync last left it, rebuilt from the ledger: the base of a patch with no lookup. */
export function userFromLedger(userId: string, p: DesiredProfile): CurrentUser {
  const u: CurrentUser = { user_id: userId, email: p.email };
  const rec = u as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(p.fields)) if (v !== null && v !== undefined) rec[k] = v;
  const nonNull = (o: JsonObject): JsonObject => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
  u.user_metadata = nonNull(p.user_metadata);
  u.app_metadata = nonNull(p.app_metadata);
  return u;
}

/** Where the current user comes from. */
export type Basis = "ledger" | "create-first" | "auth0";

export type Start =
  /** Applied already (a redelivered message, or an unchanged row): nothing to do, no call. */
  | { kind: "unchanged"; userId: string }
  /** The current user as the ledger last applied it (no lookup). */
  | { kind: "ledger"; current: CurrentUser; rolesKnown?: string[]; organizationsKnown?: Record<string, string[]> }
  /** A key the ledger never saw: create first (one call); a 409 leads to a lookup. */
  | { kind: "create-first" }
  /** Look the user up by email. */
  | { kind: "lookup" }
  /** A reconcile's repair: the user as the export showed it (null: gone from Auth0), planned against with no lookup. */
  | { kind: "observed"; current: CurrentUser | null; rolesKnown?: string[]; organizationsKnown?: Record<string, string[]> };

export interface StartInput {
  desired: DesiredProfile;
  fingerprint: string;
  entry?: LedgerView;
  config: DecisionConfig;
  /** Whether there is a ledger at all (without one every user is looked up). */
  hasLedger: boolean;
  /** Look up whatever the ledger says (after a 409, or after a PATCH met a user deleted in Auth0). */
  lookup?: boolean;
  /** A repair: the user as the reconcile's export showed it (null: not in Auth0); the ledger's "applied" is not trusted. */
  observed?: ObservedUser | null;
  /** The user an import job of this run created for the row (its id): as the file made it, no roles, no memberships. */
  imported?: string;
}

export interface Started {
  /** The desired profile, with `blocked: false` when mirror mode had blocked the user and the row is back. */
  desired: DesiredProfile;
  start: Start;
  /** Role names to check against the tenant before anything is written (unknown ones reject the row). */
  rolesToCheck: string[];
}

export function startUser({ desired: asked, fingerprint, entry, config, hasLedger, lookup, observed, imported }: StartInput): Started {
  // A user mirror mode blocked is back in the table: unblock it unless the mapping says otherwise.
  const desired = entry?.blockedAt && asked.fields.blocked === undefined ? { ...asked, fields: { ...asked.fields, blocked: false } } : asked;
  if (!lookup && imported !== undefined) {
    // Created by an import job from this very profile (core/import-batches.ts): what is left are its roles and
    // memberships, which an import cannot carry. Before a repair's start: an import's users are never repairs. A
    // delivery again (the batch followed again) finds the user applied.
    if (isApplied(entry, fingerprint) && entry.userId === imported) return { desired, start: { kind: "unchanged", userId: entry.userId }, rolesToCheck: [] };
    const start: Start = { kind: "ledger", current: userFromLedger(imported, desired), rolesKnown: desired.roles ? [] : undefined, organizationsKnown: desired.organizations ? {} : undefined };
    return { desired, start, rolesToCheck: config.roles && desired.roles ? desired.roles : [] };
  }
  if (!lookup && observed !== undefined) {
    // A repair is for the entry the reconcile judged: if the ledger moved on since (a sync applied a newer profile,
    // mirror mode blocked or deleted the user), the repair is stale and does nothing.
    if (!isRepairCurrent(entry, fingerprint, observed)) return { desired, start: { kind: "unchanged", userId: entry?.userId ?? observed?.user_id ?? "" }, rolesToCheck: [] };
    const { roles, organizations, ...current } = observed ?? { roles: undefined, organizations: undefined };
    return { desired, start: { kind: "observed", current: observed ? (current as CurrentUser) : null, rolesKnown: roles, organizationsKnown: organizations }, rolesToCheck: [] };
  }
  if (!lookup && isApplied(entry, fingerprint)) return { desired, start: { kind: "unchanged", userId: entry.userId }, rolesToCheck: [] };
  // Roles the ledger says were applied (or a reconcile saw on the user) are known to exist and cost no lookup.
  const lastRoles = entry?.profile?.roles ?? entry?.observed?.roles;
  const rolesChanged = !lastRoles || lastRoles.join("\u0000") !== (desired.roles ?? []).join("\u0000");
  const rolesToCheck = config.roles && desired.roles && rolesChanged ? desired.roles : [];
  if (!lookup && !entry && hasLedger && config.mode !== "update") return { desired, start: { kind: "create-first" }, rolesToCheck };
  if (!lookup && entry?.userId && entry.profile) {
    const current = userFromLedger(entry.userId, entry.profile);
    // Mirror mode blocked it after the profile was applied.
    if (entry.blockedAt) current.blocked = true;
    return { desired, start: { kind: "ledger", current, rolesKnown: entry.profile.roles, organizationsKnown: entry.profile.organizations }, rolesToCheck };
  }
  if (!lookup && entry?.userId && entry.observed) {
    // Seeded by a reconcile: Auth0's user as the export showed it; nothing of it is owned yet, so nothing is removed.
    const { roles, organizations: _held, organizationsRead: _read, ...current } = entry.observed;
    return { desired, start: { kind: "ledger", current, rolesKnown: roles, organizationsKnown: seededMemberships(entry.observed, desired) }, rolesToCheck };
  }
  return { desired, start: { kind: "lookup" }, rolesToCheck };
}

/**
 * A seed's memberships, as far as the reconcile read them: those in the organizations the row lists, when the
 * reconcile read every one of them (then a missing one is known not to be held); otherwise undefined, and the
 * consumer reads Auth0. Memberships outside the row's list are left out, so none is ever left: only memberships the
 * sync applied are removed.
 */
export function seededMemberships(observed: ObservedUser, desired: DesiredProfile): Record<string, string[]> | undefined {
  if (!desired.organizations || !observed.organizationsRead) return undefined;
  const read = new Set(observed.organizationsRead);
  const wanted = Object.keys(desired.organizations);
  if (!wanted.every((o) => read.has(o))) return undefined;
  const held = observed.organizations ?? {};
  return Object.fromEntries(wanted.filter((o) => Object.hasOwn(held, o)).map((o) => [o, held[o] ?? []]));
}

/**
 * The memberships a start knows before Auth0 is read: the ledger's (or a seed's, or a repair's observation), none
 * before a create; undefined when the user's memberships must be read from Auth0.
 */
export function knownOrganizations(start: Start): Record<string, string[]> | undefined {
  if (start.kind === "create-first") return {};
  return start.kind === "ledger" || start.kind === "observed" ? start.organizationsKnown : undefined;
}

/** Whether the ledger still holds what a reconcile judged: the same managed user, unblocked, with the same fingerprint. */
function isRepairCurrent(entry: LedgerView | undefined, fingerprint: string, observed: ObservedUser | null): boolean {
  if (!entry?.managed || !entry.userId || entry.blockedAt || entry.fingerprint !== fingerprint) return false;
  return observed === null || observed.user_id === entry.userId;
}

export interface DecideInput {
  desired: DesiredProfile;
  entry?: LedgerView;
  config: DecisionConfig;
  basis: Basis;
  /** The current user: from the ledger, as found in Auth0 (null: none), or null before a create-first. */
  current: CurrentUser | null;
  /** The user was looked up because our create met a 409. */
  after409?: boolean;
  /** That 409 followed an unanswered attempt of our own create, which may have landed. */
  ownCreateMayHaveLanded?: boolean;
  /** A reconcile's repair, planned against the user the export showed. */
  repair?: boolean;
}

export type UserDecision =
  | { write: "reject"; rejection: Omit<Rejection, "row" | "keyLabel"> }
  /** Retry later: Auth0's answers contradict each other (a 409, then no user with that email). */
  | { write: "retry"; reason: string }
  | { write: "create"; body: CreateBody; outcome: "created" }
  | { write: "patch"; userId: string; patch: UserPatch; outcome: "updated" | "created" }
  | { write: "none"; userId: string; outcome: "unchanged" | "created" };

export function decideUser({ desired, entry, config, basis, current, after409 = false, ownCreateMayHaveLanded = false, repair = false }: DecideInput): UserDecision {
  let ownLostCreate = false;
  if (basis === "auth0") {
    if (after409 && !current) return { write: "retry", reason: "create user: Auth0 answered 409 but no user with that email exists in the connection" };
    const owner = current?.app_metadata?.[config.identity.appMetadataKey];
    // A repair of the ledger's own user (drift on the sync key itself) is ours by its id, whatever its key says.
    const ledgersOwn = repair && current !== null && entry?.userId === current.user_id && entry.managed === true;
    if (current && !ledgersOwn && owner !== undefined && owner !== null && owner !== desired.key) {
      return { write: "reject", rejection: { code: "identity_conflict", field: "email", reason: "the Auth0 user with this email is synced under another identity key" } };
    }
    ownLostCreate = current !== null && isOwnLostCreate(config, desired.key, owner, entry, ownCreateMayHaveLanded);
  }
  const previouslyOwned = entry?.profile ? ownedKeys(entry.profile) : undefined;
  const planned = (mode: SyncMode) => writeFor({ desired, current, mode, previouslyOwned });
  let op = planned(config.mode);
  if (ownLostCreate) {
    // Our own lost create is finished as an upsert whatever the mode: the row asked for this user to exist.
    // Without a sync key to prove it, only a user equal to what the create sent is taken for ours.
    const asOwn = planned("upsert");
    if (config.identity.keyColumn !== undefined || asOwn.kind === "none") op = asOwn;
    else ownLostCreate = false;
  }
  switch (op.kind) {
    case "reject":
      return { write: "reject", rejection: op.rejection };
    case "create":
      return { write: "create", body: op.body, outcome: "created" };
    case "update":
      return { write: "patch", userId: op.userId, patch: op.patch, outcome: ownLostCreate ? "created" : "updated" };
    case "none":
      return { write: "none", userId: op.userId, outcome: ownLostCreate ? "created" : "unchanged" };
  }
}

/**
 * Whether the user found by email is this row's own create that the ledger never recorded (a 5xx after the write
 * landed, or an earlier delivery that failed after sending its create). Evidence: the ledger has applied nothing
 * for the key, the user carries this row's sync key (with a key column), and either the 409 followed an
 * unanswered attempt of the same create, or an earlier delivery recorded that it had sent a create for the key. A
 * user found after a lost or restored ledger carries the key too, but with no such evidence: not counted. (A
 * consumer killed between its create and that record leaves no evidence either: its user counts as adopted.)
 */
function isOwnLostCreate(config: DecisionConfig, key: string, owner: unknown, entry: LedgerView | undefined, ownCreateMayHaveLanded: boolean): boolean {
  if (entry?.userId) return false;
  const keyed = config.identity.keyColumn !== undefined;
  if (keyed && owner !== key) return false;
  return ownCreateMayHaveLanded || entry?.createAttemptedAt !== undefined;
}
