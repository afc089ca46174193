import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, fingerprint, jsonEqual } from "../../functions/core/fingerprint.js";
import { applyPatch, createBody, writeFor } from "../../functions/core/write-plan.js";
import { diffRoles } from "../../functions/core/membership-diff.js";
import type { CreateBody, CurrentUser, DesiredProfile } from "../../functions/core/types.js";
import { currentArb, desiredArb, reorder } from "../helpers/arbitraries.js";

/** The user a create produces, as Auth0 would return it. */
function userFromCreate(userId: string, body: CreateBody): CurrentUser {
  return { user_id: userId, ...body, user_metadata: body.user_metadata ?? {}, app_metadata: body.app_metadata ?? {} };
}

const desired = (over: Partial<DesiredProfile> = {}): DesiredProfile => ({
  key: "k1",
  email: "ada@example.com",
  fields: { given_name: "Ada" },
  user_metadata: { plan: "pro" },
  app_metadata: { sync_key: "k1" },
  createOnly: [],
  ...over,
});
const current = (over: Partial<CurrentUser> = {}): CurrentUser => ({
  user_id: "auth0|1",
  email: "ada@example.com",
  given_name: "Ada",
  user_metadata: { plan: "pro" },
  app_metadata: { sync_key: "k1" },
  ...over,
});

/** Does the user hold what the desired profile asks for (ignoring create-only targets)? */
function holds(user: CurrentUser, d: DesiredProfile): boolean {
  if ((user.email ?? "").toLowerCase() !== d.email) return false;
  const u = user as unknown as Record<string, unknown>;
  for (const [f, v] of Object.entries(d.fields)) {
    if (d.createOnly.includes(f)) continue;
    const have = u[f] ?? (typeof v === "boolean" ? false : null);
    if (have !== v) return false;
  }
  for (const bag of ["user_metadata", "app_metadata"] as const) {
    for (const [k, v] of Object.entries(d[bag])) {
      if (d.createOnly.includes(`${bag}.${k}`)) continue;
      const have = user[bag]?.[k];
      if (v === null ? have !== undefined : !jsonEqual(have, v)) return false;
    }
  }
  return true;
}

describe("plan", () => {
  it("creates when no user exists, with only non-null values", () => {
    const op = writeFor({ desired: desired({ fields: { given_name: "Ada", family_name: null }, user_metadata: { plan: "pro", gone: null } }), current: null, mode: "upsert" });
    expect(op).toEqual({ kind: "create", body: { email: "ada@example.com", given_name: "Ada", user_metadata: { plan: "pro" }, app_metadata: { sync_key: "k1" } } });
  });

  it("does nothing when the user already matches", () => {
    expect(writeFor({ desired: desired(), current: current(), mode: "upsert" })).toEqual({ kind: "none", userId: "auth0|1" });
  });

  it("patches only the fields that differ", () => {
    const op = writeFor({ desired: desired({ fields: { given_name: "Ada", family_name: "King" } }), current: current({ nickname: "ada" }), mode: "update" });
    expect(op).toEqual({ kind: "update", userId: "auth0|1", patch: { family_name: "King" } });
  });

  it("merges metadata at the first level: changed keys, nulls for cleared keys, never an empty object", () => {
    const op = writeFor({
      desired: desired({ user_metadata: { plan: "team", prefs: null }, app_metadata: { sync_key: "k1" } }),
      current: current({ user_metadata: { plan: "pro", prefs: { a: 1 }, theirs: true } }),
      mode: "upsert",
    });
    expect(op).toEqual({ kind: "update", userId: "auth0|1", patch: { user_metadata: { plan: "team", prefs: null } } });
  });

  it("deletes keys the sync owned before and no longer maps, and leaves other keys alone", () => {
    const op = writeFor({
      desired: desired(),
      current: current({ user_metadata: { plan: "pro", old: 1, theirs: 2 } }),
      mode: "upsert",
      previouslyOwned: { user_metadata: ["plan", "old"] },
    });
    expect(op).toEqual({ kind: "update", userId: "auth0|1", patch: { user_metadata: { old: null } } });
  });

  it("clears a top-level field with null, and only when it has a value", () => {
    expect(writeFor({ desired: desired({ fields: { given_name: null } }), current: current(), mode: "upsert" })).toEqual({
      kind: "update",
      userId: "auth0|1",
      patch: { given_name: null },
    });
    expect(writeFor({ desired: desired({ fields: { family_name: null } }), current: current(), mode: "upsert" }).kind).toBe("none");
  });

  it("changes the email, keeping email_verified as desired", () => {
    const op = writeFor({ desired: desired({ email: "ada@new.example", fields: { given_name: "Ada", email_verified: true } }), current: current({ email_verified: true }), mode: "upsert" });
    expect(op).toEqual({ kind: "update", userId: "auth0|1", patch: { email: "ada@new.example", email_verified: true } });
  });

  it("never overwrites create-only targets", () => {
    const op = writeFor({
      desired: desired({ fields: { given_name: "New" }, app_metadata: { sync_key: "k1", tier: "gold" }, createOnly: ["given_name", "app_metadata.tier"] }),
      current: current({ app_metadata: { sync_key: "k1", tier: "bronze" } }),
      mode: "upsert",
    });
    expect(op.kind).toBe("none");
    const created = writeFor({ desired: desired({ app_metadata: { tier: "gold" }, createOnly: ["app_metadata.tier"] }), current: null, mode: "insert" });
    expect(created.kind === "create" && created.body.app_metadata).toEqual({ tier: "gold" });
  });

  it("rejects by mode: insert when the user exists, update when it does not", () => {
    expect(writeFor({ desired: desired(), current: current(), mode: "insert" })).toEqual({
      kind: "reject",
      rejection: { code: "user_exists", field: "email", reason: "an Auth0 user already exists and the mode is insert" },
    });
    expect(writeFor({ desired: desired(), current: null, mode: "update" })).toEqual({
      kind: "reject",
      rejection: { code: "user_not_found", field: "email", reason: "no Auth0 user exists and the mode is update" },
    });
  });

  it("diffs roles", () => {
    expect(diffRoles(["admin", "viewer"], ["viewer", "editor"], true)).toEqual({ add: ["admin"], remove: ["editor"] });
    expect(diffRoles(["admin"], ["editor"], false)).toEqual({ add: ["admin"], remove: [] });
  });

  it("property: applying the planned patch to the current profile yields the desired profile", () => {
    fc.assert(
      fc.property(desiredArb, currentArb, (d, c) => {
        const op = writeFor({ desired: d, current: c, mode: "upsert" });
        expect(op.kind === "update" || op.kind === "none").toBe(true);
        const after = op.kind === "update" ? applyPatch(c, op.patch) : c;
        expect(holds(after, d)).toBe(true);
        // And once applied, there is nothing left to do.
        expect(writeFor({ desired: d, current: after, mode: "upsert" }).kind).toBe("none");
        if (op.kind === "update") {
          // Minimal: no empty metadata object (Auth0 would wipe it), no key that already had its value.
          for (const bag of ["user_metadata", "app_metadata"] as const) {
            const p = op.patch[bag];
            if (p) {
              expect(Object.keys(p).length).toBeGreaterThan(0);
              for (const [k, v] of Object.entries(p)) {
                if (v !== null) expect(jsonEqual(c[bag]?.[k], v)).toBe(false);
                else expect(c[bag]?.[k]).not.toBeUndefined();
              }
            }
          }
          // Keys the sync does not own are untouched.
          for (const bag of ["user_metadata", "app_metadata"] as const) {
            for (const [k, v] of Object.entries(c[bag] ?? {})) {
              if (!(k in d[bag])) expect(after[bag]?.[k]).toEqual(v);
            }
          }
        } else {
          expect(holds(c, d)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("property: a created user needs no further patch", () => {
    fc.assert(
      fc.property(desiredArb, (d) => {
        const op = writeFor({ desired: d, current: null, mode: "upsert" });
        expect(op.kind).toBe("create");
        if (op.kind !== "create") return;
        expect(op.body).toEqual(createBody(d));
        expect(writeFor({ desired: d, current: userFromCreate("auth0|x", op.body), mode: "upsert" }).kind).toBe("none");
      }),
    );
  });
});

describe("fingerprint", () => {
  it("is independent of key order", () => {
    fc.assert(
      fc.property(desiredArb, (d) => {
        expect(fingerprint(reorder(d))).toBe(fingerprint(d));
      }),
    );
  });

  it("differs whenever the desired profile differs", () => {
    fc.assert(
      fc.property(desiredArb, desiredArb, (a, b) => {
        const same = canonicalJson({ ...a, createOnly: [...a.createOnly].sort(), roles: a.roles && [...a.roles].sort() }) ===
          canonicalJson({ ...b, createOnly: [...b.createOnly].sort(), roles: b.roles && [...b.roles].sort() });
        expect(fingerprint(a) === fingerprint(b)).toBe(same);
      }),
      { numRuns: 500 },
    );
  });

  it("changes with a single field and ignores the order of roles", () => {
    const d = desired({ roles: ["b", "a"] });
    expect(fingerprint(d)).toBe(fingerprint({ ...d, roles: ["a", "b"] }));
    expect(fingerprint(d)).not.toBe(fingerprint({ ...d, fields: { given_name: "Ada " } }));
    expect(fingerprint(d)).not.toBe(fingerprint({ ...d, user_metadata: { plan: null } }));
    expect(fingerprint(d)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
