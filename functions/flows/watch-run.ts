/**
 * The watch over one batch of tenant log events (EventBridge -> SQS -> this): another client's writes to users,
 * grouped so each user is read once per aspect, judged against what the sync applied (the reconcile's judgement,
 * core/watch.ts), and repaired through the sync's own queue, so pacing, retries, the DLQ and the outcomes apply as
 * to any row. Repairs are capped per user (a fight is reported, not fed). It decides nothing itself.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Ledger, LedgerEntry } from "../adapters/ledger/ledger.js";
import type { SyncOperation } from "../adapters/sqs/message.js";
import { packMessages } from "../adapters/sqs/sender.js";
import type { SyncConfig } from "../core/config.js";
import { repairs } from "../core/drift.js";
import { keyLabel } from "../core/profile.js";
import type { WatchNote } from "../core/records.js";
import { newRunId } from "../core/runs.js";
import type { CurrentUser } from "../core/types.js";
import { fightCheck, groupWrites, IGNORE_REASONS, judgeWatched, readLogEvent, readsFor, unjudged, WATCH_ACTIONS, watchedUser, type IgnoreReason, type WatchAction, type WatchedState, type WatchedWrite, type WatchTarget } from "../core/watch.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import { heldInAuth0 } from "./memberships.js";
import type { UserPort } from "./user-port.js";

/** What the watch reads of Auth0: a user, its roles, its memberships (the consumer's own adapter). */
export type WatchReader = Pick<UserPort, "userRoles" | "organizations"> & {
  getById(userId: string): Promise<CurrentUser | null>;
};

export interface WatchDeps {
  config: SyncConfig;
  ledger: Ledger;
  auth0: WatchReader;
  /** Sends repair messages to the sync's queue. */
  send: (bodies: string[]) => Promise<void>;
  logger: Pick<Logger, "info" | "warn">;
  /** The sync's own client ids (the config's and the credentials'): their writes are never repaired. */
  ownClientIds: string[];
  now?: () => number;
  /** Each batch's result, once its repairs are queued and recorded (the local runner's report). */
  onBatch?: (result: WatchBatchResult) => void;
}

export interface WatchBatchResult {
  runId: string;
  events: number;
  duplicates: number;
  ignored: Record<IgnoreReason, number>;
  actions: Record<WatchAction, number>;
  /** Managed users another client changed on an owned field (drifted or gone), repaired or not. */
  outsideEdits: number;
  /** Fields set back by the queued repairs, by name. */
  repairedFields: Record<string, number>;
  notes: WatchNote[];
  /** Indexes (in the batch's events) of the events whose user could not be judged: they must come back. */
  failed: number[];
}

/** Users judged at once: each is a few reads, paced by the adapter. */
const CONCURRENCY = 4;

export async function watchBatch(deps: WatchDeps, details: unknown[]): Promise<WatchBatchResult> {
  const { config, ledger, logger } = deps;
  const watch = config.watch;
  if (!watch) throw new Error("watch: the config has no watch section");
  const now = deps.now ?? Date.now;
  const runId = newRunId("watch", new Date(now()));
  const result: WatchBatchResult = {
    runId,
    events: details.length,
    duplicates: 0,
    ignored: Object.fromEntries(IGNORE_REASONS.map((r) => [r, 0])) as Record<IgnoreReason, number>,
    actions: Object.fromEntries(WATCH_ACTIONS.map((a) => [a, 0])) as Record<WatchAction, number>,
    outsideEdits: 0,
    repairedFields: {},
    notes: [],
    failed: [],
  };
  const writes: (WatchedWrite & { index: number })[] = [];
  const own = [...new Set([...deps.ownClientIds, ...(config.auth0.clientId ? [config.auth0.clientId] : [])])];
  details.forEach((d, index) => {
    const e = readLogEvent(d, { own, ignored: watch.ignoreClients });
    if (e.kind === "write") writes.push({ ...e.write, index });
    else result.ignored[e.reason]++;
  });
  const { targets, duplicates } = groupWrites(writes);
  result.duplicates = duplicates;
  const repairOps: SyncOperation[] = [];
  const memories: { key: string; state: { repairs: number[]; logIds: string[] } }[] = [];

  const judge = async (t: WatchTarget) => {
    const note = (action: WatchAction, extra: Partial<WatchNote> = {}) => {
      result.actions[action]++;
      result.notes.push({ at: new Date(now()).toISOString(), userId: t.userId, action, fields: [], clients: [...t.clients].sort(), ...extra });
    };
    const found = await managedEntry(ledger, t.userId);
    if (found === "ambiguous") {
      // Two managed entries name one Auth0 user: which profile is right is not the watch's to guess.
      logger.warn("several ledger entries manage this Auth0 user: left to the reconcile", { runId, userId: t.userId });
      return note("ambiguous");
    }
    const entry = found;
    if (!entry) return note("unmanaged");
    const label = keyLabel(config, entry.key);
    if (!entry.profile || !entry.fingerprint) return note("unmanaged", { keyLabel: label });
    if (entry.blockedAt) return note("left-alone", { keyLabel: label });
    // By identity key, not Auth0 user id: a user deleted and created again keeps its history (and its fight cap).
    const memory = await ledger.watch.userState(entry.key);
    const fresh = unjudged(t, memory.logIds);
    if (!fresh.judge) return note("redelivered", { keyLabel: label });
    // Remembered once the batch's repairs are sent: a batch that fails before is judged again when it comes back.
    const remember = (repairs = memory.repairs) => void memories.push({ key: entry.key, state: { repairs, logIds: fresh.remember } });
    const state = await read(deps, entry, t);
    const verdict = judgeWatched(entry, state, config);
    if (verdict.kind === "in-sync" || verdict.kind === "left-alone") {
      remember();
      return note(verdict.kind, { keyLabel: label });
    }
    result.outsideEdits++;
    const fields = verdict.kind === "drifted" ? verdict.drift.map((f) => f.field) : ["(deleted)"];
    const lagSeconds = Math.max(0, (now() - Date.parse(t.firstDate)) / 1000);
    if (!watch.repair || !repairs(verdict, config.mode)) {
      logger.info("outside edit reported", { runId, keyLabel: label, kind: verdict.kind, fields: verdict.kind === "drifted" ? verdict.drift : [] });
      remember();
      return note("reported", { keyLabel: label, fields });
    }
    const fight = fightCheck(memory.repairs, now(), watch.fightCap);
    remember(fight.history);
    if (!fight.repair) {
      logger.warn("outside edits keep coming: reported, not repaired (fight cap)", { runId, keyLabel: label, fields, clients: [...t.clients], cap: watch.fightCap });
      return note("fight", { keyLabel: label, fields });
    }
    const observed = watchedUser({ ...entry, userId: t.userId, profile: entry.profile }, state);
    repairOps.push({ kind: "sync", row: repairOps.length + 1, keyLabel: label, fingerprint: entry.fingerprint, desired: entry.profile, observed });
    for (const f of fields) result.repairedFields[f] = (result.repairedFields[f] ?? 0) + 1;
    // Each repair, per field (before -> after, emails masked by the core): the record of what the watch changes.
    logger.info("outside edit repaired", { runId, keyLabel: label, kind: verdict.kind, fields: verdict.kind === "drifted" ? verdict.drift : [], lagSeconds });
    note("repaired", { keyLabel: label, fields, lagSeconds });
  };
  // A user whose reads fail (Auth0 unreachable, the ledger throttled) fails the events that name it, not the batch:
  // they come back (and after the queue's receives, reach the watch DLQ); the others' repairs go.
  const failedLogIds = new Set<string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, targets.length) }, async () => {
      while (next < targets.length) {
        const t = targets[next++]!;
        await judge(t).catch((err: unknown) => {
          for (const id of t.logIds) failedLogIds.add(id);
          result.actions.failed++;
          logger.warn("a watched user could not be judged; its events come back", { runId, userId: t.userId, error: err instanceof Error ? err.message : String(err) });
        });
      }
    }),
  );
  result.failed = writes.filter((w) => failedLogIds.has(w.logId)).map((w) => w.index);
  if (repairOps.length > 0) await deps.send(packMessages(runId, repairOps, config.queue.usersPerMessage).map((m) => m.body));
  // Sent: from here nothing fails the batch (it would come back and repair again). A memory not written costs a
  // redelivery a read (and at worst an idempotent repair); a record not written, `status`'s figures.
  const bookkeeping = async (what: string, write: () => Promise<void>) =>
    write().catch((err: unknown) => logger.warn(`watch: ${what} not written`, { runId, error: err instanceof Error ? err.message : String(err) }));
  for (const m of memories) await bookkeeping("a user's memory", () => ledger.watch.setUserState(m.key, m.state));
  if (details.length > 0) await bookkeeping("the record", () => ledger.watch.record(counts(result), result.notes, new Date(now()).toISOString()));
  deps.onBatch?.(result);
  return result;
}

/** The managed entry that names this Auth0 user, if any (a seed, or an entry of another user, is not the watch's). */
async function managedEntry(ledger: Ledger, userId: string): Promise<LedgerEntry | "ambiguous" | undefined> {
  const keys = await ledger.watch.keysOf(userId);
  if (keys.length === 0) return undefined;
  const managed = [...(await ledger.users.getMany(keys)).values()].filter((e) => e.managed && e.userId === userId);
  return managed.length > 1 ? "ambiguous" : managed[0];
}

/** Reads what the events touched: the user (also to confirm a deletion), its roles, its memberships. */
async function read(deps: WatchDeps, entry: LedgerEntry, t: WatchTarget): Promise<WatchedState> {
  const { config, auth0 } = deps;
  const want = readsFor(t.aspects);
  const state: WatchedState = {};
  if (want.user) {
    state.user = await auth0.getById(t.userId);
    if (state.user === null) return state;
  }
  // A user deleted since the event (its deletion in a later batch): its roles and memberships answer 404.
  const gone = (err: unknown): true => {
    if (err instanceof Auth0Error && err.kind === "not_found") return true;
    throw err;
  };
  if (want.roles && config.roles) {
    const roles = await auth0.userRoles(t.userId).catch(gone);
    if (roles === true) return { user: null };
    state.roles = roles;
  }
  const desiredOrgs = entry.profile?.organizations;
  if (want.organizations && config.organizations && desiredOrgs) {
    const held = await heldInAuth0(auth0, config.organizations, t.userId, desiredOrgs).catch(gone);
    if (held === true) return { user: null };
    state.organizations = held;
  }
  return state;
}

/** The batch's figures as the watch's record counts them. */
function counts(r: WatchBatchResult): Record<string, number> {
  const ignored = Object.values(r.ignored).reduce((a, b) => a + b, 0);
  return { events: r.events, ignored, duplicates: r.duplicates, outsideEdits: r.outsideEdits, ...r.actions };
}
