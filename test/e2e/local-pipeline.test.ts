import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import type { Auth0Emulator, TenantState } from "../../local/auth0-emulator.js";
import { generateUsers, type DemoRow } from "../../local/demo-data.js";
import { runLocalPipeline, type LocalRunSummary } from "../../local/pipeline.js";
import { tempDir } from "../helpers/tmp.js";

// The example's SQL reads in key order: the expectations number the rows as generated.
const config = parseConfig(readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8"));
const ROWS = 1000;

/** What the tenant must hold, worked out from the generated rows without the product's code. */
function expectations() {
  const { rows, flaws } = generateUsers(ROWS);
  const read = rows.map((r, i) => ({ r, flaw: flaws[i] })).filter(({ r }) => r.status !== "test");
  const seen = new Set<string>();
  const valid: DemoRow[] = [];
  const invalid: { row: number; key: string; field: RegExp }[] = [];
  read.forEach(({ r, flaw }, i) => {
    const row = i + 1;
    const dupEmail = r.email !== null && seen.has(r.email);
    if (flaw === "bad_email") invalid.push({ row, key: r.customer_id, field: /: email: is not a valid email address$/ });
    else if (flaw === "bad_phone") invalid.push({ row, key: r.customer_id, field: /: phone_number: expected E\.164/ });
    else if (flaw === "dotted_key") invalid.push({ row, key: r.customer_id, field: /: user_metadata\.preferences: metadata keys may not/ });
    else if (dupEmail) invalid.push({ row, key: r.customer_id, field: /: email: the same email address is already used by row \d+/ });
    else if (flaw === "unknown_role") invalid.push({ row, key: r.customer_id, field: /: roles: unknown role: superuser/ });
    else if (flaw === "unknown_org") invalid.push({ row, key: r.customer_id, field: /: orgs: unknown organization: nowhere-inc/ });
    else valid.push(r);
    // The extractor registers an email once the row passes mapping (an unknown role is only found later).
    if (flaw !== "bad_email" && flaw !== "bad_phone" && flaw !== "dotted_key" && r.email) seen.add(r.email);
  });
  return { rowsRead: read.length, valid, invalid };
}

/** The tenant reduced to what the sync controls, keyed by email. */
function project(state: TenantState): Record<string, unknown> {
  return Object.fromEntries<unknown>(
    state.users.map((u) => [
      String(u.email),
      {
        given_name: u.given_name,
        family_name: u.family_name,
        phone_number: u.phone_number,
        picture: u.picture,
        blocked: u.blocked ?? false,
        user_metadata: u.user_metadata,
        app_metadata: u.app_metadata,
        roles: u.roles,
      },
    ]),
  );
}

function expectedProjection(valid: DemoRow[]): Record<string, unknown> {
  return Object.fromEntries<unknown>(
    valid.map((r) => [
      String(r.email),
      {
        given_name: r.first_name ?? undefined,
        family_name: r.last_name ?? undefined,
        phone_number: r.phone ?? undefined,
        picture: r.avatar_url ?? undefined,
        blocked: r.is_blocked,
        user_metadata: { plan: r.plan, preferences: JSON.parse(r.preferences!) },
        app_metadata: { sync_key: r.customer_id, tier: r.tier },
        roles: [...new Set(r.roles!.split(","))].sort(),
      },
    ]),
  );
}

const tenant = (dir: string) => JSON.parse(readFileSync(join(dir, "tenant.json"), "utf8")) as TenantState;

describe("the local pipeline, end to end", () => {
  const exp = expectations();
  const dir = tempDir();
  let first: LocalRunSummary;

  it("syncs exactly the valid users with their mapped fields, and reports every invalid row with its reason", async () => {
    let emulator: Auth0Emulator | undefined;
    first = await runLocalPipeline({ config, stateDir: dir, fresh: true, seedRows: ROWS, rate: 400, onEnvironment: (env) => void (emulator = env.emulator) });
    const calls = emulator!.counters().byEndpoint;
    expect(first.rowsRead).toBe(exp.rowsRead);
    expect(first.unaccounted).toBe(0);
    expect(first.created).toBe(exp.valid.length);
    expect(first.rejected).toBe(exp.invalid.length);
    expect(first.created + first.rejected + first.updated + first.unchanged + first.deadLettered).toBe(first.rowsRead);
    expect(first.deadLettered).toBe(0);
    expect(project(tenant(dir))).toEqual(expectedProjection(exp.valid));
    expect(first.rejections).toHaveLength(exp.invalid.length);
    exp.invalid.forEach((inv, i) => {
      expect(first.rejections[i]).toMatch(new RegExp(`^row ${inv.row}, key ${inv.key}${inv.field.source}`));
    });
    expect(exp.invalid.length).toBeGreaterThan(10);
    // Roles went in groups (POST /roles/{id}/users, at least 5 users a call on average), never user by user.
    expect(calls["POST /api/v2/users/:id/roles 204"] ?? 0).toBe(0);
    expect(calls["POST /api/v2/roles/:id/users 200"]).toBeLessThanOrEqual(exp.valid.length / 5);
  }, 120_000);

  it("a second run over the same warehouse creates no duplicate and changes nothing", async () => {
    const second = await runLocalPipeline({ config, stateDir: dir, rate: 400 });
    expect(second).toMatchObject({ rowsRead: exp.rowsRead, created: 0, updated: 0, unchanged: exp.valid.length, rejected: exp.invalid.length, unaccounted: 0 });
    const state = tenant(dir);
    expect(state.users).toHaveLength(exp.valid.length);
    expect(new Set(state.users.map((u) => u.email)).size).toBe(exp.valid.length);
  }, 120_000);

  it("with 10% of Auth0 answers failing (5xx), the end state is the same", async () => {
    const faulty = tempDir();
    const run = await runLocalPipeline({ config, stateDir: faulty, fresh: true, seedRows: ROWS, rate: 400, failRate: 0.1 });
    expect(run.unaccounted).toBe(0);
    expect(run.deadLettered).toBe(0);
    expect(run.created + run.updated + run.unchanged).toBe(exp.valid.length);
    expect(run.rejected).toBe(exp.invalid.length);
    expect(project(tenant(faulty))).toEqual(expectedProjection(exp.valid));
  }, 180_000);
});
