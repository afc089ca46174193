/**
 * The watch (issue 28), `npm run bench -- --only watch` (and in the whole run): a first sync of `rows` demo users
 * with their roles, then the local watch (the emulator's tenant log -> the local bus with the stack's rule -> the
 * watch queue, the deployed 5 s batching window -> the real watch handler -> the sync's queue -> the consumers) while
 * the Dashboard edits `edits` managed users at a steady trickle (`perSecond`): a name, an owned metadata key, a
 * role added, a block, in turn. Measured, from the emulator:
 * - each edit's repair latency: from the Dashboard's answer to the first moment the tenant shows the repaired value
 *   (polled every 50 ms); p50, p95, max. Target: p95 <= 60 s.
 * - Auth0 calls of the sync's client (the watch's reads and the repairs) per edited user. Target: <= 3.
 * - the sync's own run while the watch runs (`ownWrites` rows changed in the warehouse, a real run in the same
 *   stand-ins, so its writes reach the same tenant log): repairs they trigger. Target: 0.
 * - edits of a field the sync does not own (a metadata key it does not map): writes they cost. Target: 0.
 */
import type { SyncConfig } from "../functions/core/config.js";
import type { WatchNote } from "../functions/core/records.js";
import type { RequestLogEntry, TenantState } from "../local/auth0-emulator.js";
import { runLocalPipeline, runLocalWatch, type LocalEnvironment } from "../local/pipeline.js";
import { WATCH_BATCH_WINDOW_MS } from "../local/runtime/local-watch.js";
import { DEMO_TABLE } from "../local/demo-data.js";
import { cleanRows, writeWarehouse } from "./warehouse.js";
import { join } from "node:path";

export interface WatchFigures {
  rows: number;
  edits: number;
  perSecond: number;
  batchWindowMs: number;
  latencyS: { p50: number; p95: number; max: number };
  repaired: number;
  /** PATCHes the sync's own run made while the watch ran (`ownWrites` rows changed in the warehouse). */
  ownWrites: number;
  /** Edits not repaired within 2 minutes, with what the watch noted of their user. */
  unrepaired: { key: string; edit: string; notes: string[] }[];
  callsPerEditedUser: number;
  callsByRoute: Record<string, number>;
  repairsFromOwnWrites: number;
  unownedEdits: number;
  writesFromUnownedEdits: number;
  met: { latency: boolean; calls: boolean; own: boolean; unowned: boolean };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? Number.NaN;
};

type Edit = { key: string; method: string; path: (id: string) => string; body: unknown; repaired: (u: TenantState["users"][number]) => boolean };

export async function watchScenario(opts: { config: SyncConfig; root: string; rows?: number; edits?: number; perSecond?: number; ownWrites?: number; unownedEdits?: number; log?: (s: string) => void }): Promise<WatchFigures> {
  const rows = opts.rows ?? 300;
  const edits = opts.edits ?? 120;
  const perSecond = opts.perSecond ?? 2;
  const ownWrites = opts.ownWrites ?? 50;
  const unownedEdits = opts.unownedEdits ?? 20;
  if (edits + unownedEdits + ownWrites > rows) throw new Error("watch bench: edits, unowned edits and own writes each need users of their own");
  const stateDir = join(opts.root, "watch");
  // Clean demo rows, one role each, no organization, none blocked: every edit below is a change of an owned field.
  const data = cleanRows(rows).map((r) => ({ ...r, roles: "viewer", orgs: null, org_roles: null, is_blocked: false }));
  await writeWarehouse(stateDir, data);
  const config: SyncConfig = { ...opts.config, create: { ...opts.config.create, bulk: "off" }, organizations: undefined };
  const first = await runLocalPipeline({ config, stateDir, rate: 50 });
  opts.log?.(`watch: first sync ${JSON.stringify({ created: first.created, unaccounted: first.unaccounted })}`);

  const stop = new AbortController();
  let env!: LocalEnvironment;
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  let repairs = 0;
  const notes: WatchNote[] = [];
  const notesOf = (userId: string) => notes.filter((n) => n.userId === userId).map((n) => `${n.action} ${n.fields.join(",")}`);
  const watching = runLocalWatch({
    config,
    stateDir,
    rate: 50,
    signal: stop.signal,
    onEnvironment: (e) => void (env = e),
    // Listening: the tenant log feeds the bus from here.
    onBus: () => ready(),
    onBatch: (b) => {
      repairs += b.actions.repaired;
      notes.push(...b.notes);
    },
  });
  await started;
  opts.log?.("watch: listening");
  const emulator = env.emulator!;
  const users = () => emulator.state().users;
  const keyOf = (u: TenantState["users"][number]) => (typeof u.app_metadata.sync_key === "string" ? u.app_metadata.sync_key : "");
  const byKey = new Map(users().map((u) => [keyOf(u), u]));
  // Users with a name and a plan (demo rows may lack either; an edit of a field the sync does not hold would be an
  // unowned one, which part 3 measures apart).
  const keys = [...byKey.keys()].filter((k) => byKey.get(k)!.given_name !== undefined && byKey.get(k)!.user_metadata.plan !== undefined).sort();
  if (keys.length < edits + ownWrites + unownedEdits) throw new Error(`watch bench: ${keys.length} users with a name and a plan, ${edits + ownWrites + unownedEdits} needed`);
  const editor = emulator.state().roles.find((r) => r.name === "editor")!.id;
  const kinds: ((key: string) => Edit)[] = [
    (key) => ({ key, method: "PATCH", path: (id) => `/users/${encodeURIComponent(id)}`, body: { given_name: "Edited" }, repaired: (u) => u.given_name === byKey.get(key)!.given_name }),
    (key) => ({ key, method: "PATCH", path: (id) => `/users/${encodeURIComponent(id)}`, body: { user_metadata: { plan: "edited" } }, repaired: (u) => u.user_metadata.plan === byKey.get(key)!.user_metadata.plan }),
    (key) => ({ key, method: "POST", path: (id) => `/users/${encodeURIComponent(id)}/roles`, body: { roles: [editor] }, repaired: (u) => !(u.roles ?? []).includes("editor") }),
    (key) => ({ key, method: "PATCH", path: (id) => `/users/${encodeURIComponent(id)}`, body: { blocked: true }, repaired: (u) => u.blocked !== true }),
  ];

  // 1. Owned fields, at a steady trickle; each edit's latency until the tenant shows it repaired.
  const logStart = emulator.requestLog.length;
  const pending = new Map<string, { edit: Edit; at: number }>();
  const latencies: number[] = [];
  const unrepaired: { key: string; edit: string; notes: string[] }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling || pending.size > 0) {
      const now = Date.now();
      const current = new Map(users().map((u) => [keyOf(u), u]));
      for (const [key, p] of pending) {
        const u = current.get(key);
        if (u && p.edit.repaired(u)) {
          latencies.push((now - p.at) / 1000);
          pending.delete(key);
        }
      }
      // An edit not repaired within 2 minutes is reported as such (the figures say so), not waited for forever.
      for (const [key, p] of pending) {
        if (Date.now() - p.at <= 120_000) continue;
        unrepaired.push({ key, edit: `${p.edit.method} ${JSON.stringify(p.edit.body)}`, notes: notesOf(byKey.get(key)!.user_id) });
        pending.delete(key);
      }
      await sleep(50);
    }
  })();
  for (let i = 0; i < edits; i++) {
    const edit = kinds[i % kinds.length]!(keys[i]!);
    const t0 = Date.now();
    const res = await emulator.dashboardEdit(edit.method, edit.path(byKey.get(edit.key)!.user_id), edit.body);
    if (res.status >= 300) throw new Error(`watch bench: the Dashboard edit answered ${res.status}`);
    pending.set(edit.key, { edit, at: Date.now() });
    await sleep(Math.max(0, 1000 / perSecond - (Date.now() - t0)));
  }
  polling = false;
  opts.log?.(`watch: ${edits} edits made, ${pending.size} not repaired yet`);
  await poller;
  // The batches still under way (in-sync re-reads of users already repaired, if any) land before calls are counted.
  await sleep(WATCH_BATCH_WINDOW_MS + 2000);
  const callLog = emulator.requestLog.slice(logStart).filter((e: RequestLogEntry) => e.route !== "/oauth/token");
  const callsByRoute = callLog.reduce<Record<string, number>>((m, e) => ((m[`${e.method} ${e.route}`] = (m[`${e.method} ${e.route}`] ?? 0) + 1), m), {});
  const repaired = repairs;

  // 2. The sync's own run while the watch runs: `ownWrites` rows changed in the warehouse, a run in the same stand-ins
  // (its writes reach the same tenant log); the rule drops them (the sync's client id).
  const repairsBefore = repairs;
  const ownKeys = keys.slice(edits, edits + ownWrites);
  await env.redshiftEmulator!.db.query(`UPDATE ${DEMO_TABLE} SET first_name = first_name || 'R' WHERE customer_id = ANY($1)`, [ownKeys]);
  const logBefore = emulator.requestLog.length;
  await runLocalPipeline({ config, stateDir, environment: env });
  const ownPatches = emulator.requestLog.slice(logBefore).filter((e) => e.method === "PATCH").length;
  // 3. Fields the sync does not own: a metadata key it does not map.
  const writesBefore = emulator.requestLog.length;
  for (let i = 0; i < unownedEdits; i++) await emulator.dashboardEdit("PATCH", `/users/${encodeURIComponent(byKey.get(keys[edits + ownWrites + i]!)!.user_id)}`, { user_metadata: { notes: "theirs" } });
  await sleep(WATCH_BATCH_WINDOW_MS + 3000);
  const writesFromUnowned = emulator.requestLog.slice(writesBefore).filter((e) => e.method !== "GET" && e.route !== "/oauth/token").length;
  stop.abort();
  await watching;

  const latencyS = { p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), max: Math.max(...latencies) };
  const callsPerEditedUser = callLog.length / edits;
  const f: WatchFigures = {
    rows,
    edits,
    perSecond,
    batchWindowMs: WATCH_BATCH_WINDOW_MS,
    latencyS,
    repaired,
    unrepaired,
    callsPerEditedUser,
    callsByRoute,
    ownWrites: ownPatches,
    repairsFromOwnWrites: repairs - repairsBefore,
    unownedEdits,
    writesFromUnownedEdits: writesFromUnowned,
    met: { latency: latencyS.p95 <= 60 && latencies.length === edits, calls: callsPerEditedUser <= 3, own: ownPatches > 0 && repairs - repairsBefore === 0, unowned: writesFromUnowned === 0 },
  };
  opts.log?.(`watch: ${JSON.stringify(f)}`);
  return f;
}

export function watchLines(f: WatchFigures): string[] {
  const met = (b: boolean) => (b ? "met" : "NOT met");
  return [
    "",
    `The watch: ${f.edits} Dashboard edits of owned fields (a name, a metadata key, a role, a block, in turn) of managed users at ${f.perSecond}/s, after a first sync of ${f.rows} users; the watch's batching window ${f.batchWindowMs / 1000} s as deployed:`,
    "",
    "| edits | repaired | latency p50 (s) | p95 (s) | max (s) | Auth0 calls per edited user | own writes -> repairs | unowned edits -> writes |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| ${f.edits} | ${f.repaired} | ${f.latencyS.p50.toFixed(1)} | ${f.latencyS.p95.toFixed(1)} | ${f.latencyS.max.toFixed(1)} | ${f.callsPerEditedUser.toFixed(2)} | ${f.ownWrites} PATCHes of a run -> ${f.repairsFromOwnWrites} repairs | ${f.unownedEdits} -> ${f.writesFromUnownedEdits} |`,
    "",
    `Calls by route: ${Object.entries(f.callsByRoute).map(([r, n]) => `${r} x${n}`).join(", ")}.`,
    ...(f.unrepaired.length > 0 ? [`Not repaired within 2 minutes: ${f.unrepaired.map((u) => `${u.key} (${u.edit}; the watch: ${u.notes.join("; ") || "nothing"})`).join(", ")}.`] : []),
    `Targets: p95 <= 60 s: ${met(f.met.latency)}; <= 3 calls per edited user: ${met(f.met.calls)}; the sync's own writes trigger 0 repairs: ${met(f.met.own)}; an unowned field costs 0 writes: ${met(f.met.unowned)}.`,
  ];
}
