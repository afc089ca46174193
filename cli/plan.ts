/**
 * `plan`: the extract and the planning of a run, writing nothing. Rows go through the real extractor in dry-run
 * mode (same mapping, rejections, ledger filter and mirror planning as a run); each operation is then planned
 * against the ledger's last applied profile or, for users the ledger does not know, a read of Auth0.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { RowSource } from "../functions/core/source.js";
import type { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import { Auth0Error } from "../functions/adapters/auth0/errors.js";
import type { Ledger, LedgerEntry } from "../functions/adapters/ledger/ledger.js";
import { opKey, type SyncOperation, type UserOperation } from "../functions/adapters/sqs/message.js";
import { rateLimitsOf, type SyncConfig } from "../functions/core/config.js";
import { keyLabel } from "../functions/core/profile.js";
import { decideUser, knownOrganizations, startUser } from "../functions/core/decide.js";
import { diffOrganizations, diffRoles, organizationsChange } from "../functions/core/plan.js";
import { rejectionMessage, type CurrentUser, type Json, type RejectCode, type Rejection } from "../functions/core/types.js";
import { extract } from "../functions/extractor/extract.js";
import { resolveOrganizations } from "../functions/consumer/memberships.js";
import type { CopySample, PassedPath, SampleUser } from "../functions/core/copy-sample.js";

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
}

const EMAIL = /[^\s@"]+@[^\s@"]+/g;
/** Plans are read on screens and pasted into tickets: emails are masked (first character and domain kept). */
export function maskEmails(v: Json | undefined): Json | undefined {
  if (typeof v === "string") return v.replace(EMAIL, (m) => `${m[0]}***@${m.split("@")[1]}`);
  if (Array.isArray(v)) return v.map((x) => maskEmails(x) ?? null);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskEmails(x) ?? null]));
  return v;
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
  let lookups = 0;
  let lookupsSkipped = 0;
  let writes = 0;
  const maxLookups = deps.maxLookups ?? 500;
  const pending: UserOperation[] = [];
  const logger = new Logger({ logLevel: "SILENT" });
  // The key asked for, as the plan labels keys (an email identity's key is shown as a hash).
  const askedLabel = deps.key === undefined ? undefined : keyLabel(config, config.identity.keyColumn ? deps.key.trim() : deps.key.trim().toLowerCase());
  let askedUnchanged = false;
  const metrics = new Metrics({ namespace: "Auth0SyncPlan" });

  const result = await extract(
    {
      config,
      source: deps.source,
      logger,
      metrics,
      ledger,
      dryRun: { onOperation: (op) => void pending.push(op) },
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

  // A row a run would reject in the consumer (unknown role, identity conflict, mode): reported with the others.
  const reject = (op: SyncOperation, field: string, reason: string, code: RejectCode) => {
    counts.reject++;
    rejections.push({ code, field, reason, row: op.row, keyLabel: op.keyLabel });
  };
  const entries = ledger ? await ledger.getMany(pending.map(opKey)) : new Map<string, LedgerEntry>();
  for (const op of pending) {
    const entry = entries.get(opKey(op));
    if (op.kind !== "sync") {
      counts[op.kind]++;
      writes++;
      changes.push({ kind: op.kind, keyLabel: op.keyLabel, basis: "ledger", fields: op.kind === "block" ? [{ field: "blocked", before: false, after: true }] : [] });
      continue;
    }
    // The same decision a run takes (core/decide.ts). Where a run would create first and meet a 409, the plan
    // looks the user up instead (within --lookups), to tell a create from an adoption.
    const { desired, start, rolesToCheck } = startUser({ desired: op.desired, fingerprint: op.fingerprint, entry, config, hasLedger: ledger !== undefined });
    if (start.kind === "unchanged") {
      counts.unchanged++;
      if (op.keyLabel === askedLabel) askedUnchanged = true;
      continue;
    }
    if (rolesToCheck.length > 0 && config.roles) {
      // The tenant's roles are read once (a cached list); an unknown name rejects the row as a run would.
      let unknown: string | undefined;
      try {
        await auth0.roleIds(rolesToCheck);
      } catch (err) {
        if (!(err instanceof Auth0Error && err.kind === "unknown_role")) throw err;
        unknown = err.message;
      }
      if (unknown) {
        reject(op, config.roles.column, unknown, "unknown_role");
        continue;
      }
    }
    if (config.organizations && desired.organizations && Object.keys(desired.organizations).length > 0) {
      // The run's own check (organizations resolved once per process, member role names against the tenant's, only
      // those the change names when the memberships are known): an unknown one rejects the row, on the column it names.
      let unknown: Auth0Error | undefined;
      try {
        await resolveOrganizations(auth0, config.organizations, desired.organizations, knownOrganizations(start));
      } catch (err) {
        if (!(err instanceof Auth0Error && (err.kind === "unknown_organization" || err.kind === "unknown_role"))) throw err;
        unknown = err;
      }
      if (unknown) {
        reject(op, unknown.field ?? config.organizations.column, unknown.message, unknown.rejectCode);
        continue;
      }
    }
    let current: CurrentUser | null = null;
    let basis: PlannedChange["basis"] = "ledger";
    const rolesKnown = start.kind === "ledger" ? start.rolesKnown : undefined;
    if (start.kind === "ledger") {
      current = start.current;
    } else if (lookups < maxLookups) {
      lookups++;
      basis = "auth0";
      current = await auth0.findByEmail(desired.email);
    } else {
      lookupsSkipped++;
      basis = "not looked up";
    }
    const decision = decideUser({ desired, entry, config, basis: basis === "ledger" ? "ledger" : basis === "auth0" ? "auth0" : "create-first", current });
    if (decision.write === "reject" || decision.write === "retry") {
      if (decision.write === "reject") reject(op, decision.rejection.field, decision.rejection.reason, decision.rejection.code);
      continue;
    }
    let roleFields: FieldChange[] = [];
    if (config.roles && desired.roles) {
      const have = decision.write === "create" ? [] : (rolesKnown ?? []);
      const change = diffRoles(desired.roles, have, config.roles.removeUnlisted);
      if (change.add.length > 0 || change.remove.length > 0 || (decision.write !== "create" && !rolesKnown)) {
        roleFields = [{ field: "roles", before: rolesKnown ?? (decision.write === "create" ? [] : undefined), after: desired.roles }];
        writes += (change.add.length > 0 ? 1 : 0) + (change.remove.length > 0 ? 1 : 0);
      }
    }
    // Memberships: against what the ledger last applied (a run reads Auth0's for a user the ledger knows none of).
    let orgFields: FieldChange[] = [];
    if (config.organizations && desired.organizations) {
      const known = decision.write === "create" ? {} : start.kind === "ledger" ? start.organizationsKnown : undefined;
      const change = diffOrganizations(desired.organizations, known ?? {}, { removeUnlisted: config.organizations.removeUnlisted, roles: config.organizations.roles !== undefined });
      if (organizationsChange(change) || (decision.write !== "create" && !known)) {
        orgFields = [{ field: "organizations", before: known ?? undefined, after: desired.organizations }];
        writes += change.join.length + change.leave.length + change.addRoles.length + change.removeRoles.length;
      }
    }
    const extra = [...roleFields, ...orgFields];
    if (decision.write === "create") {
      counts.create++;
      writes++;
      changes.push({ kind: "create", row: op.row, keyLabel: op.keyLabel, basis, fields: [...fieldChanges(null, decision.body), ...extra] });
    } else if (decision.write === "patch" || extra.length > 0) {
      counts.update++;
      if (decision.write === "patch") writes++;
      const patchFields = decision.write === "patch" ? fieldChanges(current, decision.patch) : [];
      changes.push({ kind: "update", row: op.row, keyLabel: op.keyLabel, basis, fields: [...patchFields, ...extra] });
    } else {
      counts.unchanged++;
      if (op.keyLabel === askedLabel) askedUnchanged = true;
    }
  }
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
    ...(deps.sample ? { copySample: deps.sample.lines(), copyPassedByDeny: deps.sample.passedByDeny() } : {}),
  };
}

/** The sustained rate of the bucket user writes spend (the whole budget on a plan with one global bucket). */
function writeRate(config: SyncConfig): number {
  const limits = rateLimitsOf(config);
  return Math.round(limits.buckets[limits.groupBucket.writeUsers]!.requestsPerSecond * 100) / 100;
}
