import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DecisionConfig, LedgerView } from "../../functions/core/decide.js";
import { fightCheck, groupWrites, judgeWatched, readLogEvent, REMEMBERED_LOG_IDS, unjudged, userWriteOf, watchEventPattern, type WatchedWrite } from "../../functions/core/watch.js";
import type { DesiredProfile } from "../../functions/core/types.js";

const config: DecisionConfig = { mode: "upsert", identity: { keyColumn: "id", emailColumn: "email", appMetadataKey: "sync_key" }, roles: { column: "roles", removeUnlisted: true } };
const profile: DesiredProfile = { key: "k1", email: "ada@example.com", fields: { given_name: "Ada" }, user_metadata: { plan: "pro" }, app_metadata: { sync_key: "k1" }, createOnly: [], roles: ["viewer"] };
const entry: LedgerView = { userId: "auth0|1", managed: true, fingerprint: "f", profile };

const log = (over: Record<string, unknown> = {}, request: Record<string, unknown> = {}) => ({
  data: { log_id: "900", date: "2026-12-07T05:00:00.000Z", type: "sapi", client_id: "dashboard", client_name: "Auth0 Management Dashboard", details: { request: { method: "PATCH", path: "/api/v2/users/auth0%7C1", body: { given_name: "Eve" }, ...request } }, ...over },
});
const clients = { own: ["sync-client"], ignored: ["provisioner"] };

describe("the watch's decisions (core)", () => {
  it("reads another client's write to a user, and what it touched", () => {
    expect(readLogEvent(log(), clients)).toEqual({ kind: "write", write: { logId: "900", date: "2026-12-07T05:00:00.000Z", clientId: "dashboard", clientName: "Auth0 Management Dashboard", userIds: ["auth0|1"], aspect: "profile" } });
    expect(userWriteOf("DELETE", "/api/v2/users/auth0|1", undefined)).toEqual({ userIds: ["auth0|1"], aspect: "deleted" });
    expect(userWriteOf("POST", "/api/v2/users/auth0|1/roles", { roles: ["rol_1"] })).toEqual({ userIds: ["auth0|1"], aspect: "roles" });
    expect(userWriteOf("POST", "/api/v2/roles/rol_1/users", { users: ["auth0|1", "auth0|2"] })).toEqual({ userIds: ["auth0|1", "auth0|2"], aspect: "roles" });
    expect(userWriteOf("DELETE", "/api/v2/organizations/org_1/members", { members: ["auth0|3"] })).toEqual({ userIds: ["auth0|3"], aspect: "organizations" });
    expect(userWriteOf("POST", "/api/v2/organizations/org_1/members/auth0%7C3/roles", { roles: ["r"] })).toEqual({ userIds: ["auth0|3"], aspect: "organizations" });
    // Each segment decoded once, after the split: an encoded "/" or "%" in an id stays in the id.
    expect(userWriteOf("PATCH", "/api/v2/users/custom%7Ca%2Fb", {})).toEqual({ userIds: ["custom|a/b"], aspect: "profile" });
    expect(userWriteOf("PATCH", "/api/v2/users/custom|a%2525", {})).toEqual({ userIds: ["custom|a%25"], aspect: "profile" });
    // Not a user's write: a role renamed, an organization edited, a user created (no managed user can be named).
    expect(userWriteOf("PATCH", "/api/v2/roles/rol_1", {})).toBeUndefined();
    expect(userWriteOf("PATCH", "/api/v2/organizations/org_1", {})).toBeUndefined();
    expect(userWriteOf("POST", "/api/v2/users", {})).toBeUndefined();
  });

  it("the sync's own writes and ignored clients are never the watch's, even past a rule that let them through", () => {
    expect(readLogEvent(log({ client_id: "sync-client" }), clients)).toMatchObject({ kind: "ignored", reason: "own-client" });
    expect(readLogEvent(log({ client_id: "provisioner" }), clients)).toMatchObject({ kind: "ignored", reason: "ignored-client" });
    expect(readLogEvent(log({ type: "fapi" }), clients)).toMatchObject({ kind: "ignored", reason: "not-a-write" });
    expect(readLogEvent(log({}, { method: "GET" }), clients)).toMatchObject({ kind: "ignored", reason: "not-a-write" });
    expect(readLogEvent({ nonsense: true }, clients)).toEqual({ kind: "ignored", reason: "unreadable" });
    expect(readLogEvent(undefined, clients)).toEqual({ kind: "ignored", reason: "unreadable" });
  });

  it("the rule's pattern names the sync's clients in anything-but, and only sapi writes on the watched paths", () => {
    const p = watchEventPattern(["sync-client", "provisioner", "sync-client"]);
    expect(p.source).toEqual([{ prefix: "aws.partner/auth0.com" }]);
    expect(p.detail.data.type).toEqual(["sapi"]);
    expect(p.detail.data.client_id).toEqual([{ "anything-but": ["provisioner", "sync-client"] }]);
    expect(p.detail.data.details.request.method).not.toContain("GET");
  });

  it("events for one user cost one read per aspect, duplicates count once, order does not matter", () => {
    const w = (logId: string, userIds: string[], aspect: WatchedWrite["aspect"], date: string): WatchedWrite => ({ logId, date, clientId: "c", userIds, aspect });
    fc.assert(
      fc.property(fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5, maxLength: 5 }), fc.boolean(), (order, twice) => {
        const all = [w("1", ["a"], "profile", "2026-01-01T00:00:03Z"), w("2", ["a"], "profile", "2026-01-01T00:00:01Z"), w("3", ["a", "b"], "roles", "2026-01-01T00:00:02Z"), w("4", ["b"], "deleted", "2026-01-01T00:00:04Z"), w("5", ["c"], "organizations", "2026-01-01T00:00:05Z")];
        const events = order.map((i) => all[i]!);
        const { targets, duplicates } = groupWrites(twice ? [...events, ...events] : events);
        expect(duplicates).toBe(twice ? 5 : 0);
        const by = new Map(targets.map((t) => [t.userId, t]));
        expect([...by.keys()].sort()).toEqual(["a", "b", "c"]);
        expect([...by.get("a")!.aspects].sort()).toEqual(["profile", "roles"]);
        expect(by.get("a")!.events).toBe(3);
        expect(by.get("a")!.firstDate).toBe("2026-01-01T00:00:01Z");
        expect([...by.get("b")!.aspects].sort()).toEqual(["deleted", "roles"]);
      }),
    );
  });

  it("judges only what was read: a role event says nothing of the name; an unowned key is in sync", () => {
    expect(judgeWatched(entry, { roles: ["viewer", "admin"] }, config)).toMatchObject({ kind: "drifted", drift: [{ field: "roles" }] });
    expect(judgeWatched(entry, { roles: ["viewer"] }, config)).toEqual({ kind: "in-sync" });
    const user = { user_id: "auth0|1", email: "ada@example.com", given_name: "Ada", user_metadata: { plan: "pro", theirs: 1 }, app_metadata: { sync_key: "k1" } };
    expect(judgeWatched(entry, { user }, config)).toEqual({ kind: "in-sync" });
    expect(judgeWatched(entry, { user: { ...user, given_name: "Eve" } }, config)).toMatchObject({ kind: "drifted", drift: [{ field: "given_name", before: "Eve", after: "Ada" }] });
    expect(judgeWatched(entry, { user: null }, config)).toEqual({ kind: "missing" });
    expect(judgeWatched({ ...entry, blockedAt: "2026-01-01T00:00:00Z" }, { user: null }, config)).toMatchObject({ kind: "left-alone" });
    expect(judgeWatched({ ...entry, managed: false }, { user }, config)).toMatchObject({ kind: "left-alone" });
  });

  it("a redelivery of events already judged is not judged again; the memory is bounded", () => {
    expect(unjudged({ logIds: ["1", "2"] }, [])).toEqual({ judge: true, remember: ["1", "2"] });
    expect(unjudged({ logIds: ["2", "1"] }, ["1", "2"])).toEqual({ judge: false, remember: ["1", "2"] });
    expect(unjudged({ logIds: ["2", "3"] }, ["1", "2"])).toEqual({ judge: true, remember: ["1", "2", "3"] });
    const many = Array.from({ length: REMEMBERED_LOG_IDS }, (_, i) => String(i));
    expect(unjudged({ logIds: ["new"] }, many).remember).toEqual([...many.slice(1), "new"]);
  });

  it("the fight cap: at most N repairs of a user within the window, then reported; the window slides", () => {
    const cap = { repairs: 3, windowMinutes: 60 };
    let history: number[] = [];
    const verdicts: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const c = fightCheck(history, 1_000_000 + i * 60_000, cap);
      verdicts.push(c.repair);
      history = c.history;
    }
    expect(verdicts).toEqual([true, true, true, false, false]);
    expect(fightCheck(history, 1_000_000 + 61 * 60_000, cap).repair).toBe(true);
  });
});
