import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SyncConfig } from "../../functions/core/config.js";
import { decideUser, startUser, type Basis, type DecideInput, type LedgerView, type UserDecision } from "../../functions/core/decide.js";
import { fingerprint, jsonEqual } from "../../functions/core/fingerprint.js";
import type { CreateBody, CurrentUser, DesiredProfile, JsonObject, UserPatch } from "../../functions/core/types.js";
import { desiredArb, foundUserArb, keyedDesiredArb, unkeyedDesiredArb } from "../helpers/arbitraries.js";
import { testConfig } from "../helpers/config.js";

type SyncMode = SyncConfig["mode"];
const MODES = ["insert", "update", "upsert"] as const satisfies readonly SyncMode[];
const configs = (identity: SyncConfig["identity"] | undefined) =>
  Object.fromEntries(MODES.map((mode) => [mode, testConfig(identity ? { mode, identity } : { mode })])) as Record<SyncMode, SyncConfig>;
/** Validated once: keyed by the `id` column (testConfig's default), or with the email as identity. */
const KEYED = configs(undefined);
const UNKEYED = configs({ emailColumn: "email", appMetadataKey: "sync_key" });

const keyedDesired = (over: Partial<DesiredProfile> = {}): DesiredProfile => ({
  key: "k1",
  email: "ada@example.com",
  fields: { given_name: "Ada" },
  user_metadata: { plan: "pro" },
  app_metadata: { sync_key: "k1" },
  createOnly: [],
  ...over,
});
const unkeyedDesired = (over: Partial<DesiredProfile> = {}): DesiredProfile =>
  keyedDesired({ key: "ada@example.com", app_metadata: {}, ...over });
/** The Auth0 user the keyed profile describes. */
const found = (over: Partial<CurrentUser> = {}): CurrentUser => ({
  user_id: "auth0|1",
  email: "ada@example.com",
  given_name: "Ada",
  user_metadata: { plan: "pro" },
  app_metadata: { sync_key: "k1" },
  ...over,
});
const applied = (profile: DesiredProfile, over: Partial<LedgerView> = {}): LedgerView => ({ userId: "auth0|1", managed: true, fingerprint: "applied-before", profile, ...over });

const CONFLICT = { write: "reject", rejection: { code: "identity_conflict", field: "email", reason: "the Auth0 user with this email is synced under another identity key" } };
const USER_EXISTS = { write: "reject", rejection: { code: "user_exists", field: "email", reason: "an Auth0 user already exists and the mode is insert" } };
const USER_NOT_FOUND = { write: "reject", rejection: { code: "user_not_found", field: "email", reason: "no Auth0 user exists and the mode is update" } };
const NO_USER_AFTER_409 = { write: "retry", reason: "create user: Auth0 answered 409 but no user with that email exists in the connection" };

/**
 * Auth0's PATCH semantics, written out here rather than taken from core (a check of the decision should not reuse
 * its own arithmetic): top-level fields replace and null removes; metadata merges at the first level and a null
 * deletes the key.
 */
function auth0Patch(user: CurrentUser, patch: UserPatch): CurrentUser {
  const next = { ...user } as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    if (k === "user_metadata" || k === "app_metadata") {
      const merged: JsonObject = { ...(user[k] ?? {}) };
      for (const [mk, mv] of Object.entries(v as JsonObject)) {
        if (mv === null) delete merged[mk];
        else merged[mk] = mv;
      }
      next[k] = merged;
    } else if (v === null) delete next[k];
    else next[k] = v;
  }
  return next as CurrentUser;
}

/** The user a create makes, as Auth0 returns it. */
const userFromCreate = (userId: string, body: CreateBody): CurrentUser => ({ user_id: userId, ...body, user_metadata: body.user_metadata ?? {}, app_metadata: body.app_metadata ?? {} });

/** The current user and settled desired profile the ledger gives, through startUser as the consumer calls it. */
function fromLedger(desired: DesiredProfile, entry: LedgerView, config: SyncConfig) {
  const { desired: settled, start } = startUser({ desired, fingerprint: fingerprint(desired), entry, config, hasLedger: true });
  if (start.kind !== "ledger") throw new Error(`expected a ledger start, got ${start.kind}`);
  return { desired: settled, current: start.current };
}

describe("startUser", () => {
  it("starts from the ledger, with a create first for a key it never saw, and with a lookup otherwise", () => {
    const d = keyedDesired();
    expect(startUser({ desired: d, fingerprint: fingerprint(d), config: KEYED.upsert, hasLedger: true }).start).toEqual({ kind: "create-first" });
    // Update mode never creates first: it must find the user.
    expect(startUser({ desired: d, fingerprint: fingerprint(d), config: KEYED.update, hasLedger: true }).start).toEqual({ kind: "lookup" });
    expect(startUser({ desired: d, fingerprint: fingerprint(d), config: KEYED.upsert, hasLedger: false }).start).toEqual({ kind: "lookup" });
    // An earlier delivery sent a create and failed before recording the user: look it up.
    expect(startUser({ desired: d, fingerprint: fingerprint(d), entry: { createAttemptedAt: "t" }, config: KEYED.upsert, hasLedger: true }).start).toEqual({ kind: "lookup" });
    expect(startUser({ desired: d, fingerprint: fingerprint(d), entry: applied(d, { fingerprint: fingerprint(d) }), config: KEYED.upsert, hasLedger: true }).start).toEqual({ kind: "unchanged", userId: "auth0|1" });
    expect(fromLedger(d, applied(keyedDesired({ fields: { given_name: "Old" } })), KEYED.upsert).current).toEqual(found({ given_name: "Old" }));
  });
});

describe("decideUser", () => {
  describe("basis ledger", () => {
    it("patches what differs from what the ledger last applied", () => {
      const entry = applied(keyedDesired({ fields: { given_name: "Old" } }));
      const { desired, current } = fromLedger(keyedDesired(), entry, KEYED.upsert);
      expect(decideUser({ desired, entry, config: KEYED.upsert, basis: "ledger", current })).toEqual({ write: "patch", userId: "auth0|1", patch: { given_name: "Ada" }, outcome: "updated" });
    });

    it("deletes metadata keys it applied before and no longer maps, and touches no other key", () => {
      const entry = applied(keyedDesired({ user_metadata: { plan: "pro", seats: 3 }, app_metadata: { sync_key: "k1", tier: "gold" } }));
      const { desired, current } = fromLedger(keyedDesired(), entry, KEYED.upsert);
      expect(decideUser({ desired, entry, config: KEYED.upsert, basis: "ledger", current })).toEqual({
        write: "patch",
        userId: "auth0|1",
        patch: { user_metadata: { seats: null }, app_metadata: { tier: null } },
        outcome: "updated",
      });
    });

    it("unblocks a user mirror mode blocked when its row is back", () => {
      const entry = applied(keyedDesired(), { blockedAt: "2024-01-01T00:00:00Z" });
      const { desired, current } = fromLedger(keyedDesired(), entry, KEYED.upsert);
      expect(decideUser({ desired, entry, config: KEYED.upsert, basis: "ledger", current })).toEqual({ write: "patch", userId: "auth0|1", patch: { blocked: false }, outcome: "updated" });
    });

    it("writes nothing when the row changed only in what is not sent (a create-only target)", () => {
      const entry = applied(keyedDesired({ fields: { given_name: "Ada", nickname: "ada" }, createOnly: ["nickname"] }));
      const { desired, current } = fromLedger(keyedDesired({ fields: { given_name: "Ada", nickname: "countess" }, createOnly: ["nickname"] }), entry, KEYED.upsert);
      expect(decideUser({ desired, entry, config: KEYED.upsert, basis: "ledger", current })).toEqual({ write: "none", userId: "auth0|1", outcome: "unchanged" });
    });

    it("removes nothing from a reconcile's seed: the sync owns none of its keys yet", () => {
      const entry: LedgerView = { userId: "auth0|1", managed: false, observed: found({ user_metadata: { plan: "free", theirs: 1 } }) };
      const { start } = startUser({ desired: keyedDesired(), fingerprint: "f", entry, config: KEYED.upsert, hasLedger: true });
      expect(start.kind).toBe("ledger");
      if (start.kind !== "ledger") return;
      expect(decideUser({ desired: keyedDesired(), entry, config: KEYED.upsert, basis: "ledger", current: start.current })).toEqual({
        write: "patch",
        userId: "auth0|1",
        patch: { user_metadata: { plan: "pro" } },
        outcome: "updated",
      });
    });
  });

  describe("basis create-first", () => {
    it("creates with the non-null values, create-only targets included", () => {
      const desired = keyedDesired({ fields: { given_name: "Ada", family_name: null, nickname: "ada" }, user_metadata: { plan: "pro", gone: null }, createOnly: ["nickname"] });
      for (const mode of ["upsert", "insert"] as const) {
        expect(decideUser({ desired, config: KEYED[mode], basis: "create-first", current: null })).toEqual({
          write: "create",
          body: { email: "ada@example.com", given_name: "Ada", nickname: "ada", user_metadata: { plan: "pro" }, app_metadata: { sync_key: "k1" } },
          outcome: "created",
        });
      }
    });

    it("never creates in update mode", () => {
      expect(decideUser({ desired: keyedDesired(), config: KEYED.update, basis: "create-first", current: null })).toEqual(USER_NOT_FOUND);
    });
  });

  describe("basis auth0", () => {
    it("adopts a user found without a sync key: patched, counted updated", () => {
      const current = found({ given_name: "Eve", app_metadata: {} });
      expect(decideUser({ desired: keyedDesired(), config: KEYED.upsert, basis: "auth0", current })).toEqual({
        write: "patch",
        userId: "auth0|1",
        patch: { given_name: "Ada", app_metadata: { sync_key: "k1" } },
        outcome: "updated",
      });
    });

    it("creates when no user has the email", () => {
      expect(decideUser({ desired: keyedDesired(), config: KEYED.upsert, basis: "auth0", current: null })).toMatchObject({ write: "create", outcome: "created" });
    });

    it("writes nothing when Auth0 already matches (email case, absent false booleans, other keys aside)", () => {
      const desired = keyedDesired({ fields: { given_name: "Ada", blocked: false, email_verified: false } });
      const current = found({ email: "Ada@Example.COM", nickname: "theirs", user_metadata: { plan: "pro", theirs: true }, app_metadata: { sync_key: "k1", other: 1 } });
      for (const mode of ["upsert", "update"] as const) {
        expect(decideUser({ desired, config: KEYED[mode], basis: "auth0", current })).toEqual({ write: "none", userId: "auth0|1", outcome: "unchanged" });
      }
    });

    it("never patches create-only targets", () => {
      const desired = keyedDesired({ fields: { given_name: "New", family_name: "King" }, app_metadata: { sync_key: "k1", tier: "gold" }, createOnly: ["given_name", "app_metadata.tier"] });
      const current = found({ given_name: "Changed by the user", app_metadata: { sync_key: "k1", tier: "bronze" } });
      expect(decideUser({ desired, config: KEYED.upsert, basis: "auth0", current })).toEqual({ write: "patch", userId: "auth0|1", patch: { family_name: "King" }, outcome: "updated" });
      // Nor when they are missing from the user: only the create sends them.
      const bare = found({ given_name: undefined, family_name: "King", app_metadata: { sync_key: "k1" } });
      expect(decideUser({ desired, config: KEYED.upsert, basis: "auth0", current: bare })).toEqual({ write: "none", userId: "auth0|1", outcome: "unchanged" });
    });
  });

  describe("identity conflict", () => {
    const other = found({ app_metadata: { sync_key: "k2" } });

    it("rejects a user found by email that is synced under another key, in every mode, on field email", () => {
      for (const mode of MODES) expect(decideUser({ desired: keyedDesired(), config: KEYED[mode], basis: "auth0", current: other })).toEqual(CONFLICT);
      // With the email as identity too: the user is some keyed row's.
      expect(decideUser({ desired: unkeyedDesired(), config: UNKEYED.upsert, basis: "auth0", current: other })).toEqual(CONFLICT);
    });

    it("rejects it after a 409 as well, even when our own create may have landed", () => {
      const input = { desired: keyedDesired(), config: KEYED.insert, basis: "auth0" as const, current: other, after409: true };
      expect(decideUser({ ...input, ownCreateMayHaveLanded: true })).toEqual(CONFLICT);
      expect(decideUser({ ...input, entry: { createAttemptedAt: "t" } })).toEqual(CONFLICT);
    });

    it("is no conflict when the key is this row's, or there is none (null included)", () => {
      const keys: JsonObject[] = [{ sync_key: "k1" }, {}, { sync_key: null }];
      for (const app_metadata of keys) {
        expect(decideUser({ desired: keyedDesired(), config: KEYED.upsert, basis: "auth0", current: found({ app_metadata }) }).write).not.toBe("reject");
      }
    });

    it("lets a repair of the ledger's own user restore its sync key", () => {
      const entry = applied(keyedDesired(), { fingerprint: fingerprint(keyedDesired()) });
      expect(decideUser({ desired: keyedDesired(), entry, config: KEYED.upsert, basis: "auth0", current: other, repair: true })).toEqual({
        write: "patch",
        userId: "auth0|1",
        patch: { app_metadata: { sync_key: "k1" } },
        outcome: "updated",
      });
    });

    it("still rejects a repair of a user that is not the ledger's own, or that the sync does not manage", () => {
      const entry = applied(keyedDesired());
      expect(decideUser({ desired: keyedDesired(), entry, config: KEYED.upsert, basis: "auth0", current: { ...other, user_id: "auth0|2" }, repair: true })).toEqual(CONFLICT);
      expect(decideUser({ desired: keyedDesired(), entry: { ...entry, managed: false }, config: KEYED.upsert, basis: "auth0", current: other, repair: true })).toEqual(CONFLICT);
      // Without `repair`, the ledger's id is no licence: the lookup found a user under another key.
      expect(decideUser({ desired: keyedDesired(), entry, config: KEYED.upsert, basis: "auth0", current: other })).toEqual(CONFLICT);
    });
  });

  describe("a 409, then no user found", () => {
    it("is retried with its reason, in every mode and whatever the evidence", () => {
      for (const config of [...Object.values(KEYED), ...Object.values(UNKEYED)]) {
        expect(decideUser({ desired: keyedDesired(), config, basis: "auth0", current: null, after409: true })).toEqual(NO_USER_AFTER_409);
        expect(decideUser({ desired: keyedDesired(), entry: { createAttemptedAt: "t" }, config, basis: "auth0", current: null, after409: true, ownCreateMayHaveLanded: true })).toEqual(NO_USER_AFTER_409);
      }
    });

    it("is a plain create or rejection without the 409", () => {
      expect(decideUser({ desired: keyedDesired(), config: KEYED.insert, basis: "auth0", current: null }).write).toBe("create");
      expect(decideUser({ desired: keyedDesired(), config: KEYED.update, basis: "auth0", current: null })).toEqual(USER_NOT_FOUND);
    });
  });

  describe("our own lost create, keyed", () => {
    const lost = { desired: keyedDesired(), basis: "auth0" as const, after409: true };

    it("counts the user created when the 409 followed an unanswered attempt: planned as upsert whatever the mode", () => {
      for (const mode of MODES) {
        expect(decideUser({ ...lost, config: KEYED[mode], current: found(), ownCreateMayHaveLanded: true })).toEqual({ write: "none", userId: "auth0|1", outcome: "created" });
        // An earlier version of the row's create landed: finished with a patch, still ours, even in insert mode.
        expect(decideUser({ ...lost, config: KEYED[mode], current: found({ given_name: "Earlier" }), ownCreateMayHaveLanded: true })).toEqual({
          write: "patch",
          userId: "auth0|1",
          patch: { given_name: "Ada" },
          outcome: "created",
        });
      }
    });

    it("counts it created when an earlier delivery recorded that it sent a create (createAttemptedAt)", () => {
      const entry: LedgerView = { createAttemptedAt: "2024-01-01T00:00:00Z" };
      for (const mode of MODES) {
        expect(decideUser({ ...lost, entry, config: KEYED[mode], current: found() })).toEqual({ write: "none", userId: "auth0|1", outcome: "created" });
        // The evidence is the ledger's: it holds on a later delivery's plain lookup too.
        expect(decideUser({ ...lost, after409: false, entry, config: KEYED[mode], current: found() })).toEqual({ write: "none", userId: "auth0|1", outcome: "created" });
      }
    });

    it("needs the user to carry this row's sync key", () => {
      const bare = found({ app_metadata: {} });
      expect(decideUser({ ...lost, config: KEYED.insert, current: bare, ownCreateMayHaveLanded: true })).toEqual(USER_EXISTS);
      expect(decideUser({ ...lost, config: KEYED.upsert, current: bare, ownCreateMayHaveLanded: true })).toEqual({
        write: "patch",
        userId: "auth0|1",
        patch: { app_metadata: { sync_key: "k1" } },
        outcome: "updated",
      });
    });

    it("is not ours once the ledger recorded a user for the key", () => {
      const entry = applied(keyedDesired(), { createAttemptedAt: "t" });
      expect(decideUser({ ...lost, entry, config: KEYED.upsert, current: found(), ownCreateMayHaveLanded: true })).toEqual({ write: "none", userId: "auth0|1", outcome: "unchanged" });
      expect(decideUser({ ...lost, entry, config: KEYED.insert, current: found(), ownCreateMayHaveLanded: true })).toEqual(USER_EXISTS);
    });
  });

  describe("our own lost create, with the email as identity", () => {
    const lost = { desired: unkeyedDesired(), basis: "auth0" as const, after409: true, ownCreateMayHaveLanded: true };
    const asCreated = found({ app_metadata: {} });

    it("counts only a user equal to what the create sent, in every mode", () => {
      for (const mode of MODES) expect(decideUser({ ...lost, config: UNKEYED[mode], current: asCreated })).toEqual({ write: "none", userId: "auth0|1", outcome: "created" });
      expect(decideUser({ ...lost, ownCreateMayHaveLanded: false, entry: { createAttemptedAt: "t" }, config: UNKEYED.insert, current: asCreated })).toEqual({
        write: "none",
        userId: "auth0|1",
        outcome: "created",
      });
    });

    it("takes a user that differs for someone else's: decided by the mode", () => {
      const differs = { ...asCreated, given_name: "Eve" };
      expect(decideUser({ ...lost, config: UNKEYED.insert, current: differs })).toEqual(USER_EXISTS);
      expect(decideUser({ ...lost, config: UNKEYED.upsert, current: differs })).toEqual({ write: "patch", userId: "auth0|1", patch: { given_name: "Ada" }, outcome: "updated" });
      expect(decideUser({ ...lost, config: UNKEYED.update, current: differs })).toEqual({ write: "patch", userId: "auth0|1", patch: { given_name: "Ada" }, outcome: "updated" });
    });
  });

  describe("a user found after a lost ledger, with no evidence of our create", () => {
    it("is not counted created, though it carries this row's key", () => {
      const input = { desired: keyedDesired(), basis: "auth0" as const, after409: true };
      expect(decideUser({ ...input, config: KEYED.upsert, current: found() })).toEqual({ write: "none", userId: "auth0|1", outcome: "unchanged" });
      expect(decideUser({ ...input, config: KEYED.upsert, current: found({ given_name: "Old" }) })).toEqual({ write: "patch", userId: "auth0|1", patch: { given_name: "Ada" }, outcome: "updated" });
      expect(decideUser({ ...input, config: KEYED.insert, current: found() })).toEqual(USER_EXISTS);
      expect(decideUser({ ...input, desired: unkeyedDesired(), config: UNKEYED.insert, current: found({ app_metadata: {} }) })).toEqual(USER_EXISTS);
    });
  });

  describe("modes", () => {
    const desired = keyedDesired({ fields: { given_name: "Ada", family_name: "Lovelace" } });
    const existing = found({ family_name: "Byron" });

    it("insert: rejects an existing user, creates a missing one", () => {
      expect(decideUser({ desired, config: KEYED.insert, basis: "auth0", current: existing })).toEqual(USER_EXISTS);
      expect(decideUser({ desired, entry: applied(desired), config: KEYED.insert, basis: "ledger", current: existing })).toEqual(USER_EXISTS);
      expect(decideUser({ desired, config: KEYED.insert, basis: "auth0", current: null }).write).toBe("create");
    });

    it("update: rejects a missing user, patches an existing one", () => {
      expect(decideUser({ desired, config: KEYED.update, basis: "auth0", current: null })).toEqual(USER_NOT_FOUND);
      expect(decideUser({ desired, config: KEYED.update, basis: "auth0", current: existing })).toEqual({ write: "patch", userId: "auth0|1", patch: { family_name: "Lovelace" }, outcome: "updated" });
    });

    it("upsert: creates a missing user, patches an existing one", () => {
      expect(decideUser({ desired, config: KEYED.upsert, basis: "auth0", current: null }).write).toBe("create");
      expect(decideUser({ desired, config: KEYED.upsert, basis: "auth0", current: existing })).toEqual({ write: "patch", userId: "auth0|1", patch: { family_name: "Lovelace" }, outcome: "updated" });
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

interface Scenario {
  keyed: boolean;
  mode: SyncMode;
  input: DecideInput;
}

const ID = "auth0|abc";
/** What the current user is in an auth0-basis scenario: any user found, the one our create would make, or none. */
const foundKind = fc.constantFrom("found", "as-created", "none");
const entryKind = fc.constantFrom("none", "create-attempted", "applied");

/**
 * One user's decision in any state: a keyed or unkeyed config in any mode, on any basis, the ledger entry and the
 * Auth0 user consistent with that basis as the consumer would pass them (through startUser for the ledger).
 */
const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    keyed: fc.boolean(),
    mode: fc.constantFrom(...MODES),
    basis: fc.constantFrom<Basis>("ledger", "create-first", "auth0"),
    keyedDesired: keyedDesiredArb,
    unkeyedDesired: unkeyedDesiredArb,
    previous: desiredArb,
    blocked: fc.boolean(),
    found: foundUserArb,
    foundUpper: fc.boolean(),
    foundKind,
    entryKind,
    after409: fc.boolean(),
    landed: fc.boolean(),
    repair: fc.boolean(),
  })
  .map((s): Scenario => {
    const desired = s.keyed ? s.keyedDesired : s.unkeyedDesired;
    const config = (s.keyed ? KEYED : UNKEYED)[s.mode];
    // The profile the ledger applied last time, for the same key.
    const previous: DesiredProfile = { ...s.previous, key: desired.key, app_metadata: s.keyed ? { ...s.previous.app_metadata, sync_key: desired.key } : s.previous.app_metadata };
    const appliedEntry: LedgerView = { userId: ID, managed: true, fingerprint: "applied-before", profile: previous, ...(s.blocked ? { blockedAt: "t" } : {}) };
    if (s.basis === "ledger") {
      const { desired: settled, current } = fromLedger(desired, appliedEntry, config);
      return { keyed: s.keyed, mode: s.mode, input: { desired: settled, entry: appliedEntry, config, basis: "ledger", current } };
    }
    if (s.basis === "create-first") return { keyed: s.keyed, mode: s.mode, input: { desired, config, basis: "create-first", current: null } };
    const created = decideUser({ desired, config: (s.keyed ? KEYED : UNKEYED).upsert, basis: "create-first", current: null });
    const asCreated = created.write === "create" ? userFromCreate(ID, created.body) : null;
    // Found by email: Auth0 matches it whatever its case.
    const byEmail = { ...s.found, email: s.foundUpper ? desired.email.toUpperCase() : desired.email };
    const current = s.foundKind === "none" ? null : s.foundKind === "as-created" ? asCreated : byEmail;
    const entry = s.entryKind === "none" ? undefined : s.entryKind === "create-attempted" ? { createAttemptedAt: "t" } : appliedEntry;
    return {
      keyed: s.keyed,
      mode: s.mode,
      input: { desired, entry, config, basis: "auth0", current, after409: s.after409, ownCreateMayHaveLanded: s.after409 && s.landed, repair: s.repair && entry === appliedEntry },
    };
  });

/** Whether the found user is synced under another key (the identity conflict the decision must refuse). */
function carriesAnotherKey({ desired, current, entry, repair }: DecideInput): boolean {
  const owner = current?.app_metadata?.sync_key;
  const ledgersOwn = repair === true && current !== null && entry?.userId === current.user_id && entry.managed === true;
  return current !== null && !ledgersOwn && owner !== undefined && owner !== null && owner !== desired.key;
}

/** The metadata keys a profile owns (what the sync deletes once a later profile no longer maps them). */
const ownedKeys = (p: DesiredProfile) => ({ user_metadata: Object.keys(p.user_metadata), app_metadata: Object.keys(p.app_metadata) });

/** What the decision leaves in Auth0 (null: no user), given what it started from. */
function after(input: DecideInput, d: UserDecision): CurrentUser | null {
  if (d.write === "create") return userFromCreate("auth0|new", d.body);
  if (d.write === "patch") return auth0Patch(input.current!, d.patch);
  return input.current;
}

const RUNS = { numRuns: 1000 };

describe("decideUser properties", () => {
  it("(a) patches only the fields and metadata keys the desired profile owns, plus previously owned keys to delete", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const d = decideUser(input);
        if (d.write !== "patch") return;
        const owned = ownedKeys(input.desired);
        const before = input.entry?.profile ? ownedKeys(input.entry.profile) : { user_metadata: [], app_metadata: [] };
        const createOnly = new Set(input.desired.createOnly);
        const { user_metadata, app_metadata, ...fields } = d.patch;
        for (const f of Object.keys(fields)) {
          expect(f === "email" || Object.hasOwn(input.desired.fields, f), `field ${f}`).toBe(true);
          expect(createOnly.has(f), `create-only ${f}`).toBe(false);
        }
        for (const [bag, patch] of [["user_metadata", user_metadata], ["app_metadata", app_metadata]] as const) {
          if (patch === undefined) continue;
          // An empty object would wipe the user's whole bag.
          expect(Object.keys(patch).length).toBeGreaterThan(0);
          for (const [k, v] of Object.entries(patch)) {
            expect(createOnly.has(`${bag}.${k}`), `create-only ${bag}.${k}`).toBe(false);
            if (owned[bag].includes(k)) continue;
            expect(before[bag].includes(k) && v === null, `${bag}.${k} is neither owned nor a previously owned key to delete`).toBe(true);
          }
        }
        expect(Object.keys(d.patch).length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });

  it("(a) a create sends only the desired profile's non-null values", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const d = decideUser(input);
        if (d.write !== "create") return;
        const { email, user_metadata, app_metadata, ...fields } = d.body;
        expect(email).toBe(input.desired.email);
        for (const [f, v] of Object.entries(fields)) expect(input.desired.fields[f as keyof typeof input.desired.fields]).toBe(v);
        for (const [bag, sent] of [["user_metadata", user_metadata], ["app_metadata", app_metadata]] as const) {
          for (const [k, v] of Object.entries(sent ?? {})) expect(jsonEqual(input.desired[bag][k], v), `${bag}.${k}`).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("(b) applying the decision and deciding again writes nothing", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input, keyed, mode }) => {
        const d = decideUser(input);
        if (d.write === "reject" || d.write === "retry") return;
        const user = after(input, d)!;
        if (d.write === "create") {
          // The ledger records the user (no call next time), and a user found as created needs nothing more.
          const entry: LedgerView = { userId: user.user_id, managed: true, fingerprint: fingerprint(input.desired), profile: input.desired };
          expect(startUser({ desired: input.desired, fingerprint: fingerprint(input.desired), entry, config: input.config, hasLedger: true }).start).toEqual({ kind: "unchanged", userId: user.user_id });
          const upsert = (keyed ? KEYED : UNKEYED).upsert;
          expect(decideUser({ desired: input.desired, entry, config: upsert, basis: "auth0", current: user })).toEqual({ write: "none", userId: user.user_id, outcome: "unchanged" });
          return;
        }
        const again = decideUser({ ...input, current: user });
        expect(again.write, `mode ${mode}`).toBe("none");
        expect(again.write === "none" && again.userId).toBe(user.user_id);
        // Our own create stays ours. (The converse need not hold: without a key column, a user patched to equal the
        // profile would now pass for our lost create, but the ledger records it after the patch, so that
        // redecision never happens.)
        if (d.outcome === "created") expect(again.write === "none" && again.outcome).toBe("created");
      }),
      RUNS,
    );
  });

  it("(b) a create whose answer was lost is found ours after the 409, in every mode, and needs nothing more", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom<SyncMode>("insert", "upsert"), keyedDesiredArb, unkeyedDesiredArb, fc.boolean(), (keyed, mode, kd, ud, flagged) => {
        const desired = keyed ? kd : ud;
        const config = (keyed ? KEYED : UNKEYED)[mode];
        const d = decideUser({ desired, config, basis: "create-first", current: null });
        expect(d.write).toBe("create");
        if (d.write !== "create") return;
        const evidence = flagged ? { ownCreateMayHaveLanded: true } : { entry: { createAttemptedAt: "t" } };
        const current = userFromCreate(ID, d.body);
        expect(decideUser({ desired, config, basis: "auth0", current, after409: true, ...evidence })).toEqual({ write: "none", userId: ID, outcome: "created" });
      }),
      RUNS,
    );
  });

  it("(c) insert mode never updates a user and update mode never creates one", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input, keyed, mode }) => {
        const d = decideUser(input);
        if (mode === "update") expect(d.write).not.toBe("create");
        if (mode === "insert" && (d.write === "patch" || d.write === "none")) {
          // Only finishing our own lost create: a user found with evidence of it (with a key column, carrying this
          // row's key; without one, already equal to what the create sent, so there is nothing to patch).
          expect(d.outcome).toBe("created");
          expect(input.entry?.userId).toBeUndefined();
          expect(input.ownCreateMayHaveLanded === true || input.entry?.createAttemptedAt !== undefined).toBe(true);
          if (keyed) expect(input.current?.app_metadata?.sync_key).toBe(input.desired.key);
          else expect(d.write).toBe("none");
        }
      }),
      RUNS,
    );
  });

  it("(c) counts a user created only for a create or with evidence of our own", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const d = decideUser(input);
        if (d.write === "reject" || d.write === "retry" || d.outcome !== "created" || d.write === "create") return;
        expect(input.basis).toBe("auth0");
        expect(input.entry?.userId).toBeUndefined();
        expect(input.ownCreateMayHaveLanded === true || input.entry?.createAttemptedAt !== undefined).toBe(true);
      }),
      RUNS,
    );
  });

  it("(d) an identity conflict is never written", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const d = decideUser(input);
        if (input.basis === "auth0" && carriesAnotherKey(input)) expect(d).toEqual(CONFLICT);
        else if (d.write === "reject") expect(d.rejection.code).not.toBe("identity_conflict");
        // Whatever is written leaves the user under this row's key (or, without a key column, under none).
        if (d.write === "create" || d.write === "patch") {
          const owner = after(input, d)?.app_metadata?.sync_key;
          if (input.config.identity.keyColumn !== undefined) expect(owner).toBe(input.desired.key);
          else if (input.basis !== "ledger" && input.repair !== true) expect(owner === undefined || owner === null).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("retries exactly when a 409 was followed by no user", () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const d = decideUser(input);
        expect(d.write === "retry").toBe(input.basis === "auth0" && input.after409 === true && input.current === null);
        if (d.write === "retry") expect(d).toEqual(NO_USER_AFTER_409);
      }),
      RUNS,
    );
  });
});
