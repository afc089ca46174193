/**
 * What the table's rows claim, for a reconcile: which identity keys they carry, which emails (with a key column,
 * to match Auth0 users that carry no sync key), and the organizations each names. A reconcile adopts into the ledger
 * only users a row claims: a user carrying a sync key that no row has (a tenant copy's, a deleted row's, another
 * system's) is left alone, so a later row with that key never patches it through a seed.
 *
 * It keeps a key and an email per valid row, and one shared list per distinct set of organizations: that much
 * grows with the table (about a hundred bytes a row), as the managed users' ids grow with the tenant.
 */
import type { DecisionConfig, LedgerView } from "./decide.js";
import type { TenantUser } from "./drift.js";
import type { DesiredProfile } from "./types.js";

const NO_ORGANIZATIONS: readonly string[] = Object.freeze([]);

export class RowClaims {
  /** Each claimed key with the organizations its (first) row names. */
  private readonly organizationsByKey = new Map<string, readonly string[]>();
  /** With a key column: each row's email and its key; emails rows with different keys share are ambiguous. */
  private readonly keyByEmail = new Map<string, string>();
  private readonly sharedEmails = new Set<string>();
  /** One list per distinct set of organizations (rows mostly name the same few). */
  private readonly lists = new Map<string, readonly string[]>();
  private readonly named = new Set<string>();
  /** Valid rows read. */
  rows = 0;

  constructor(private readonly keyed: boolean) {}

  /** A valid row's profile (an invalid row is never applied: it claims nothing). */
  add(p: DesiredProfile): void {
    this.rows++;
    if (!this.organizationsByKey.has(p.key)) this.organizationsByKey.set(p.key, this.list(Object.keys(p.organizations ?? {})));
    if (!this.keyed) return;
    const other = this.keyByEmail.get(p.email);
    if (other === undefined) this.keyByEmail.set(p.email, p.key);
    else if (other !== p.key) this.sharedEmails.add(p.email);
  }

  private list(orgs: string[]): readonly string[] {
    if (orgs.length === 0) return NO_ORGANIZATIONS;
    const sorted = [...orgs].sort();
    const id = sorted.join("\u0000");
    let l = this.lists.get(id);
    if (!l) {
      l = Object.freeze(sorted);
      this.lists.set(id, l);
      for (const o of sorted) this.named.add(o);
    }
    return l;
  }

  claimsKey(key: string): boolean {
    return this.organizationsByKey.has(key);
  }

  /** The organizations the row of a claimed key names (sorted). */
  organizationsOf(key: string): readonly string[] {
    return this.organizationsByKey.get(key) ?? NO_ORGANIZATIONS;
  }

  /** Every organization some valid row names (sorted): a reconcile reads their members. */
  organizations(): string[] {
    return [...this.named].sort();
  }

  /** With a key column: the key of the row with this (lower-cased) email (undefined when rows with different keys share it). */
  keyOfEmail(email: string): string | undefined {
    return this.sharedEmails.has(email) ? undefined : this.keyByEmail.get(email);
  }

  /** Whether rows with different keys share this (lower-cased) email. */
  sharedEmail(email: string): boolean {
    return this.sharedEmails.has(email);
  }
}

export type Claim =
  /** A row claims the user: by the sync key it carries, or (no sync key, with a key column) by its email. */
  | { kind: "row"; key: string; by: "key" | "email" }
  /** The user carries a sync key (with email identity: an email) that no row has: left alone, never adopted. */
  | { kind: "unclaimed"; key: string }
  /** No sync key, and no row has its email (or it has none): not the sync's user. */
  | { kind: "unmatched" }
  /** No sync key, and rows with different keys share its email: never guessed. */
  | { kind: "ambiguous"; reason: string };

/**
 * Which row, if any, claims a snapshot user the sync does not manage: its sync key (with a key column) or its
 * lower-cased email (email identity) must be a row's key; a user with no sync key is matched by its email to the
 * one row that has it (the export is of the configured connection already).
 */
export function claimOf(user: TenantUser, config: DecisionConfig, claims: RowClaims): Claim {
  const email = typeof user.email === "string" && user.email.length > 0 ? user.email.toLowerCase() : undefined;
  if (config.identity.keyColumn === undefined) {
    if (email === undefined) return { kind: "unmatched" };
    return claims.claimsKey(email) ? { kind: "row", key: email, by: "key" } : { kind: "unclaimed", key: email };
  }
  const k = user.app_metadata?.[config.identity.appMetadataKey];
  if (typeof k === "string" && k.length > 0) return claims.claimsKey(k) ? { kind: "row", key: k, by: "key" } : { kind: "unclaimed", key: k };
  if (email === undefined) return { kind: "unmatched" };
  if (claims.sharedEmail(email)) return { kind: "ambiguous", reason: "several rows have this email" };
  const byEmail = claims.keyOfEmail(email);
  return byEmail === undefined ? { kind: "unmatched" } : { kind: "row", key: byEmail, by: "email" };
}

/**
 * The user as a seed records it: its memberships in the organizations its row names, and which organizations those
 * are (`organizationsRead`: all of them were read), so the next sync can tell "not a member" from "not looked at".
 */
export function seedObservation(user: TenantUser, organizationsRead: readonly string[] | undefined): TenantUser {
  if (organizationsRead === undefined) return user;
  const held = user.organizations ?? {};
  const organizations = Object.fromEntries(organizationsRead.filter((o) => Object.hasOwn(held, o)).map((o) => [o, held[o] ?? []]));
  return { ...user, organizations, organizationsRead: [...organizationsRead] };
}

/**
 * Whether a ledger entry is a seed no row claims any more (an earlier reconcile filled the ledger from a tenant
 * copy's users, or its row left the table): it is removed, so no later row with its key is ever applied to that
 * user through it. Only a seed is ever stale: an entry a row was applied to (a profile) or a managed one never is.
 * Without the rows (`claims` undefined: the table was not read) no key is known to be unclaimed, so none is stale.
 */
export function isStaleSeed(entry: LedgerView & { key: string }, claims: RowClaims | undefined): boolean {
  if (claims === undefined || entry.managed || entry.profile !== undefined || entry.observed === undefined) return false;
  return !claims.claimsKey(entry.key);
}
