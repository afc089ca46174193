/**
 * `plan`: the extract and the planning of a run, writing nothing. Rows go through the real extractor in dry-run
 * mode (same mapping, rejections, ledger filter and mirror planning as a run); each operation is then planned
 * against the ledger's last applied profile or, for users the ledger does not know, a read of Auth0.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import type { Ledger, LedgerEntry } from "../functions/adapters/ledger/ledger.js";
import { rateLimitsOf } from "../functions/core/budget.js";
import type { SyncConfig } from "../functions/core/config.js";
import type { CopySample, PassedPath, SampleUser } from "../functions/core/copy-sample.js";
import type { Basis, UserDecision } from "../functions/core/decide.js";
import { maskEmails } from "../functions/core/emails.js";
import { importEstimate, type ImportEntry, type ImportEstimate } from "../functions/core/import-batches.js";
import { createBody } from "../functions/core/write-plan.js";
import { organizationsChange, type OrganizationChange, type RoleChange } from "../functions/core/membership-diff.js";
import { opKey, opWhere, type OpResult, type UserOperation } from "../functions/core/operations.js";
import { keyLabel } from "../functions/core/profile.js";
import type { RowSource } from "../functions/core/source.js";
import { rejectionMessage, type CurrentUser, type Json, type Rejection } from "../functions/core/types.js";
import { runExtract } from "../functions/flows/extract-run.js";
import { ContradictoryAnswerError, runUserFlow, type UserFlowObserver } from "../functions/flows/user-flow.js";
import { RecordingUserPort } from "./plan-port.js";

/** The decision the flow took for a user, as the plan saw it. */
type Decided = { basis: Basis; current: CurrentUser | null; decision: UserDecision };

export type PlannedKind = "create" | "update" | "unchanged" | "reject" | "block" | "delete";
type ChangeKind = Exclude<PlannedKind, "unchanged" | "reject">;

export interface FieldChange {
  field: string;
  before?: Json;
  after?: Json;
}

export interface PlannedChange {
  kind: ChangeKind;
  row?: number;
  keyLabel: string;
  /** Looked up in Auth0 (not in the ledger) or known from the ledger. */
  basis: "ledger" | "auth0" | "not looked up";
  fields: FieldChange[];
}

export interface PlanReport {
  rowsRead: number;
  counts: Record<PlannedKind, number>;
  /** Rows a run would reject (mapping, duplicates, unknown roles, conflicts), with row and field, in row order. */
  rejections: string[];
  /** Every planned create, update, block and delete. */
  changes: PlannedChange[];
  /** Auth0 reads the plan made (users the ledger does not know) and those it skipped over --lookups. */
  lookups: number;
  lookupsSkipped: number;
  /** Auth0 writes a run would make (creates, patches, blocks, deletes, role changes). */
  writes: number;
  /** The request budget the writes would be paced at. */
  rps: number;
  mirror?: { absent: number; held: boolean; heldReason?: string };
  /** Columns of the result the config does not name, which a run writes to user_metadata under their names. */
  unmappedColumns: string[];
  /** A tenant copy: the first source users, masked, beside the values the target would get. */
  copySample?: SampleUser[];
  /** With `--key K`: what the run would do with that key's row (also when it is unchanged, rejected or not in the table). */
  forKey?: KeyPlan;
  /** A tenant copy: the metadata paths deny lists let through, over every source user read (core/copy-sample.ts). */
  copyPassedByDeny?: { paths: PassedPath[]; truncated: boolean };
  /**
   * New users a run would create through Auth0 import jobs (docs/imports.md): how many, in how many jobs, and about
   * how long Auth0 takes at its own figure. They are among `create`; their creates are not in `writes`.
   */
  imports?: ImportEstimate;
}

function fieldChanges(before: CurrentUser | null, after: Record<string, unknown>): FieldChange[] {
  const out: FieldChange[] = [];
  const b = (before ?? {}) as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(after)) {
    if (field === "user_metadata" || field === "app_metadata") {
      const old = (b[field] ?? {}) as Record<string, Json>;
      for (const [k, v] of Object.entries(value as Record<string, Json>)) {
        out.push({ field: `${field}.${k}`, before: maskEmails(old[k]), after: v === null ? undefined : maskEmails(v) });
      }
    } else {
      out.push({ field, before: maskEmails(b[field] as Json | undefined), after: value === null ? undefined : maskEmails(value as Json) });
    }
  }
  return out;
}

/** What a run would do with one key's row. */
export interface KeyPlan {
  /** The key as given, and its label in the plan (the key, or its hash when the identity is the email). */
  key: string;
  keyLabel: string;
  verdict: PlannedKind | "absent";
  /** Its rejections (a row of that key, or several rows sharing it). */
  rejections: string[];
  change?: PlannedChange;
}

export interface PlanDeps {
  config: SyncConfig;
  /** The rows, as the extractor reads them (core/source.ts). */
  source: RowSource;
  ledger?: Ledger;
  auth0: Auth0Adapter;
  /** At most this many Auth0 lookups (users the ledger does not know); the rest are planned unread. */
  maxLookups?: number;
  onProgress?: (p: { rowsRead: number; totalRows?: number }) => void;
  /** A tenant copy: the source users read, masked beside what the target gets (filled while the source is read). */
  sample?: CopySample;
  /** Report what happens to this key's row (`forKey`). */
  key?: string;
}

export async function planRun(deps: PlanDeps): Promise<PlanReport> {
  const { config, ledger, auth0 } = deps;
  const counts: Record<PlannedKind, number> = { create: 0, update: 0, unchanged: 0, reject: 0, block: 0, delete: 0 };
  const changes: PlannedChange[] = [];
  const rejections: Rejection[] = [];
  const maxLookups = deps.maxLookups ?? 500;
  const pending: UserOperation[] = [];
  const importBatches: ImportEntry[][] = [];
  const logger = new Logger({ logLevel: "SILENT" });
  // The key asked for, as the plan labels keys (an email identity's key is shown as a hash).
  const askedLabel = deps.key === undefined ? undefined : keyLabel(config, config.identity.keyColumn ? deps.key.trim() : deps.key.trim().toLowerCase());
  let askedUnchanged = false;
  const metrics = new Metrics({ namespace: "Auth0SyncPlan" });

  const result = await runExtract(
    {
      config,
      source: deps.source,
      logger,
      metrics,
      ledger,
      dryRun: { onOperation: (op) => void pending.push(op), onImportBatch: (users) => void importBatches.push(users) },
      onOutcome: (e) => {
        if (e.outcome === "unchanged") counts.unchanged++;
        if (e.outcome === "unchanged" && e.keyLabel === askedLabel) askedUnchanged = true;
        if (e.outcome === "rejected" && e.rejection) {
          counts.reject++;
          rejections.push(e.rejection);
        }
      },
      onProgress: (p) => deps.onProgress?.({ rowsRead: p.rowsRead, totalRows: p.totalRows }),
    },
    {},
  );

  // Each operation through the run's own user flow (functions/flows/user-flow.ts), against a port that reads Auth0
  // as a run would (within --lookups) and records the writes instead of making them.
  const port = new RecordingUserPort(auth0, maxLookups);
  let seen: { decided?: Decided; roles?: { have: string[]; change: RoleChange }; memberships?: { applied: Record<string, string[]>; change: OrganizationChange } } = {};
  const observer: UserFlowObserver = {
    decided: (e) => void (seen.decided = e),
    roles: (e) => void (seen.roles = { have: e.have, change: e.change }),
    memberships: (e) => void (seen.memberships = { applied: e.applied, change: e.change }),
  };
  const flow = { config, auth0: port, hasLedger: ledger !== undefined, observer, strict: true };
  const entries = ledger ? await ledger.users.getMany(pending.map(opKey)) : new Map<string, LedgerEntry>();
  for (const op of pending) {
    seen = {};
    let res: OpResult;
    try {
      res = await runUserFlow(flow, "plan", op, entries.get(opKey(op)));
    } catch (err) {
      // Auth0's answers contradict each other (a 409, then no user): a run would try the user again; not planned.
      if (err instanceof ContradictoryAnswerError) continue;
      throw err;
    }
    if ("retry" in res) throw new Error(`the plan could not be made for ${opWhere(op)}: ${res.retry}`);
    // (The plan's flow defers nothing: a create's roles and memberships are planned with it.)
    if ("deferred" in res) throw new Error(`the plan deferred ${opWhere(op)}`);
    if (op.kind !== "sync") {
      if (res.outcome === "unchanged") counts.unchanged++;
      else {
        counts[op.kind]++;
        changes.push({ kind: op.kind, keyLabel: op.keyLabel, basis: "ledger", fields: op.kind === "block" ? [{ field: "blocked", before: false, after: true }] : [] });
      }
      continue;
    }
    if (res.outcome === "rejected") {
      counts.reject++;
      if (res.rejection) rejections.push(res.rejection);
      continue;
    }
    const d = seen.decided;
    const kind = res.outcome === "created" && d?.decision.write === "create" ? "create" : res.outcome === "unchanged" ? "unchanged" : "update";
    if (kind === "unchanged" || !d) {
      counts.unchanged++;
      if (op.keyLabel === askedLabel) askedUnchanged = true;
      continue;
    }
    counts[kind]++;
    const basis: PlannedChange["basis"] = d.basis === "ledger" ? "ledger" : port.unread.has(op.desired.email) ? "not looked up" : "auth0";
    const fields = d.decision.write === "create" ? fieldChanges(null, d.decision.body) : d.decision.write === "patch" ? fieldChanges(d.current, d.decision.patch) : [];
    const r = seen.roles;
    if (r && (r.change.add.length > 0 || r.change.remove.length > 0)) fields.push({ field: "roles", before: [...r.have].sort(), after: op.desired.roles });
    const m = seen.memberships;
    if (m && organizationsChange(m.change)) fields.push({ field: "organizations", before: m.applied, after: op.desired.organizations });
    changes.push({ kind, row: op.row, keyLabel: op.keyLabel, basis, fields });
  }
  // New users a run would import: created by the job from the row's profile, Auth0 not read for them (an email
  // that exists already is found when the job reports it, and made to match the per-user way).
  for (const { op } of importBatches.flat()) {
    counts.create++;
    const fields = fieldChanges(null, createBody(op.desired));
    if (config.roles && op.desired.roles && op.desired.roles.length > 0) fields.push({ field: "roles", before: [], after: op.desired.roles });
    if (config.organizations && op.desired.organizations) fields.push({ field: "organizations", before: {}, after: op.desired.organizations });
    changes.push({ kind: "create", row: op.row, keyLabel: op.keyLabel, basis: "not looked up", fields });
  }
  const importedUsers = importBatches.reduce((n, b) => n + b.length, 0);
  const { lookups, lookupsSkipped, writes } = port;
  changes.sort((a, b) => (a.row ?? Infinity) - (b.row ?? Infinity));
  rejections.sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
  let forKey: KeyPlan | undefined;
  if (deps.key !== undefined && askedLabel !== undefined) {
    const change = changes.find((c) => c.keyLabel === askedLabel);
    const rejected = rejections.filter((r) => r.keyLabel === askedLabel).map(rejectionMessage);
    const verdict = change ? change.kind : rejected.length > 0 ? "reject" : askedUnchanged ? "unchanged" : "absent";
    forKey = { key: deps.key, keyLabel: askedLabel, verdict, rejections: rejected, ...(change ? { change } : {}) };
  }
  return {
    rowsRead: result.rowsRead,
    counts,
    rejections: rejections.map(rejectionMessage),
    changes,
    lookups,
    lookupsSkipped,
    writes,
    rps: writeRate(config),
    mirror: result.mirror && { absent: result.mirror.absent, held: result.mirror.held, heldReason: result.mirror.heldReason },
    unmappedColumns: result.unmappedColumns ?? [],
    ...(forKey ? { forKey } : {}),
    ...(importedUsers > 0 ? { imports: importEstimate(importedUsers, importBatches.length) } : {}),
    ...(deps.sample ? { copySample: deps.sample.lines(), copyPassedByDeny: deps.sample.passedByDeny() } : {}),
  };
}

/** The sustained rate of the bucket user writes spend (the whole budget on a plan with one global bucket). */
function writeRate(config: SyncConfig): number {
  const limits = rateLimitsOf(config);
  return Math.round(limits.buckets[limits.groupBucket.writeUsers]!.requestsPerSecond * 100) / 100;
}
