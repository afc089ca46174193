/**
 * Mirror mode's planning (core/mirror.ts): which absent managed users are blocked or deleted, and when a run is
 * held. Pure: the ledger's entries are given as a list.
 */
import { describe, expect, it } from "vitest";
import { MirrorPlanner, RunPresence } from "../../functions/core/mirror.js";
import type { SyncConfig } from "../../functions/core/config.js";
import type { LedgerEntry } from "../../functions/core/records.js";
import { testConfig } from "../helpers/config.js";

const entry = (key: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({ key, userId: `auth0|${key}`, fingerprint: `fp-${key}`, managed: true, ...over });

function planMirror(config: SyncConfig, entries: LedgerEntry[], presence: RunPresence, approved: boolean) {
  const planner = new MirrorPlanner(config, presence);
  for (const e of entries) planner.consider(e);
  return planner.result(approved);
}

/** The presence of a run whose rows carry these keys, in order. */
function presenceOf(keys: (string | undefined)[]): RunPresence {
  const p = new RunPresence();
  keys.forEach((k, i) => p.observe(k, i + 1));
  return p;
}

describe("mirror planning", () => {
  const day = 86_400_000;
  it("blocks, deletes or blocks-then-deletes absent managed users only, never ignored or unmanaged ones", () => {
    const entries: LedgerEntry[] = [
      entry("present"),
      entry("absent"),
      entry("blocked-recently", { blockedAt: new Date(Date.now() - 2 * day).toISOString() }),
      entry("blocked-long-ago", { blockedAt: new Date(Date.now() - 40 * day).toISOString() }),
      entry("ignored-key"),
      entry("ignored-email", { profile: { key: "ignored-email", email: "keep@example.com", fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] } }),
      { key: "unmanaged", managed: false, lastOutcome: "rejected" },
    ];
    const seen = presenceOf(["present"]);
    const mirror = (action: "block" | "delete" | "block-then-delete") =>
      planMirror(testConfig({ mirror: { enabled: true, action, deleteAfterDays: 30, ignore: ["ignored-key", "KEEP@example.com"], threshold: { maxCount: 100, maxShare: 1 } } }), entries, seen, false);
    const kinds = (action: "block" | "delete" | "block-then-delete") => Object.fromEntries((mirror(action)).ops.map((o) => [o.key, o.kind]));
    expect(kinds("block")).toEqual({ absent: "block" });
    expect(kinds("delete")).toEqual({ absent: "delete", "blocked-recently": "delete", "blocked-long-ago": "delete" });
    expect(kinds("block-then-delete")).toEqual({ absent: "block", "blocked-long-ago": "delete" });
    expect((mirror("delete")).managed).toBe(6);
  });

  it("holds the run over the count or the share, unless approved", () => {
    const entries = Array.from({ length: 10 }, (_, i) => entry(`k${i}`));
    const seen = presenceOf(["k0", "k1", "k2", "k3", "k4", "k5", "k6"]);
    const plan = (threshold: { maxCount: number; maxShare: number }, approved = false) =>
      planMirror(testConfig({ mirror: { enabled: true, action: "delete", threshold } }), entries, seen, approved);
    expect(plan({ maxCount: 100, maxShare: 0.5 })).toMatchObject({ held: false, absent: 3 });
    const byShare = plan({ maxCount: 100, maxShare: 0.2 });
    expect(byShare).toMatchObject({ held: true, absent: 3, ops: [] });
    expect(byShare.heldReason).toBe("3 of 10 managed users (30.0%) are absent; the threshold is 100 users or 20.0%. Nothing was blocked or deleted: if the table is right, approve with 'auth0-sync run --approve-mirror' (or mirror.approve: true).");
    expect(plan({ maxCount: 2, maxShare: 1 })).toMatchObject({ held: true });
    expect((plan({ maxCount: 2, maxShare: 1 }, true)).ops).toHaveLength(3);
  });

  it("holds the run, whatever the threshold or an approval, while a row has no usable key", () => {
    const entries = Array.from({ length: 10 }, (_, i) => entry(`k${i}`));
    const config = testConfig({ mirror: { enabled: true, action: "delete", approve: true, threshold: { maxCount: 100, maxShare: 1 } } });
    const oneUnkeyed = planMirror(config, entries, presenceOf(["k0", "k1", undefined, "k2"]), true);
    expect(oneUnkeyed).toMatchObject({ held: true, absent: 7, ops: [] });
    expect(oneUnkeyed.heldReason).toBe(
      "absent users cannot be known: 1 row has an empty or invalid identity key (id): row 3; such a row could be any managed user, so nobody is blocked or deleted until it is fixed.",
    );
    const byEmail = testConfig({ identity: { emailColumn: "email" }, mirror: { enabled: true, action: "block", threshold: { maxCount: 100, maxShare: 1 } } });
    const two = planMirror(byEmail, entries, presenceOf(["k0", undefined, undefined]), false);
    expect(two.heldReason).toBe(
      "absent users cannot be known: 2 rows have an empty or invalid email (email), which is the identity, the first at row 2; such a row could be any managed user, so nobody is blocked or deleted until it is fixed.",
    );
    expect((planMirror(config, entries, presenceOf(["k0", "k1"]), true)).ops).toHaveLength(8);
  });
});
