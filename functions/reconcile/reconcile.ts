/**
 * A reconcile: reads the tenant through a snapshot (the users-export job), judges every managed user against what
 * the ledger says the sync applied (core/reconcile.ts), seeds the ledger with the users it does not know, and sends
 * repairs through the sync's own queue, so pacing, retries, the DLQ and the run's counts apply to them as to any
 * row. It decides nothing itself: the verdicts and the seeds are the core's.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Ledger, LedgerEntry } from "../adapters/ledger/ledger.js";
import type { SyncOperation } from "../adapters/sqs/message.js";
import { packMessages } from "../adapters/sqs/sender.js";
import type { SyncConfig } from "../core/config.js";
import { judgeManaged, matchByEmail, repairs, seedFromSnapshot, seedKey, snapshotKey, type FieldDrift, type TenantUser, type Verdict } from "../core/reconcile.js";
import { keyLabel, ProfileMapper } from "../core/profile.js";
import { newRunId } from "../core/runs.js";
import type { RowSource } from "../core/source.js";
import type { TenantSnapshot } from "../core/snapshot.js";

export interface ReconcileDeps {
  config: SyncConfig;
  ledger: Ledger;
  snapshot: TenantSnapshot;
  /** Sends repair messages to the sync's queue (the extractor's sender); not needed for a dry run. */
  send?: (bodies: string[]) => Promise<void>;
  logger: Pick<Logger, "info" | "warn">;
  /** Repair the drift found (the config's `reconcile.repair`); false reports it only. */
  repair: boolean;
  /**
   * The table's rows, to match Auth0 users that carry no sync key to a row by email (with a key column). Without
   * it such users are not adopted (the next sync finds them by email, as before).
   */
  rows?: RowSource;
  /** Reads and reports; writes nothing (neither the ledger nor the queue). */
  dryRun?: boolean;
  runId?: string;
}

/** One user's drift, as the report shows it. */
export interface UserDrift {
  keyLabel: string;
  userId: string;
  kind: "drifted" | "missing";
  fields: FieldDrift[];
  /** A repair was sent for it. */
  repaired: boolean;
}

export interface ReconcileResult {
  runId: string;
  /** Users of the connection in the export. */
  usersInTenant: number;
  /** Users the ledger says the sync manages. */
  managed: number;
  inSync: number;
  /** Managed users that differ from what the sync applied, or are gone from Auth0. */
  drifted: number;
  missing: number;
  /** Repairs sent to the queue (the consumers apply them; their outcomes count under this run's id). */
  repaired: number;
  /** Users the ledger learned from the export (onboarding, or a lost ledger rebuilt). */
  adopted: number;
  /** Keys several Auth0 users carry, or emails several rows share: not adopted, never guessed. */
  ambiguous: number;
  /** Managed users left alone (blocked by mirror mode). */
  leftAlone: number;
  /** Management API calls of the snapshot (connection, job, polls, role members). */
  auth0Calls: number;
  /** The drift by user and field (the first 200 users). */
  drift: UserDrift[];
  elapsedMs: number;
}

const REPORTED_DRIFT = 200;
const BATCH = 100;

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileResult> {
  const { config, ledger, snapshot, logger } = deps;
  const started = Date.now();
  const runId = deps.runId ?? newRunId("reconcile");
  const write = !deps.dryRun;
  const result: ReconcileResult = { runId, usersInTenant: 0, managed: 0, inSync: 0, drifted: 0, missing: 0, repaired: 0, adopted: 0, ambiguous: 0, leftAlone: 0, auth0Calls: 0, drift: [], elapsedMs: 0 };
  const label = (key: string) => keyLabel(config, key);

  // The managed users, by Auth0 user id: a user is matched by its id, so drift on its sync key is found too.
  const managedKeys = new Map<string, string>();
  /** The organizations the managed users' applied profiles name: those whose members are read. */
  const managedOrgs = new Set<string>();
  for await (const e of ledger.entries()) {
    if (!e.managed || !e.userId) continue;
    managedKeys.set(e.userId, e.key);
    for (const org of Object.keys(e.profile?.organizations ?? {})) managedOrgs.add(org);
  }
  result.managed = managedKeys.size;
  const roles = config.roles ? await roleMembers(snapshot) : undefined;
  const memberships = config.organizations && snapshot.organizationMembers ? await organizationMemberships(snapshot, [...managedOrgs].sort()) : undefined;
  const repairOps: SyncOperation[] = [];
  const judged = new Set<string>();
  /** Keys seeded from the export, with the user that claimed each; a key claimed twice is ambiguous. */
  const seededBy = new Map<string, string>();
  const ambiguous = new Set<string>();
  /** Users with no sync key (with a key column), by email: matched to a row's key after the export (`adoptByEmail`). */
  const unkeyed = new Map<string, TenantUser>();
  let emailAmbiguous = 0;
  /** Keys adopted by this reconcile (not those an earlier one had seeded with the same user). */
  const adopted = new Set<string>();

  const judge = (entry: LedgerEntry, actual: TenantUser | undefined) => {
    const verdict = judgeManaged(entry, actual, config);
    judged.add(entry.key);
    count(result, verdict);
    if (verdict.kind !== "drifted" && verdict.kind !== "missing") return;
    const { profile, fingerprint } = entry;
    const repaired = write && deps.repair && repairs(verdict, config.mode) && profile !== undefined && fingerprint !== undefined;
    if (repaired) repairOps.push({ kind: "sync", row: repairOps.length + 1, keyLabel: label(entry.key), fingerprint, desired: profile, observed: actual ?? null });
    const fields = verdict.kind === "drifted" ? verdict.drift : [];
    // Each repair, per field (before -> after, emails masked by the core): the record of what the reconcile changes.
    logger.info("drift", { runId, keyLabel: label(entry.key), kind: verdict.kind, fields, repaired });
    if (result.drift.length < REPORTED_DRIFT) result.drift.push({ keyLabel: label(entry.key), userId: entry.userId ?? "", kind: verdict.kind, fields, repaired });
  };

  // The export, in batches: managed users are judged; users the ledger does not know seed it (core's rule).
  let batch: TenantUser[] = [];
  const flush = async () => {
    const keyOf = (u: TenantUser) => managedKeys.get(u.user_id) ?? snapshotKey(u, config);
    const entries = await ledger.getMany(batch.flatMap((u) => keyOf(u) ?? []));
    const seeds: LedgerEntry[] = [];
    for (const user of batch) {
      const managedKey = managedKeys.get(user.user_id);
      if (managedKey !== undefined) {
        const entry = entries.get(managedKey);
        if (entry) judge(entry, user);
        continue;
      }
      const key = snapshotKey(user, config);
      const claimedBy = key === undefined ? undefined : seededBy.get(key);
      const seed = seedFromSnapshot(user, claimedBy !== undefined && claimedBy !== user.user_id ? 2 : 1, config, key === undefined ? undefined : entries.get(key));
      if (seed.kind === "ambiguous") ambiguous.add(seed.key);
      if (seed.kind === "unkeyed" && deps.rows && typeof user.email === "string" && user.email !== "") unkeyed.set(user.email.toLowerCase(), user);
      if (seed.kind !== "seed") continue;
      seededBy.set(seed.key, seed.userId);
      if (seed.adopted) adopted.add(seed.key);
      seeds.push(seedEntry(seed.key, user, runId));
    }
    if (write && seeds.length > 0) await ledger.putMany(seeds);
    batch = [];
  };
  for await (const u of snapshot.users()) {
    result.usersInTenant++;
    batch.push({ ...u, ...(roles ? { roles: roles.get(u.user_id) ?? [] } : {}), ...(memberships ? { organizations: memberships.get(u.user_id) ?? {} } : {}) });
    if (batch.length >= BATCH) await flush();
  }
  await flush();

  // Managed users the export does not hold: gone from Auth0 (or blocked by mirror mode, left alone).
  const missing = [...managedKeys.values()].filter((k) => !judged.has(k));
  for (let i = 0; i < missing.length; i += BATCH) {
    const entries = await ledger.getMany(missing.slice(i, i + BATCH));
    for (const entry of entries.values()) judge(entry, undefined);
  }

  if (unkeyed.size > 0 && deps.rows) {
    const byEmail = await adoptByEmail(deps, unkeyed, seededBy, runId);
    emailAmbiguous = byEmail.ambiguous;
    for (const key of byEmail.adopted) adopted.add(key);
    if (write && byEmail.seeds.length > 0) await ledger.putMany(byEmail.seeds);
  }

  // A key several Auth0 users carry is never guessed: its seed is taken back (unless a row was applied to it
  // meanwhile), and the next sync looks the row up.
  for (const key of ambiguous) {
    logger.warn("ambiguous identity key: several Auth0 users carry it", { runId, keyLabel: label(key) });
    adopted.delete(key);
    if (write) await ledger.deleteSeed(key);
  }
  result.ambiguous = ambiguous.size + emailAmbiguous;
  result.adopted = adopted.size;

  if (write && repairOps.length > 0) {
    if (!deps.send) throw new Error("reconcile: repairs to send but no queue to send them to");
    await deps.send(packMessages(runId, repairOps, config.queue.usersPerMessage).map((m) => m.body));
    result.repaired = repairOps.length;
  }
  result.auth0Calls = snapshot.calls;
  result.elapsedMs = Date.now() - started;
  logger.info("reconcile finished", { ...result, drift: undefined });
  return result;
}

/**
 * Auth0 users with no sync key, matched to the table by the row's email (the core's `matchByEmail`): a row whose
 * key the ledger does not know seeds it with that user; an email two rows share is ambiguous. Returns the seeds.
 */
async function adoptByEmail(deps: ReconcileDeps, unkeyed: Map<string, TenantUser>, seededBy: Map<string, string>, runId: string): Promise<{ seeds: LedgerEntry[]; adopted: string[]; ambiguous: number }> {
  const mapper = new ProfileMapper(deps.config);
  const keysByEmail = new Map<string, string[]>();
  let row = 0;
  for await (const page of deps.rows!.pages()) {
    for (const r of page.rows) {
      const mapped = mapper.map(r, ++row);
      if (!mapped.ok || !unkeyed.has(mapped.profile.email)) continue;
      keysByEmail.set(mapped.profile.email, [...(keysByEmail.get(mapped.profile.email) ?? []), mapped.profile.key]);
    }
  }
  const matches = [...keysByEmail].map(([email, keys]) => ({ user: unkeyed.get(email)!, match: matchByEmail(keys) }));
  const entries = await deps.ledger.getMany(matches.flatMap((m) => (m.match.kind === "row" ? [m.match.key] : [])));
  const seeds: LedgerEntry[] = [];
  const adopted: string[] = [];
  let ambiguous = 0;
  for (const { user, match } of matches) {
    if (match.kind === "ambiguous") {
      ambiguous++;
      deps.logger.warn("ambiguous email: several rows have it", { runId, userId: user.user_id });
      continue;
    }
    const seed = seedKey(match.key, user, seededBy.has(match.key) ? 2 : 1, entries.get(match.key));
    if (seed.kind !== "seed") continue;
    seededBy.set(match.key, user.user_id);
    if (seed.adopted) adopted.push(match.key);
    seeds.push(seedEntry(match.key, user, runId));
  }
  return { seeds, adopted, ambiguous };
}

/** The ledger's entry for a seed: the user as the export showed it, not managed (core/reconcile.ts, seedFromSnapshot). */
const seedEntry = (key: string, user: TenantUser, runId: string): LedgerEntry => ({ key, userId: user.user_id, managed: false, observed: user, lastRunSeen: runId });

function count(result: ReconcileResult, verdict: Verdict): void {
  if (verdict.kind === "in-sync") result.inSync++;
  else if (verdict.kind === "drifted") result.drifted++;
  else if (verdict.kind === "missing") {
    result.drifted++;
    result.missing++;
  } else result.leftAlone++;
}

/**
 * Memberships by user id, over the organizations the sync manages: each user's organizations (as the config names
 * them) with its role names there (a call per 100 members, read once per reconcile).
 */
async function organizationMemberships(snapshot: TenantSnapshot, orgs: string[]): Promise<Map<string, Record<string, string[]>>> {
  const out = new Map<string, Record<string, string[]>>();
  for (const org of orgs) {
    for await (const m of snapshot.organizationMembers!(org)) out.set(m.userId, { ...(out.get(m.userId) ?? {}), [org]: m.roles });
  }
  return out;
}

/** Role names by user id, over every role of the tenant (a few calls per role, read once per reconcile). */
async function roleMembers(snapshot: TenantSnapshot): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const name of [...(await snapshot.roleNames())].sort()) {
    for await (const userId of snapshot.roleMembers(name)) out.set(userId, [...(out.get(userId) ?? []), name]);
  }
  return out;
}
