/**
 * Reconcile: the tenant as it is (an export's snapshot) against what the sync last applied (the ledger). Two
 * decisions, both pure (no I/O): for a user the sync manages, whether it drifted and on which owned fields (`judgeManaged`);
 * for a user of the snapshot the ledger does not know and a row claims (core/row-claims.ts), whether it can seed
 * the ledger (`Seeds`), so that onboarding an existing tenant, or rebuilding a lost ledger, costs no
 * create-409-lookup per user.
 *
 * What counts as drift is what the sync's own plan would change: the same `plan` and `diffRoles` the consumer runs,
 * so a repair never touches a field the sync does not map, a metadata key it does not own, or a createOnly field.
 */
import type { DecisionConfig, LedgerView, ObservedUser } from "./decide.js";
import { maskEmails } from "./emails.js";
import { diffOrganizations, diffRoles, organizationsChange } from "./membership-diff.js";
import { ownedKeys, writeFor } from "./write-plan.js";
import type { Json, UserPatch } from "./types.js";

/**
 * A user as the export shows it, with its role names when role sync is on, and its memberships (with member roles)
 * in the organizations the reconcile read when membership sync is on (for a seed, `organizationsRead` says which).
 */
export type TenantUser = ObservedUser;

/** One field's drift: what Auth0 holds, what the sync applied. Emails are masked. */
export interface FieldDrift {
  field: string;
  before: Json | undefined;
  after: Json | undefined;
}

export type Verdict =
  /** Auth0 holds what the sync applied. */
  | { kind: "in-sync" }
  /** Owned fields differ: a repair patches them back (and sets the roles). */
  | { kind: "drifted"; drift: FieldDrift[] }
  /** The managed user is gone from Auth0: a repair creates it again (when the mode creates users). */
  | { kind: "missing" }
  /** Not the sync's to repair, with why (shown in the report). */
  | { kind: "left-alone"; reason: string };

/** Which verdicts a repair acts on, by mode: insert never touches an existing user, update never creates one. */
export function repairs(verdict: Verdict, mode: DecisionConfig["mode"]): boolean {
  if (verdict.kind === "drifted") return mode !== "insert";
  if (verdict.kind === "missing") return mode !== "update";
  return false;
}

/**
 * A managed user's verdict: its ledger entry (what the sync applied) against the snapshot's user (undefined when the
 * export does not hold it). A user mirror mode blocked stays as mirror mode left it.
 */
export function judgeManaged(entry: LedgerView, actual: TenantUser | undefined, config: DecisionConfig): Verdict {
  if (!entry.managed || !entry.userId || !entry.profile) return { kind: "left-alone", reason: "not managed by the sync" };
  if (entry.blockedAt) return { kind: "left-alone", reason: "blocked by mirror mode" };
  if (!actual) return { kind: "missing" };
  const desired = entry.profile;
  const op = writeFor({ desired, current: actual, mode: "upsert", previouslyOwned: ownedKeys(desired) });
  const drift = op.kind === "update" ? patchDrift(op.patch, actual) : [];
  if (config.roles && desired.roles) {
    const change = diffRoles(desired.roles, actual.roles ?? [], config.roles.removeUnlisted);
    if (change.add.length > 0 || change.remove.length > 0) drift.push({ field: "roles", before: [...(actual.roles ?? [])].sort(), after: desired.roles });
  }
  if (config.organizations && desired.organizations && actual.organizations) {
    // Only the organizations the sync manages were read: one the user holds that no managed profile names is not seen.
    const change = diffOrganizations(desired.organizations, actual.organizations, { removeUnlisted: config.organizations.removeUnlisted, roles: config.organizations.roles !== undefined });
    if (organizationsChange(change)) drift.push({ field: "organizations", before: actual.organizations, after: desired.organizations });
  }
  // Never an address in a report, a log line or the ledger's record: emails masked wherever they stand.
  return drift.length > 0 ? { kind: "drifted", drift: drift.map((d) => ({ ...d, before: maskEmails(d.before), after: maskEmails(d.after) })) } : { kind: "in-sync" };
}

/** The fields a patch would change, each with Auth0's value before and the sync's after. */
function patchDrift(patch: UserPatch, actual: TenantUser): FieldDrift[] {
  const out: FieldDrift[] = [];
  const cur = actual as unknown as Record<string, Json | undefined>;
  for (const [k, v] of Object.entries(patch) as [string, Json][]) {
    if (k === "user_metadata" || k === "app_metadata") {
      const bag = actual[k] ?? {};
      for (const [mk, mv] of Object.entries(v as Record<string, Json>)) {
        out.push({ field: `${k}.${mk}`, before: bag[mk], after: mv === null ? undefined : mv });
      }
    } else {
      out.push({ field: k, before: cur[k], after: v === null ? undefined : v });
    }
  }
  return out;
}


export type Seed =
  /**
   * The ledger learns the user as it is in Auth0 (`observed`): the next sync plans against it with no lookup.
   * `adopted` is false when an earlier reconcile had seeded the same user (its observation is only refreshed).
   */
  | { kind: "seed"; key: string; userId: string; adopted: boolean }
  /** The ledger already knows the key (the sync manages it, or applied a row to it): not the export's to seed. */
  | { kind: "known"; key: string }
  /** Several users claim this key: none is taken, the next sync resolves it by lookup (and may reject the row). */
  | { kind: "ambiguous"; key: string; reason: string };

/**
 * The seeds of one reconcile, over its whole export: whether a snapshot user that a row claims by `key`
 * (core/row-claims.ts) seeds the ledger. The claimant rule is here because it spans the export: the first user a
 * key is claimed for seeds it; another user claiming the same key makes it ambiguous for the rest of the reconcile
 * (never guessed between: `ambiguousKeys` are the seeds to take back, since the first one may be written already).
 * A seeded entry is not managed: it becomes managed only when a row of the table is applied to it, so mirror mode
 * never acts on a user just because Auth0 holds it.
 */
export class Seeds {
  /** Each key seeded so far, with the user it was seeded for. */
  private readonly seededBy = new Map<string, string>();
  private readonly ambiguous = new Set<string>();
  /** Keys this reconcile adopted (not those an earlier one had seeded with the same user). */
  private readonly adoptedKeys = new Set<string>();

  /** `known`: the ledger's entry for the key, if any (a seed this reconcile wrote included). */
  seed(key: string, user: TenantUser, known?: LedgerView): Seed {
    if (known?.managed || known?.profile) return { kind: "known", key };
    const first = this.seededBy.get(key);
    if (this.ambiguous.has(key) || (first !== undefined && first !== user.user_id)) {
      this.ambiguous.add(key);
      this.adoptedKeys.delete(key);
      return { kind: "ambiguous", key, reason: "several Auth0 users claim this identity key" };
    }
    this.seededBy.set(key, user.user_id);
    const adopted = known?.userId !== user.user_id;
    if (adopted) this.adoptedKeys.add(key);
    return { kind: "seed", key, userId: user.user_id, adopted };
  }

  /** Keys several users claimed: their seeds are taken back once the export is read (sorted). */
  ambiguousKeys(): string[] {
    return [...this.ambiguous].sort();
  }

  /** Users this reconcile adopted, the ambiguous ones left out. */
  get adopted(): number {
    return this.adoptedKeys.size;
  }
}

