/**
 * A reconcile: reads the table's rows (which keys and emails they claim, which organizations they name), then the
 * tenant through a snapshot (the users-export job, role members, the members of the organizations the sync manages
 * and those the rows name), judges every managed user against what the ledger says the sync applied
 * (core/reconcile.ts), seeds the ledger with the users a row claims that it does not know (core/row-claims.ts), and
 * sends repairs through the sync's own queue, so pacing, retries, the DLQ and the run's counts apply to them as to
 * any row. It decides nothing itself: the verdicts, the claims and the seeds are the core's.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Ledger, LedgerEntry } from "../adapters/ledger/ledger.js";
import type { SyncOperation } from "../adapters/sqs/message.js";
import { packMessages } from "../adapters/sqs/sender.js";
import type { SyncConfig } from "../core/config.js";
import { judgeManaged, repairs, Seeds, type FieldDrift, type TenantUser, type Verdict } from "../core/drift.js";
import { claimOf, isStaleSeed, RowClaims, seedObservation, type Claim } from "../core/row-claims.js";
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
   * The table's rows: only a user a row claims (by its sync key, or with no sync key by its email) is adopted into
   * the ledger. Without them nothing is adopted (the next sync looks every user up, as before any reconcile).
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
  /** A repair was queued for it (the consumers apply it: their outcomes count under the reconcile's id). */
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
  /**
   * Repairs sent to the queue. Queued, not applied: the consumers apply them and count their outcomes under this
   * reconcile's id (`auth0-sync status` shows how many were applied).
   */
  repairsQueued: number;
  /** Rows of the table read to know which users rows claim (their keys, emails, organizations); undefined when the table was not read (nothing adopted). */
  rowsRead?: number;
  /** Users the ledger learned from the export (onboarding, or a lost ledger rebuilt): only users a row claims. */
  adopted: number;
  /** Keys several Auth0 users carry, or emails several rows share: not adopted, never guessed. */
  ambiguous: number;
  /** Users carrying a sync key (with email identity: an email) that no row has: left alone, not adopted. */
  unclaimed: number;
  /** Users with no sync key whose email no row has: not the sync's, left alone. */
  unmatched: number;
  /**
   * Seeds an earlier reconcile left whose key no row claims any more: removed from the ledger (never an applied
   * entry). A dry run counts those it would remove, as it counts `adopted` users it would seed.
   */
  seedsRemoved: number;
  /** Managed users left alone (blocked by mirror mode). */
  leftAlone: number;
  /**
   * Management API calls of the snapshot: the connection, the job and its polls, the roles and their members, and
   * with organizations each organization read (its lookup and its member pages). The table is read through the
   * Data API, not counted here.
   */
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
  const result: ReconcileResult = {
    runId,
    usersInTenant: 0,
    managed: 0,
    inSync: 0,
    drifted: 0,
    missing: 0,
    repairsQueued: 0,
    adopted: 0,
    ambiguous: 0,
    unclaimed: 0,
    unmatched: 0,
    seedsRemoved: 0,
    leftAlone: 0,
    auth0Calls: 0,
    drift: [],
    elapsedMs: 0,
  };
  const label = (key: string) => keyLabel(config, key);

  // The rows first: which users a row claims, and the organizations the rows name. Without them nothing is adopted.
  const claims = deps.rows ? await readClaims(deps.rows, config, result) : undefined;
  if (!claims) logger.warn("the table was not read: no user is adopted into the ledger", { runId });

  // The managed users, by Auth0 user id: a user is matched by its id, so drift on its sync key is found too.
  const managedKeys = new Map<string, string>();
  /** The organizations the managed users' applied profiles name: drift is judged in those only. */
  const managedOrgs = new Set<string>();
  /** Seeds no row claims (core/row-claims.ts, isStaleSeed): removed once the export is read. */
  const staleSeeds: string[] = [];
  for await (const e of ledger.users.all()) {
    if (isStaleSeed(e, claims)) staleSeeds.push(e.key);
    if (!e.managed || !e.userId) continue;
    managedKeys.set(e.userId, e.key);
    for (const org of Object.keys(e.profile?.organizations ?? {})) managedOrgs.add(org);
  }
  result.managed = managedKeys.size;
  const roles = config.roles ? await roleMembers(snapshot) : undefined;
  // The members of the managed organizations and of those the rows name, once: a seed then knows its memberships
  // in its row's organizations, and the next sync reads none of them user by user.
  const orgsToRead = [...new Set([...managedOrgs, ...(claims?.organizations() ?? [])])].sort();
  const memberships = config.organizations && snapshot.organizationMembers ? await organizationMemberships(snapshot, orgsToRead) : undefined;
  const repairOps: SyncOperation[] = [];
  const judged = new Set<string>();
  /** The seeds over the whole export (the claimant rule is the core's). */
  const seeds = new Seeds();
  let emailAmbiguous = 0;

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
    logger.info("drift", { runId, keyLabel: label(entry.key), kind: verdict.kind, fields, repairQueued: repaired });
    if (result.drift.length < REPORTED_DRIFT) result.drift.push({ keyLabel: label(entry.key), userId: entry.userId ?? "", kind: verdict.kind, fields, repaired });
  };

  // The export, in batches: managed users are judged; users a row claims that the ledger does not know seed it.
  let batch: { user: TenantUser; claim?: Claim }[] = [];
  const flush = async () => {
    const keyOf = (b: (typeof batch)[number]) => managedKeys.get(b.user.user_id) ?? (b.claim?.kind === "row" ? b.claim.key : undefined);
    const entries = await ledger.users.getMany(batch.flatMap((b) => keyOf(b) ?? []));
    const toWrite: LedgerEntry[] = [];
    for (const { user, claim } of batch) {
      const managedKey = managedKeys.get(user.user_id);
      if (managedKey !== undefined) {
        const entry = entries.get(managedKey);
        // Drift in the managed organizations only: a membership elsewhere is not the applied profiles' to judge.
        if (entry) judge(entry, memberships ? { ...user, organizations: pick(memberships.get(user.user_id), managedOrgs) } : user);
        continue;
      }
      if (!claim) continue;
      if (claim.kind === "unclaimed") result.unclaimed++;
      if (claim.kind === "unmatched") result.unmatched++;
      if (claim.kind === "ambiguous") {
        emailAmbiguous++;
        logger.warn("ambiguous email: several rows have it", { runId, userId: user.user_id });
      }
      if (claim.kind !== "row") continue;
      const seed = seeds.seed(claim.key, user, entries.get(claim.key));
      if (seed.kind !== "seed") continue;
      const observed = memberships ? seedObservation({ ...user, organizations: memberships.get(user.user_id) ?? {} }, claims!.organizationsOf(seed.key)) : user;
      toWrite.push(seedEntry(seed.key, observed, runId));
    }
    if (write && toWrite.length > 0) await ledger.users.putMany(toWrite);
    batch = [];
  };
  for await (const u of snapshot.users()) {
    result.usersInTenant++;
    const user: TenantUser = roles ? { ...u, roles: roles.get(u.user_id) ?? [] } : u;
    batch.push({ user, claim: claims && !managedKeys.has(u.user_id) ? claimOf(user, config, claims) : undefined });
    if (batch.length >= BATCH) await flush();
  }
  await flush();

  // Managed users the export does not hold: gone from Auth0 (or blocked by mirror mode, left alone).
  const missing = [...managedKeys.values()].filter((k) => !judged.has(k));
  for (let i = 0; i < missing.length; i += BATCH) {
    const entries = await ledger.users.getMany(missing.slice(i, i + BATCH));
    for (const entry of entries.values()) judge(entry, undefined);
  }

  // A key several Auth0 users carry is never guessed: its seed is taken back (unless a row was applied to it
  // meanwhile), and the next sync looks the row up.
  const ambiguous = seeds.ambiguousKeys();
  for (const key of ambiguous) {
    logger.warn("ambiguous identity key: several Auth0 users carry it", { runId, keyLabel: label(key) });
    if (write) await ledger.users.deleteSeed(key);
  }
  // Counted in a dry run too (what a reconcile would remove), removed only when it writes.
  for (const key of staleSeeds) {
    result.seedsRemoved++;
    if (write) await ledger.users.deleteSeed(key);
  }
  if (result.unclaimed > 0) logger.info("users carry a sync key no row of the table has: left alone, not adopted", { runId, unclaimed: result.unclaimed });
  result.ambiguous = ambiguous.length + emailAmbiguous;
  result.adopted = seeds.adopted;

  if (write && repairOps.length > 0) {
    if (!deps.send) throw new Error("reconcile: repairs to send but no queue to send them to");
    await deps.send(packMessages(runId, repairOps, config.queue.usersPerMessage).map((m) => m.body));
    result.repairsQueued = repairOps.length;
  }
  result.auth0Calls = snapshot.calls;
  result.elapsedMs = Date.now() - started;
  logger.info("reconcile finished", { ...result, drift: undefined });
  return result;
}

/** The rows' claims (their mapped profiles; an invalid row claims nothing), and how many rows were read. */
async function readClaims(rows: RowSource, config: SyncConfig, result: ReconcileResult): Promise<RowClaims> {
  const mapper = new ProfileMapper(config);
  const claims = new RowClaims(config.identity.keyColumn !== undefined);
  let row = 0;
  for await (const page of rows.pages()) {
    for (const r of page.rows) {
      const mapped = mapper.map(r, ++row);
      if (mapped.ok) claims.add(mapped.profile);
    }
  }
  result.rowsRead = row;
  return claims;
}

/** The ledger's entry for a seed: the user as the export showed it, not managed (core/reconcile.ts, Seeds). */
const seedEntry = (key: string, user: TenantUser, runId: string): LedgerEntry => ({ key, userId: user.user_id, managed: false, observed: user, lastRunSeen: runId });

/** A user's memberships in the given organizations only. */
function pick(held: Record<string, string[]> | undefined, orgs: Set<string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(held ?? {}).filter(([org]) => orgs.has(org)));
}

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
