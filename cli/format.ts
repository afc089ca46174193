/**
 * Text for humans. Every command also has --json, which prints the report object as is.
 */
import type { RunRecord } from "../functions/adapters/ledger/ledger.js";
import { IMPORT_USERS_PER_SECOND } from "../functions/core/import-batches.js";
import type { RunSummary } from "../functions/core/runs.js";
import type { Json } from "../functions/core/types.js";
import type { KeyPlan, PlanReport, PlannedChange } from "./plan.js";
import { formatLastReconcile } from "./format-reconcile.js";
import { formatWatchStatus } from "./format-watch.js";
import { pendingOf } from "./runs.js";
import type { RedriveReport, RunReport, StatusReport } from "./targets/target.js";

export const formatCount = (v: number | undefined) => (v === undefined ? "-" : v.toLocaleString("en-US"));
const table = (rows: [string, string | number][]) => rows.map(([k, v]) => `${k.padEnd(16)}${typeof v === "number" ? formatCount(v) : v}`).join("\n");
export const plural = (k: number, word: string) => `${formatCount(k)} ${word}${k === 1 ? "" : "s"}`;
export const show = (v: Json | undefined) => (v === undefined ? "(none)" : JSON.stringify(v));

/** A duration to come, in the largest unit that keeps it readable. */
const duration = (seconds: number): string => (seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`);

export function age(seconds: number | undefined): string {
  if (seconds === undefined) return "-";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

function change(c: PlannedChange): string {
  const head = `  ${c.kind.padEnd(7)} ${c.row !== undefined ? `row ${c.row}  ` : ""}key ${c.keyLabel}${c.basis === "ledger" || c.kind === "create" ? "" : `  (${c.basis === "auth0" ? "read from Auth0" : "not looked up"})`}`;
  const lines = [head];
  for (const f of c.fields) lines.push(`      ${f.field.padEnd(28)} ${show(f.before)} -> ${show(f.after)}`);
  return lines.join("\n");
}

/** `plan --key K`: what the run does with that key's row, whatever it is (a change, a rejection, nothing, no row). */
function keyLines(k: KeyPlan): string[] {
  const name = k.keyLabel === k.key ? `key ${k.key}` : `key ${k.key} (${k.keyLabel})`;
  if (k.change) return [`Changes (for ${name}):`, change(k.change)];
  if (k.verdict === "reject") return [`The row of ${name} is rejected:`, ...k.rejections.map((r) => `  ${r}`)];
  if (k.verdict === "unchanged") return [`The row of ${name} is unchanged: Auth0 holds what it says (no call).`];
  return [`No row of the table has ${name} (or its row has no usable identity key).`];
}

export function formatPlan(where: string, p: PlanReport, shown: PlannedChange[], key?: string): string {
  const c = p.counts;
  const out = [
    `Plan for ${where}: a dry run, nothing was written.`,
    "",
    table([
      ["rows read", p.rowsRead],
      ["create", c.create],
      ["update", c.update],
      ["unchanged", c.unchanged],
      ["reject", c.reject],
      ["block", c.block],
      ["delete", c.delete],
      ["Auth0 writes", `${formatCount(p.writes)}  (about ${Math.ceil(p.writes / p.rps)} s at ${p.rps} requests/s)`],
      ["Auth0 lookups", `${formatCount(p.lookups)}  (users the ledger does not know${p.lookupsSkipped ? `; ${formatCount(p.lookupsSkipped)} more not looked up, raise --lookups` : ""})`],
    ]),
  ];
  if (p.imports) {
    const i = p.imports;
    out.push(
      "",
      `${plural(i.users, "new user")} would be created through ${plural(i.jobs, "Auth0 import job")} (create.bulk, docs/imports.md): about ${duration(i.seconds)} at Auth0's figure of ${IMPORT_USERS_PER_SECOND} users/s, two jobs at a time; their roles and memberships follow in grouped calls. Their creates are not among the Auth0 writes above.`,
    );
  }
  if (p.copySample && p.copySample.length > 0) {
    out.push("", `What the target gets, for the first ${p.copySample.length} source users (source values masked):`);
    for (const u of p.copySample) {
      out.push(`  key ${u.key}`);
      for (const v of u.values) out.push(`      ${v.field.padEnd(16)} ${v.source} -> ${v.target}`);
    }
  }
  const passed = p.copyPassedByDeny;
  if (passed && passed.paths.length > 0) {
    out.push("", `Metadata a deny list lets through (every source user read; an allow list names what it copies: docs/tenant-copy.md):`);
    const width = Math.max(...passed.paths.map((x) => x.path.length)) + 2;
    for (const x of passed.paths.slice(0, 40)) out.push(`  ${x.path.padEnd(width)}${plural(x.users, "user")}`);
    if (passed.paths.length > 40) out.push(`  ... and ${formatCount(passed.paths.length - 40)} more paths (--json lists them)`);
    if (passed.truncated) out.push(`  (more distinct paths than are counted: only the first ${formatCount(passed.paths.length)} are)`);
  }
  if (p.unmappedColumns.length > 0) {
    out.push("", `Unmapped columns, written to user_metadata under their own names (unmappedColumns: user_metadata): ${p.unmappedColumns.join(", ")}`);
  }
  if (p.mirror?.held) out.push("", `Mirror mode would hold the run: ${p.mirror.heldReason}`);
  if (key !== undefined && p.forKey) out.push("", ...keyLines(p.forKey));
  else if (shown.length > 0) {
    const which = shown.length === p.changes.length ? "all" : `${shown.length} of ${p.changes.length}; --all for every one, --key K for one`;
    out.push("", `Changes (${which}):`);
    for (const x of shown) out.push(change(x));
  } else if (p.changes.length === 0 && c.reject === 0) {
    out.push("", p.copySample ? "Nothing to change: the target tenant already matches the source tenant." : "Nothing to change: Auth0 already matches the table.");
  }
  // With --key, that key's rejection is shown above: the run's others are not its business.
  if (p.rejections.length > 0 && key === undefined) {
    out.push("", `Rejected rows (${p.rejections.length > 5 ? `first 5 of ${formatCount(p.rejections.length)}` : p.rejections.length}):`);
    for (const r of p.rejections.slice(0, 5)) out.push(`  ${r}`);
  }
  return out.join("\n");
}

/** A run's summary, the same for `auth0-sync run` (a stack or --local) and `npm start`. */
export function formatRun(r: RunReport): string {
  const rows: [string, string | number][] = [
    ["run", r.runId],
    ["status", r.status],
    ["rows read", r.rowsRead],
    ...(r.segments ? ([["segments", `${formatCount(r.segments.done)} / ${formatCount(r.segments.total)}`]] as [string, string][]) : []),
    ["created", r.created],
    ["updated", r.updated],
    ["unchanged", r.unchanged],
    ["rejected", r.rejected],
    ["dead-lettered", r.deadLettered],
    ["blocked", r.blocked],
    ["deleted", r.deleted],
    ["unaccounted", r.unaccounted],
  ];
  if (r.importJobs) rows.push(["import jobs", r.importJobs], ["imported users", r.importedUsers ?? 0]);
  if (r.auth0Calls !== undefined) rows.push(["Auth0 calls", r.auth0Calls]);
  if (r.auth0Status429 !== undefined) rows.push(["Auth0 429s", r.auth0Status429]);
  rows.push(["elapsed", `${(r.elapsedMs / 1000).toFixed(1)} s`]);
  const out = [table(rows)];
  if (r.executionUrl) out.push("", `execution: ${r.executionUrl}`);
  if (r.status === "running") out.push("", `Started; follow it with 'auth0-sync status' (the run id is ${r.runId}).`);
  if (r.heldReason) out.push("", `Held: ${r.heldReason}`);
  if (r.error) out.push("", r.status === "interrupted" ? `Interrupted: ${r.error}.` : `The extract failed: ${r.error}`);
  if (r.skippedReason) out.push("", `Skipped: ${r.skippedReason}. The next scheduled run will do the work.`);
  if (r.unaccounted > 0 && r.status !== "running" && r.status !== "interrupted") out.push("", `${plural(r.unaccounted, "user")} ${r.unaccounted === 1 ? "has" : "have"} no outcome yet: in flight or in the DLQ ('auth0-sync status').`);
  if (r.topReasons && r.topReasons.length > 0) {
    out.push("", "top reasons for rejection:");
    for (const t of r.topReasons) out.push(`  ${formatCount(t.count).padStart(6)}  ${t.code}`);
  }
  if (r.rejections.length > 0) {
    out.push("", `first rejections (${formatCount(r.rejections.length)} in all):`);
    for (const x of r.rejections.slice(0, 5)) out.push(`  ${x}`);
  }
  return out.join("\n");
}

function runLine(r: RunRecord & { executionUrl?: string }): string {
  const s: Partial<RunSummary> = r.summary ?? {};
  const c = r.counts ?? {};
  const cells = [
    r.runId.padEnd(30),
    r.status.padEnd(10),
    r.startedAt.replace("T", " ").slice(0, 19).padEnd(20),
    formatCount(s.rowsRead).padStart(9),
    formatCount(c.created ?? 0).padStart(8),
    formatCount(c.updated ?? 0).padStart(8),
    formatCount((c.unchanged ?? 0) + (s.unchanged ?? 0)).padStart(10),
    formatCount((c.rejected ?? 0) + (s.rejected ?? 0)).padStart(9),
    formatCount((c.blocked ?? 0) + (c.deleted ?? 0)).padStart(16),
    formatCount(pendingOf(r)).padStart(8),
  ];
  const segments = r.segments ?? s.segments;
  // The execution's page for every run of a stack that unloads: a failed one (no segment yet) most of all.
  const parts = [
    segments ? `segments ${formatCount(segments.done)} / ${formatCount(segments.total)}` : undefined,
    r.imports ? `${plural(r.imports.jobs, "import job")}, ${plural(r.imports.users, "imported user")}` : undefined,
    r.executionUrl ? `execution ${r.executionUrl}` : undefined,
  ].filter(Boolean);
  const unloaded = parts.length > 0 ? `\n      ${parts.join(", ")}` : "";
  return `  ${cells.join(" ")}${unloaded}${r.error ? `\n      ${r.error}` : ""}${r.heldReason ? `\n      held: ${r.heldReason}` : ""}${r.skippedReason ? `\n      skipped: ${r.skippedReason}` : ""}`;
}

/** Why a run that has ended still has pending users, when the queues cannot explain it. */
function pendingNote(r: RunRecord, s: StatusReport): string | undefined {
  const pending = pendingOf(r) ?? 0;
  if (pending <= 0) return undefined;
  if (r.status === "interrupted") {
    const p: Partial<RunSummary> = r.summary ?? {};
    const notSent = p.enqueued === undefined ? undefined : Math.max(0, (p.rowsRead ?? 0) - (p.unchanged ?? 0) - (p.rejected ?? 0) - p.enqueued);
    const sent = notSent === undefined ? undefined : pending - notSent;
    return notSent === undefined
      ? `${r.runId} was interrupted with ${plural(pending, "user")} pending: those it had sent are applied as the consumers get to them (or end in the DLQ); the next run sends the rest.`
      : `${r.runId} was interrupted with ${plural(pending, "user")} pending: ${formatCount(sent)} sent (applied as the consumers get to them, or in the DLQ) and ${formatCount(notSent)} read but never sent, which the next run sends.`;
  }
  const queued = s.queue.visible + s.queue.inFlight + s.dlq.visible;
  if (r.status !== "running" && queued === 0) {
    return `${r.runId} has ${plural(pending, "user")} pending and nothing is queued or in the DLQ: their messages were lost (a local run stopped mid-consume) or a consumer stopped after applying them, before counting them; the next run sends again whatever is not applied.`;
  }
  return undefined;
}

export function formatStatus(s: StatusReport): string {
  const out = [`Status of ${s.where}`, "", "Last runs"];
  if (s.runs.length === 0) out.push("  (none yet)");
  else {
    out.push(`  ${"RUN".padEnd(30)} ${"STATUS".padEnd(10)} ${"STARTED (UTC)".padEnd(20)} ${"READ".padStart(9)} ${"CREATED".padStart(8)} ${"UPDATED".padStart(8)} ${"UNCHANGED".padStart(10)} ${"REJECTED".padStart(9)} ${"BLOCKED+DELETED".padStart(16)} ${"PENDING".padStart(8)}`);
    for (const r of s.runs) out.push(runLine({ ...r, executionUrl: s.executionUrls?.[r.runId] }));
    out.push("  (PENDING: users with no outcome yet, in flight or in the DLQ)");
    const notes = s.runs.map((r) => pendingNote(r, s)).filter((x): x is string => x !== undefined);
    if (notes.length > 0) out.push("", ...notes);
  }
  out.push("");
  out.push(`Queue           ${formatCount(s.queue.visible)} waiting, ${formatCount(s.queue.inFlight)} in flight${s.queue.oldestAgeSeconds !== undefined ? `, oldest ${age(s.queue.oldestAgeSeconds)}` : ""}`);
  out.push(`DLQ             ${plural(s.dlq.visible, "message")}${s.dlq.oldestAgeSeconds !== undefined ? `, oldest ${age(s.dlq.oldestAgeSeconds)}` : ""}`);
  if (s.alarms === undefined) out.push("Alarms          none locally (CloudWatch alarms exist only in a deployed stack)");
  else {
    const firing = s.alarms.filter((a) => a.state !== "OK");
    out.push(`Alarms          ${s.alarms.length - firing.length} OK${firing.length ? `, ${firing.length} not OK:` : ""}`);
    for (const a of firing) out.push(`  ${a.state.padEnd(17)} ${a.name}${a.reason ? `: ${a.reason}` : ""}`);
  }
  if (s.dashboardUrl) out.push(`Dashboard       ${s.dashboardUrl}`);
  out.push(...formatLastReconcile(s.lastReconcile));
  out.push(...formatWatchStatus(s.watch));
  if (s.dlqSample.length > 0) {
    out.push("", `DLQ sample (${s.dlqSample.length} of ${formatCount(s.dlq.visible)}, read without consuming them):`);
    for (const m of s.dlqSample) {
      out.push(`  message ${m.messageId}${m.runId ? `  ${m.runId}` : ""}  ${plural(m.users, "user")}`);
      for (const r of m.reasons.slice(0, 3)) out.push(`      ${r}`);
      if (m.reasons.length > 3) out.push(`      ... and ${m.reasons.length - 3} more`);
    }
    out.push("", "Fix the cause, then move them back with 'auth0-sync redrive'.");
  }
  return out.join("\n");
}

export function formatRedrive(r: RedriveReport): string {
  if (r.dryRun) return `${plural(r.messages, "message")} would move from the DLQ back to the main queue (dry run: nothing moved).`;
  const p = r.progress;
  const out = [`Redrive ${p?.status === "CANCELLED" ? "cancelled" : "finished"}: ${formatCount(p?.moved ?? 0)} of ${plural(r.messages, "message")} moved back to the main queue.`];
  if (r.processed) {
    const parts = Object.entries(r.processed).map(([o, k]) => `${formatCount(k)} ${o}`);
    out.push(`Processed by the consumers: ${parts.length ? parts.join(", ") : "no users"}; ${plural(r.left ?? 0, "message")} in the DLQ now.`);
  }
  return out.join("\n");
}
