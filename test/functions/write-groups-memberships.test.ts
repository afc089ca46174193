/**
 * WriteGroups' organization memberships: joins and leaves grouped per organization (at most ORG_MEMBERS_PER_CALL
 * members a call), a refusal split until the user at fault is alone, an organization gone (404) forgotten and its
 * users retried, and the organization's failure winning over a role's in a user's outcome.
 */
import { describe, expect, it } from "vitest";
import { Auth0Error } from "../../functions/adapters/auth0/errors.js";
import { ORG_MEMBERS_PER_CALL, OrganizationWriteError } from "../../functions/adapters/auth0/organizations.js";
import { WriteGroups } from "../../functions/flows/write-groups.js";

type Fail = (id: string, users: string[]) => Error | undefined;

/** A fake of the grouped role writes and the organizations' membership writes: records the calls, fails as told. */
function fakeAuth0(fail: { add?: Fail; remove?: Fail; role?: Fail } = {}, delayMs: { org?: number; role?: number } = {}) {
  const adds: [string, string[]][] = [];
  const removes: [string, string[]][] = [];
  const roleCalls: [string, string[]][] = [];
  const singles: [string, string[]][] = [];
  const counts = { forgotten: 0, rolesForgotten: 0 };
  const answer = async (err: Error | undefined, ms: number | undefined): Promise<void> => {
    if (ms) await new Promise((r) => setTimeout(r, ms));
    if (err) throw err;
  };
  return {
    adds,
    removes,
    roleCalls,
    singles,
    counts,
    assignRoleToUsers: (roleId: string, users: string[]) => {
      roleCalls.push([roleId, [...users]]);
      return answer(fail.role?.(roleId, users), delayMs.role);
    },
    assignRoleIds: (userId: string, roles: string[]) => {
      singles.push([userId, [...roles]]);
      return Promise.resolve();
    },
    forgetRoles: () => {
      counts.rolesForgotten++;
    },
    organizations: {
      addMembers: (orgId: string, users: string[]) => {
        adds.push([orgId, [...users]]);
        return answer(fail.add?.(orgId, users), delayMs.org);
      },
      removeMembers: (orgId: string, users: string[]) => {
        removes.push([orgId, [...users]]);
        return answer(fail.remove?.(orgId, users), delayMs.org);
      },
      forget: () => {
        counts.forgotten++;
      },
    },
  };
}

const settled = (p: Promise<void>) => p.then(() => "ok" as const, (e: unknown) => e);
const tick = () => new Promise((r) => setImmediate(r));
const usersOf = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);

const refused = () => new Auth0Error("add organization members: Auth0 answered 400: user not found", { kind: "rejected", retryable: false, statusCode: 400 });

describe("membership groups (one invocation's organization joins and leaves)", () => {
  it("25 users joining one organization: 3 calls of 10, 10 and 5 members, while their role goes out in one call", async () => {
    expect(ORG_MEMBERS_PER_CALL).toBe(10);
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 1);
    const users = usersOf(25);
    groups.opened(users.length);
    const results = await Promise.all(users.map((u) => settled(groups.slot().add(u, ["rA"], { join: ["org_1"] }))));
    expect(results).toEqual(users.map(() => "ok"));
    expect(auth0.adds.map(([org, us]) => [org, us.length])).toEqual([
      ["org_1", 10],
      ["org_1", 10],
      ["org_1", 5],
    ]);
    // Every user exactly once, in the order they parked.
    expect(auth0.adds.flatMap(([, us]) => us)).toEqual(users);
    expect(auth0.removes).toEqual([]);
    // The role cap (100) is not the membership cap.
    expect(auth0.roleCalls).toEqual([["rA", users]]);
  });

  it("a membership group never exceeds 10 members, whatever the role cap", async () => {
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 1, { cap: 50 });
    const users = usersOf(23);
    groups.opened(users.length);
    await Promise.all(users.map((u) => groups.slot().add(u, [], { leave: ["org_1"] })));
    expect(auth0.removes.map(([, us]) => us.length)).toEqual([10, 10, 3]);
    expect(auth0.removes.flatMap(([, us]) => us)).toEqual(users);
  });

  it("a partial group waits until every operation of the invocation has parked or finished", async () => {
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 1);
    groups.opened(3);
    const a = settled(groups.slot().add("u1", [], { join: ["org_1"] }));
    const b = settled(groups.slot().add("u2", [], { join: ["org_1"] }));
    await tick();
    expect(auth0.adds).toEqual([]);
    groups.slot().release();
    expect(await Promise.all([a, b])).toEqual(["ok", "ok"]);
    expect(auth0.adds).toEqual([["org_1", ["u1", "u2"]]]);
  });

  it("joins and leaves of different organizations are separate groups, and a join and a leave of one organization too", async () => {
    const auth0 = fakeAuth0();
    const groups = new WriteGroups(auth0, 1);
    groups.opened(5);
    const results = await Promise.all([
      settled(groups.slot().add("u1", [], { join: ["org_A"] })),
      settled(groups.slot().add("u2", [], { join: ["org_B"] })),
      settled(groups.slot().add("u3", [], { leave: ["org_A"] })),
      settled(groups.slot().add("u4", [], { join: ["org_A"], leave: ["org_B"] })),
      settled(groups.slot().add("u5", [], { join: ["org_B"], leave: ["org_A"] })),
    ]);
    expect(results).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    const sortCalls = (calls: [string, string[]][]) => calls.map(([o, us]) => `${o}:${[...us].sort().join(",")}`).sort();
    expect(sortCalls(auth0.adds)).toEqual(["org_A:u1,u4", "org_B:u2,u5"]);
    expect(sortCalls(auth0.removes)).toEqual(["org_A:u3,u5", "org_B:u4"]);
    expect(auth0.roleCalls).toEqual([]);
  });

  it("a user's promise waits for all of its groups", async () => {
    const auth0 = fakeAuth0({}, { org: 30 });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(1);
    let done = false;
    const p = groups
      .slot()
      .add("u1", ["rA"], { join: ["org_A", "org_B"], leave: ["org_C"] })
      .then(() => void (done = true));
    await tick();
    // The role is applied; the memberships are still under way.
    expect(auth0.roleCalls).toHaveLength(1);
    expect(done).toBe(false);
    await p;
    expect(auth0.adds).toHaveLength(2);
    expect(auth0.removes).toHaveLength(1);
  });

  it.each(["join", "leave"] as const)("a refused %s call for 8 users, one at fault: only that user fails (OrganizationWriteError), in a few calls", async (kind) => {
    const atFault: Fail = (_org, users) => (users.includes("u5") ? refused() : undefined);
    const auth0 = fakeAuth0(kind === "join" ? { add: atFault } : { remove: atFault });
    const groups = new WriteGroups(auth0, 1);
    const users = usersOf(8);
    groups.opened(users.length);
    const results = await Promise.all(users.map((u) => settled(groups.slot().add(u, [], kind === "join" ? { join: ["org_1"] } : { leave: ["org_1"] }))));
    results.forEach((r, i) => {
      if (users[i] !== "u5") {
        expect(r).toBe("ok");
        return;
      }
      expect(r).toBeInstanceOf(OrganizationWriteError);
      expect((r as OrganizationWriteError).retryable).toBe(false);
      expect((r as OrganizationWriteError).statusCode).toBe(400);
    });
    const calls = kind === "join" ? auth0.adds : auth0.removes;
    // Halving: 8 -> 4 -> 2 -> 1 refused (4 calls), their other halves applied (3 calls): 7, not one per user.
    expect(calls).toHaveLength(7);
    expect(calls.some(([, us]) => us.length === 1 && us[0] === "u5")).toBe(true);
    // Every other user is in exactly one call that was not refused.
    const applied = calls.filter(([, us]) => !us.includes("u5")).flatMap(([, us]) => us);
    expect(applied.sort()).toEqual(users.filter((u) => u !== "u5").sort());
    expect(auth0.counts.forgotten).toBe(0);
  });

  it("an organization gone (404): the organizations are forgotten and every user of the call fails retryably, in one call", async () => {
    const gone = new Auth0Error("add organization members: Auth0 answered 404: No organization found by that id", { kind: "not_found", retryable: false, statusCode: 404, errorCode: "inexistent_organization" });
    const auth0 = fakeAuth0({ add: (org) => (org === "org_gone" ? gone : undefined) });
    const groups = new WriteGroups(auth0, 1);
    const users = usersOf(8);
    groups.opened(users.length + 1);
    const results = await Promise.all([
      ...users.map((u) => settled(groups.slot().add(u, [], { join: ["org_gone"] }))),
      settled(groups.slot().add("other", [], { join: ["org_ok"] })),
    ]);
    const gones = results.slice(0, 8);
    for (const r of gones) {
      expect(r).toBeInstanceOf(OrganizationWriteError);
      expect((r as OrganizationWriteError).retryable).toBe(true);
      expect((r as OrganizationWriteError).statusCode).toBe(404);
    }
    expect(results[8]).toBe("ok");
    expect(auth0.counts.forgotten).toBe(1);
    expect(auth0.counts.rolesForgotten).toBe(0);
    // No halving down to each user: nobody is at fault.
    expect(auth0.adds.filter(([org]) => org === "org_gone")).toHaveLength(1);
  });

  it("a 404 on a leave is handled the same way", async () => {
    const gone = new Auth0Error("remove organization members: Auth0 answered 404", { kind: "not_found", retryable: false, statusCode: 404, errorCode: "inexistent_organization" });
    const auth0 = fakeAuth0({ remove: () => gone });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(3);
    const results = await Promise.all(["u1", "u2", "u3"].map((u) => settled(groups.slot().add(u, [], { leave: ["org_1"] }))));
    expect(results.every((r) => r instanceof OrganizationWriteError && r.retryable)).toBe(true);
    expect(auth0.counts.forgotten).toBe(1);
    expect(auth0.removes).toHaveLength(1);
  });

  it("another 404 (a user Auth0 does not know, say) is a refusal: split until the user at fault is alone, the organizations kept", async () => {
    const auth0 = fakeAuth0({ add: (_org, users) => (users.includes("u3") ? new Auth0Error("add organization members: user not found", { kind: "not_found", retryable: false, statusCode: 404, errorCode: "inexistent_user" }) : undefined) });
    const groups = new WriteGroups(auth0, 1);
    const users = usersOf(4);
    groups.opened(users.length);
    const results = await Promise.all(users.map((u) => settled(groups.slot().add(u, [], { join: ["org_1"] }))));
    expect(results.filter((r) => r !== "ok")).toHaveLength(1);
    expect(results[users.indexOf("u3")]).toBeInstanceOf(OrganizationWriteError);
    expect(auth0.counts.forgotten).toBe(0);
  });

  it("a passing failure fails every user of the call with a retryable OrganizationWriteError, without splitting", async () => {
    const down = new Auth0Error("add organization members: HTTP 503", { kind: "server", retryable: true, statusCode: 503 });
    const auth0 = fakeAuth0({ add: () => down });
    const groups = new WriteGroups(auth0, 1);
    const users = usersOf(6);
    groups.opened(users.length);
    const results = await Promise.all(users.map((u) => settled(groups.slot().add(u, [], { join: ["org_1"] }))));
    for (const r of results) {
      expect(r).toBeInstanceOf(OrganizationWriteError);
      expect((r as OrganizationWriteError).retryable).toBe(true);
      expect((r as OrganizationWriteError).statusCode).toBe(503);
    }
    expect(auth0.adds).toHaveLength(1);
    expect(auth0.counts.forgotten).toBe(0);
  });

  it("a failure that is no Auth0Error (a dropped connection) is a retryable OrganizationWriteError too", async () => {
    const auth0 = fakeAuth0({ add: () => new Error("socket hang up") });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(2);
    const results = await Promise.all(["u1", "u2"].map((u) => settled(groups.slot().add(u, [], { join: ["org_1"] }))));
    expect(results.every((r) => r instanceof OrganizationWriteError && r.retryable)).toBe(true);
    expect(auth0.adds).toHaveLength(1);
  });

  it.each([
    ["the role fails first", { org: 20 }],
    ["the organization fails first", { role: 20 }],
  ] as const)("a user with both a role failure and an organization failure gets the organization's (%s)", async (_label, delays) => {
    const roleDown = new Auth0Error("assign role to users: HTTP 503", { kind: "server", retryable: true, statusCode: 503 });
    const auth0 = fakeAuth0({ role: () => roleDown, add: (_o, users) => (users.includes("u1") ? refused() : undefined) }, delays);
    const groups = new WriteGroups(auth0, 1);
    groups.opened(1);
    const r = await settled(groups.slot().add("u1", ["rA"], { join: ["org_1"] }));
    expect(r).toBeInstanceOf(OrganizationWriteError);
    expect((r as OrganizationWriteError).statusCode).toBe(400);
    expect((r as OrganizationWriteError).retryable).toBe(false);
  });

  it("with only a role failure the user gets the role's (not an OrganizationWriteError); with only an organization failure, the organization's", async () => {
    const roleDown = new Auth0Error("assign role to users: HTTP 503", { kind: "server", retryable: true, statusCode: 503 });
    const auth0 = fakeAuth0({ role: (roleId) => (roleId === "rBad" ? roleDown : undefined), add: (org) => (org === "org_bad" ? refused() : undefined) });
    const groups = new WriteGroups(auth0, 1);
    groups.opened(2);
    const [roleOnly, orgOnly] = await Promise.all([settled(groups.slot().add("u1", ["rBad"], { join: ["org_ok"] })), settled(groups.slot().add("u2", ["rOk"], { join: ["org_bad"] }))]);
    expect(roleOnly).toBe(roleDown);
    expect(roleOnly).not.toBeInstanceOf(OrganizationWriteError);
    expect(orgOnly).toBeInstanceOf(OrganizationWriteError);
  });

  it("without the adapter's organizations, a membership fails its user (never hangs) while its role is applied", async () => {
    const { organizations: _none, ...noOrgs } = fakeAuth0();
    const groups = new WriteGroups(noOrgs, 1);
    groups.opened(1);
    const r = await settled(groups.slot().add("u1", ["rA"], { join: ["org_1"] }));
    expect(r).toBeInstanceOf(Error);
    expect(noOrgs.roleCalls).toEqual([["rA", ["u1"]]]);
  });
});
