/**
 * Issue 24, point 6: the demo tenant (config/example.yml with its organizations, `npm start`'s 2,000 demo rows)
 * with its ledger lost. One reconcile and the next run must cost at most 64 Management API calls in all (the
 * emulator's request log, tokens left out): the reconcile reads the organizations' members once, so the run after
 * it reads no user's memberships one by one, and resolves no organization whose membership does not change.
 *
 * The reconcile and the runs after it keep example.yml's own budget (16 requests/s: two consumer instances). The
 * demo's deliberately flawed rows (an unknown role, an unknown organization) are rejected by the consumer at every
 * run, after one lookup per consumer instance that gets one: with more instances (`npm start --rate 200` runs 25)
 * they cost more (see docs/reconcile.md, "Cost in calls").
 */
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import type { Auth0Emulator, RequestLogEntry } from "../../local/auth0-emulator.js";
import { runLocalPipeline, runLocalReconcile } from "../../local/pipeline.js";
import { tempDir } from "../helpers/tmp.js";

const ROWS = 2000;
const config = parseConfig(readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8"));
const managementCalls = (log: readonly RequestLogEntry[]) => log.filter((e) => e.route !== "/oauth/token");
const byRoute = (log: readonly RequestLogEntry[]) => {
  const out: Record<string, number> = {};
  for (const e of managementCalls(log)) out[`${e.method} ${e.route} ${e.status}`] = (out[`${e.method} ${e.route} ${e.status}`] ?? 0) + 1;
  return out;
};
/** Only the flawed rows' lookups: the tenant's roles, organizations by name (the unknown one refused). */
const FLAWED_ROWS_ROUTES = new Set(["GET /api/v2/roles 200", "GET /api/v2/organizations/name/:id 200", "GET /api/v2/organizations/name/:id 404"]);

describe("reconcile: the demo tenant with its ledger lost (organizations on)", () => {
  it("one reconcile and the next run cost at most 64 calls; the run after adopts everyone; a third costs only the flawed rows", async () => {
    const dir = tempDir();
    const first = join(dir, "first");
    // The tenant as a first sync of the demo warehouse leaves it (fast: the budget only matters from here on).
    expect(await runLocalPipeline({ config, stateDir: first, seedRows: ROWS, rate: 1000, fresh: true })).toMatchObject({ unaccounted: 0 });
    // The tenant alone in a new state directory: the ledger is lost.
    const state = join(dir, "lost");
    mkdirSync(state, { recursive: true });
    cpSync(join(first, "tenant.json"), join(state, "tenant.json"));

    let emulator: Auth0Emulator | undefined;
    const keep = { onEnvironment: (env: { emulator?: Auth0Emulator }) => void (emulator = env.emulator) };
    const r = await runLocalReconcile({ config, stateDir: state, seedRows: ROWS, ...keep });
    const reconcileRoutes = byRoute(emulator!.requestLog);
    const reconcileCalls = managementCalls(emulator!.requestLog).length;
    expect(r).toMatchObject({ managed: 0, ambiguous: 0, unclaimed: 0, repairsQueued: 0 });
    expect(r.adopted).toBe(r.usersInTenant);
    // The organizations the rows name are looked up once each and their members read 100 a call; no user alone.
    expect(Object.keys(reconcileRoutes).filter((k) => k.includes("/users/:id/"))).toEqual([]);

    const next = await runLocalPipeline({ config, stateDir: state, ...keep });
    const nextRoutes = byRoute(emulator!.requestLog);
    const nextCalls = managementCalls(emulator!.requestLog).length;
    // Everyone adopted: nothing created, nothing unaccounted, the demo's flawed rows rejected as ever.
    expect(next).toMatchObject({ created: 0, unaccounted: 0, deadLettered: 0 });
    expect(next.updated + next.unchanged).toBe(r.adopted);
    expect(Object.keys(nextRoutes).filter((k) => !FLAWED_ROWS_ROUTES.has(k)), JSON.stringify(nextRoutes)).toEqual([]);
    expect(reconcileCalls + nextCalls, JSON.stringify({ reconcileCalls, nextCalls, reconcileRoutes, nextRoutes })).toBeLessThanOrEqual(64);

    // A third run: every row is applied, so only the deliberately flawed rows cost calls (their unknown role or
    // organization is looked up again by each consumer instance that gets one, and refused again).
    const third = await runLocalPipeline({ config, stateDir: state, ...keep });
    expect(third).toMatchObject({ created: 0, updated: 0, unaccounted: 0 });
    const thirdRoutes = byRoute(emulator!.requestLog);
    expect(Object.keys(thirdRoutes).filter((k) => !FLAWED_ROWS_ROUTES.has(k)), JSON.stringify(thirdRoutes)).toEqual([]);
    expect(third.rejected).toBe(next.rejected);
  }, 300_000);
});
