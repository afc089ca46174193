import { describe, expect, it } from "vitest";
import { Auth0Error } from "../../functions/adapters/auth0/errors.js";
import { WriteGroups } from "../../functions/flows/write-groups.js";

/** A fake of the two adapter calls: records them, and fails as told. */
function fakeAuth0(fail: { grouped?: (roleId: string, users: string[]) => Error | undefined; single?: (userId: string) => Error | undefined } = {}) {
  const grouped: [string, string[]][] = [];
  const single: [string, string[]][] = [];
  return {
    grouped,
    single,
    assignRoleToUsers: (roleId: string, users: string[]) => {
      grouped.push([roleId, [...users]]);
      const err = fail.grouped?.(roleId, users);
      return err ? Promise.reject(err) : Promise.resolve();
    },
    forgotten: 0,
    forgetRoles() {
      this.forgotten++;
    },
    assignRoleIds: (userId: string, roles: string[]) => {
      single.push([userId, [...roles]]);
      const err = fail.single?.(userId);
      return err ? Promise.reject(err) : Promise.resolve();
    },
  };
}

const settled = (p: Promise<void>) => p.then(() => "ok", (e: Error) => e.message);
const tick = () => new Promise((r) => setImmediate(r));

describe("role groups (one invocation's role assignments)", () => {
  it("sends one call per role once every operation has parked or finished", async () => {
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 1);
    groups.opened(4);
    const [s1, s2, s3, s4] = [groups.slot(), groups.slot(), groups.slot(), groups.slot()];
    const a = settled(s1.add("u1", ["rA"]));
    const b = settled(s2.add("u2", ["rA", "rB"]));
    await tick();
    // Two operations may still add: nothing is sent yet.
    expect(auth0.grouped).toEqual([]);
    const c = settled(s3.add("u3", ["rA"]));
    s4.release();
    expect(await Promise.all([a, b, c])).toEqual(["ok", "ok", "ok"]);
    expect(auth0.grouped).toEqual([
      ["rA", ["u1", "u2", "u3"]],
      ["rB", ["u2"]],
    ]);
    expect(auth0.single).toEqual([]);
  });

  it("waits for the invocation's other records before sending", async () => {
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 2);
    groups.opened(1);
    const a = settled(groups.slot().add("u1", ["rA"]));
    await tick();
    expect(auth0.grouped).toEqual([]);
    groups.opened(1);
    const b = settled(groups.slot().add("u2", ["rA"]));
    expect(await Promise.all([a, b])).toEqual(["ok", "ok"]);
    expect(auth0.grouped).toEqual([["rA", ["u1", "u2"]]]);
  });

  it("sends a full group at once, without waiting for the others", async () => {
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 1, { cap: 2 });
    groups.opened(3);
    const a = settled(groups.slot().add("u1", ["rA"]));
    const b = settled(groups.slot().add("u2", ["rA"]));
    expect(await Promise.all([a, b])).toEqual(["ok", "ok"]);
    expect(auth0.grouped).toEqual([["rA", ["u1", "u2"]]]);
    const last = groups.slot();
    const c = settled(last.add("u3", ["rA"]));
    expect(await c).toBe("ok");
    expect(auth0.grouped).toEqual([
      ["rA", ["u1", "u2"]],
      ["rA", ["u3"]],
    ]);
  });

  it("a grouped call Auth0 refuses is split until the user at fault is alone: the others are applied, that one fails with its own reason", async () => {
    const tooMany = new Auth0Error("assign role to users: Auth0 answered 400: A user can have at most 50 roles", { kind: "rejected", retryable: false, statusCode: 400 });
    // Auth0 applies all or none: any call that lists u6 is refused.
    const auth0 = fakeAuth0({ grouped: (_r, users) => (users.includes("u6") ? tooMany : undefined) });
    const groups = new WriteGroups(auth0, 1);
    const users = Array.from({ length: 16 }, (_, i) => `u${i}`);
    groups.opened(users.length);
    const results = await Promise.all(users.map((u) => settled(groups.slot().add(u, ["rA"]))));
    expect(results).toEqual(users.map((u) => (u === "u6" ? tooMany.message : "ok")));
    // Halving: 16 -> 8 -> 4 -> 2 -> 1 refused (5 calls) and their other halves applied (4 calls), not 16 calls.
    expect(auth0.grouped).toHaveLength(9);
    expect(auth0.single).toEqual([]);
  });

  it("a role deleted in Auth0 since its name was looked up fails no user for good: names are looked up again, the users retried", async () => {
    const gone = new Auth0Error("assign role to users: Auth0 answered 404: The role does not exist.", { kind: "not_found", retryable: false, statusCode: 404, errorCode: "inexistent_role" });
    const auth0 = fakeAuth0({ grouped: () => gone });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(8);
    const errors = await Promise.all(Array.from({ length: 8 }, (_, i) => groups.slot().add(`u${i}`, ["rA"]).then(() => undefined, (e: unknown) => e)));
    expect(errors.every((e) => e instanceof Auth0Error && e.retryable)).toBe(true);
    // One call, not a halving down to each user.
    expect(auth0.grouped).toHaveLength(1);
    expect(auth0.forgotten).toBe(1);
  });

  it("when Auth0 refuses the grouped endpoint itself (403, a scope), the invocation goes on user by user", async () => {
    const forbidden = new Auth0Error("assign role to users: Auth0 answered 403: Insufficient scope", { kind: "auth", retryable: true, statusCode: 403 });
    const auth0 = fakeAuth0({ grouped: () => forbidden });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(3);
    const results = await Promise.all([settled(groups.slot().add("u1", ["rA"])), settled(groups.slot().add("u2", ["rA", "rB"])), settled(groups.slot().add("u3", ["rB"]))]);
    expect(results).toEqual(["ok", "ok", "ok"]);
    // The two groups went out together and were refused; then four single calls for the four assignments.
    expect(auth0.grouped).toHaveLength(2);
    expect(auth0.single.map(([u, r]) => `${u}:${r.join()}`).sort()).toEqual(["u1:rA", "u2:rA", "u2:rB", "u3:rB"]);
  });

  it("sends the waiting groups when the Lambda's time runs short, even if operations may still join", async () => {
    const auth0 = fakeAuth0();
    let left = 60_000;
    const groups = new WriteGroups(auth0, 1, { timeLeftMs: () => left, safetyMs: 10_000 });
    groups.opened(2);
    const a = settled(groups.slot().add("u1", ["rA"]));
    await new Promise((r) => setTimeout(r, 300));
    expect(auth0.grouped).toEqual([]);
    left = 9_000;
    expect(await a).toBe("ok");
    expect(auth0.grouped).toEqual([["rA", ["u1"]]]);
  });

  it("a passing failure of a grouped call fails each of its users retryably, and only them", async () => {
    const down = new Auth0Error("assign role to users: HTTP 503", { kind: "server", retryable: true, statusCode: 503 });
    const auth0 = fakeAuth0({ grouped: (roleId) => (roleId === "rB" ? down : undefined) });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(3);
    const errors: unknown[] = [];
    const run = (u: string, roles: string[]) => groups.slot().add(u, roles).catch((e: unknown) => void errors.push(e));
    await Promise.all([run("u1", ["rA"]), run("u2", ["rA", "rB"]), run("u3", ["rB"])]);
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => e instanceof Auth0Error && e.retryable)).toBe(true);
    // No user-by-user calls after a passing failure: SQS delivers the record again.
    expect(auth0.single).toEqual([]);
  });
});
