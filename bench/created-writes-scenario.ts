/**
 * The per-user path for smaller creates (issue 27's last point): a first sync of 300 clean demo users with one role
 * at the default config (25 users an invocation), against a tenant of 10/s (config and tenant one global bucket),
 * with and without another client spending half the bucket. Their creates are one call each; their roles go through
 * the writes queue, grouped across invocations (functions/core/created-writes.ts). Measured from the emulator's
 * request log: calls per new user (429s included) and the share of 429s. Targets: <= 1.05 calls per new user, and
 * < 1% 429s with the competitor.
 */
import { join } from "node:path";
import type { SyncConfig } from "../functions/core/config.js";
import type { RequestLogEntry } from "../local/auth0-emulator.js";
import { runLocalPipeline } from "../local/pipeline.js";
import { cleanRows, writeWarehouse } from "./warehouse.js";

export interface CreatedWritesRun {
  name: string;
  rows: number;
  created: number;
  unaccounted: number;
  calls: number;
  status429: number;
  roleCalls: number;
  roleLookups: number;
  perNewUser: number;
  share429: number;
  syncS: number;
  /** Calls by method, route and status. */
  routes: Record<string, number>;
}

export interface CreatedWritesFigures {
  runs: CreatedWritesRun[];
  met: { calls: boolean; share429: boolean };
}

const RATE = 10;

export async function createdWritesScenario(opts: { config: SyncConfig; root: string; rows?: number }): Promise<CreatedWritesFigures> {
  const rows = opts.rows ?? 300;
  // One role each, bulk off: the per-user path this scenario is about (300 is under create.bulkMinUsers anyway).
  const config: SyncConfig = { ...opts.config, create: { ...opts.config.create, bulk: "off" } };
  const runs: CreatedWritesRun[] = [];
  for (const [name, competitor] of [
    ["alone", undefined],
    ["another client at half the bucket", RATE / 2],
  ] as const) {
    const stateDir = join(opts.root, `created-writes-${runs.length}`);
    // One role each, and nothing else that costs a call of its own: no organization (member roles are a call per
    // user), no blocked user (a PATCH after the create).
    await writeWarehouse(stateDir, cleanRows(rows).map((r) => ({ ...r, roles: "viewer", orgs: null, org_roles: null, is_blocked: false })));
    let log: readonly RequestLogEntry[] = [];
    const s = await runLocalPipeline({
      config,
      stateDir,
      rate: RATE,
      ...(competitor ? { competitor: { requestsPerSecond: competitor } } : {}),
      onEnvironment: (env) => void (log = env.emulator!.requestLog),
    });
    const api = log.filter((e) => e.route !== "/oauth/token");
    const calls = api.length;
    const status429 = api.filter((e) => e.status === 429).length;
    runs.push({
      name,
      rows,
      created: s.created,
      unaccounted: s.unaccounted,
      calls,
      status429,
      roleCalls: api.filter((e) => e.method === "POST" && e.route === "/api/v2/roles/:id/users" && e.status < 300).length,
      roleLookups: api.filter((e) => e.method === "GET" && e.route === "/api/v2/roles").length,
      perNewUser: calls / Math.max(1, s.created),
      share429: calls === 0 ? 0 : status429 / calls,
      syncS: s.syncMs / 1000,
      routes: api.reduce<Record<string, number>>((m, e) => ((m[`${e.method} ${e.route} ${e.status}`] = (m[`${e.method} ${e.route} ${e.status}`] ?? 0) + 1), m), {}),
    });
  }
  return { runs, met: { calls: runs.every((r) => r.perNewUser <= 1.05), share429: (runs[1]?.share429 ?? 1) < 0.01 } };
}

export function createdWritesLines(f: CreatedWritesFigures): string[] {
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    "",
    `The per-user path for smaller creates: 300 new users with one role, default config, a tenant of ${RATE}/s (roles grouped across invocations through the writes queue):`,
    "",
    "| run | created | unaccounted | Auth0 calls | per new user | grouped role calls | role lookups | 429s (share) | sync (s) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...f.runs.map((r) => `| ${r.name} | ${n(r.created)} | ${r.unaccounted} | ${n(r.calls)} | ${r.perNewUser.toFixed(3)} | ${r.roleCalls} | ${r.roleLookups} | ${r.status429} (${(r.share429 * 100).toFixed(2)}%) | ${r.syncS.toFixed(1)} |`),
    "",
    `Targets: <= 1.05 calls per new user: ${f.met.calls ? "met" : "NOT met"}; < 1% 429s with the competitor: ${f.met.share429 ? "met" : "NOT met"}.`,
  ];
}
