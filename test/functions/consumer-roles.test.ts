import type { SQSEvent } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { packMessages } from "../../functions/adapters/sqs/sender.js";
import { createConsumerHandler } from "../../functions/flows/consumer-lambda.js";
import type { OutcomeEvent } from "../../functions/core/outcomes.js";
import type { SyncConfig } from "../../functions/core/config.js";
import { testConfig } from "../helpers/config.js";
import { lambdaContext, opsFor, sqsRecord } from "../helpers/consumer.js";
import { adapterFor, startEmulator, urlOf } from "../helpers/emulator.js";

const count = (emu: Awaited<ReturnType<typeof startEmulator>>, key: string) => emu.counters().byEndpoint[key] ?? 0;

async function setup(config: SyncConfig, roles: string[]) {
  const emu = await startEmulator({ roles });
  const auth0 = adapterFor(emu);
  const outcomes: OutcomeEvent[] = [];
  const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, onOutcome: (e) => outcomes.push(e) }));
  return { emu, auth0, outcomes, handler };
}

describe("consumer: role assignments grouped per role", () => {
  it("assigns the roles of an invocation's new users with one call per role, across its records", async () => {
    const config = testConfig({ mapping: { given_name: "first" }, roles: { column: "roles" }, unmappedColumns: "ignore" });
    const { emu, outcomes, handler } = await setup(config, ["admin", "viewer", "billing"]);
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.com`, first: `U${i}`, roles: i % 2 ? "viewer" : "admin,viewer" }));
    const messages = packMessages("run-1", opsFor(config, rows), 5);
    expect(messages).toHaveLength(4);
    const event: SQSEvent = { Records: messages.map((m, i) => sqsRecord(`m${i}`, m.body)) };
    expect(await handler(event, lambdaContext(60_000))).toEqual({ batchItemFailures: [] });
    expect(outcomes.map((o) => o.outcome)).toEqual(Array(20).fill("created"));
    // 20 creates, one role lookup, and one call per role for the four records together: 23 calls, not 40.
    expect(count(emu, "POST /api/v2/roles/:id/users 200")).toBe(2);
    expect(count(emu, "POST /api/v2/users/:id/roles 204")).toBe(0);
    expect(count(emu, "POST /api/v2/users 201")).toBe(20);
    const byEmail = new Map(emu.state().users.map((u) => [u.email, u.roles]));
    for (const [i, r] of rows.entries()) expect(byEmail.get(`u${i}@example.com`)).toEqual(r.roles.split(",").sort());
  });

  it("a grouped call refused because of one user leaves the others applied and rejects that user with Auth0's reason", async () => {
    // removeUnlisted off: the full user keeps its 50 roles, and the row's role is one too many.
    const config = testConfig({ mapping: { given_name: "first" }, roles: { column: "roles", removeUnlisted: false }, unmappedColumns: "ignore" });
    const fifty = Array.from({ length: 50 }, (_, i) => `r${i}`);
    const { emu, auth0, outcomes, handler } = await setup(config, ["admin", ...fifty]);
    const full = await auth0.create({ email: "full@example.com", given_name: "Full", app_metadata: { sync_key: "full" } });
    await auth0.assignRoles(full.user_id, fifty);
    emu.clearLog();
    const rows = [
      { id: "a", email: "a@example.com", first: "Ann", roles: "admin" },
      { id: "full", email: "full@example.com", first: "Full", roles: "admin" },
      { id: "b", email: "b@example.com", first: "Bob", roles: "admin" },
    ];
    const [msg] = packMessages("run-1", opsFor(config, rows), 25);
    expect(await handler({ Records: [sqsRecord("m1", msg!.body)] }, lambdaContext(60_000))).toEqual({ batchItemFailures: [] });
    const byKey = Object.fromEntries(outcomes.map((o) => [o.key, o]));
    expect(byKey.a?.outcome).toBe("created");
    expect(byKey.b?.outcome).toBe("created");
    expect(byKey.full?.outcome).toBe("rejected");
    expect(byKey.full?.rejection).toMatchObject({ row: 2, field: "auth0", reason: expect.stringMatching(/role/i) });
    // Refused as a whole, the call was halved until the full user was alone: [a, full, b] -> [a, full] refused,
    // [b] applied -> [a] applied, [full] refused.
    expect(count(emu, "POST /api/v2/roles/:id/users 400")).toBe(3);
    expect(count(emu, "POST /api/v2/roles/:id/users 200")).toBe(2);
    expect(count(emu, "POST /api/v2/users/:id/roles 204")).toBe(0);
    const roles = new Map(emu.state().users.map((u) => [u.email, u.roles]));
    expect(roles.get("a@example.com")).toEqual(["admin"]);
    expect(roles.get("b@example.com")).toEqual(["admin"]);
    expect(roles.get("full@example.com")).toHaveLength(50);
  });

  it("a user changing roles gains the new one before losing the old one, so it is never left with none", async () => {
    const config = testConfig({ mapping: { given_name: "first" }, roles: { column: "roles" }, unmappedColumns: "ignore" });
    const { emu, auth0, outcomes, handler } = await setup(config, ["admin", "viewer"]);
    const u = await auth0.create({ email: "a@example.com", given_name: "Ann", app_metadata: { sync_key: "a" } });
    await auth0.assignRoles(u.user_id, ["viewer"]);
    emu.clearLog();
    const [msg] = packMessages("run-1", opsFor(config, [{ id: "a", email: "a@example.com", first: "Ann", roles: "admin" }]), 25);
    expect(await handler({ Records: [sqsRecord("m1", msg!.body)] }, lambdaContext(60_000))).toEqual({ batchItemFailures: [] });
    expect(outcomes.map((o) => o.outcome)).toEqual(["updated"]);
    const writes = emu.requestLog.filter((e) => e.method !== "GET" && e.route.startsWith("/api/v2")).map((e) => `${e.method} ${e.route}`);
    expect(writes).toEqual(["POST /api/v2/roles/:id/users", "DELETE /api/v2/users/:id/roles"]);
    expect(emu.state().users[0]?.roles).toEqual(["admin"]);
  });

  it("a user at Auth0's role limit swapping a role loses the old one and then gains the new one", async () => {
    const config = testConfig({ mapping: { given_name: "first" }, roles: { column: "roles" }, unmappedColumns: "ignore" });
    const fifty = Array.from({ length: 50 }, (_, i) => `r${i}`);
    const { emu, auth0, outcomes, handler } = await setup(config, ["admin", ...fifty]);
    const u = await auth0.create({ email: "a@example.com", given_name: "Ann", app_metadata: { sync_key: "a" } });
    await auth0.assignRoles(u.user_id, fifty);
    // The row keeps 49 of the 50 and adds admin: the addition alone would make 51.
    const [msg] = packMessages("run-1", opsFor(config, [{ id: "a", email: "a@example.com", first: "Ann", roles: ["admin", ...fifty.slice(1)].join(",") }]), 25);
    expect(await handler({ Records: [sqsRecord("m1", msg!.body)] }, lambdaContext(60_000))).toEqual({ batchItemFailures: [] });
    expect(outcomes.map((o) => o.outcome)).toEqual(["updated"]);
    expect(emu.state().users[0]?.roles).toEqual(["admin", ...fifty.slice(1)].sort());
  });

  it("a grouped call that fails for a passing cause fails its record; the redelivery applies the roles and creates no user twice", async () => {
    const config = testConfig({ mapping: { given_name: "first" }, roles: { column: "roles" }, unmappedColumns: "ignore" });
    const emu = await startEmulator({ roles: ["admin", "viewer"] });
    // The first grouped call for a role is answered 503, as an overloaded Auth0 would.
    let failNext = true;
    const flaky: typeof fetch = (input, init) => {
      if (failNext && init?.method === "POST" && /\/roles\/[^/]+\/users$/.test(urlOf(input))) {
        failNext = false;
        return Promise.resolve(new Response(JSON.stringify({ statusCode: 503, error: "Service Unavailable", message: "try later" }), { status: 503 }));
      }
      return fetch(input, init);
    };
    const auth0 = adapterFor(emu, { maxRetries: 0, fetch: flaky });
    const outcomes: OutcomeEvent[] = [];
    const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, onOutcome: (e) => outcomes.push(e) }));
    const rows = Array.from({ length: 6 }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.com`, first: `U${i}`, roles: i < 3 ? "admin" : "viewer" }));
    const [msg] = packMessages("run-1", opsFor(config, rows), 25);
    const event: SQSEvent = { Records: [sqsRecord("m1", msg!.body)] };
    expect(await handler(event, lambdaContext(60_000))).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    // The users of the other role were settled; those of the failed call wait for the redelivery.
    expect(outcomes.map((o) => o.outcome)).toEqual(["created", "created", "created"]);
    expect(await handler(event, lambdaContext(60_000))).toEqual({ batchItemFailures: [] });
    expect(emu.state().users).toHaveLength(6);
    expect(new Map(emu.state().users.map((u) => [u.email, u.roles]))).toEqual(new Map(rows.map((r) => [r.email, [r.roles]])));
    expect(new Set(outcomes.map((o) => o.key))).toEqual(new Set(rows.map((r) => r.id)));
  });
});
