import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROFILE_MAX_BYTES, ProfileMapper, hashKey } from "../../functions/core/profile.js";
import { AppliedFingerprints, RunDuplicates } from "../../functions/core/run-indexes.js";
import { rejectionMessage, type DesiredProfile, type Row } from "../../functions/core/types.js";
import { MAX_IDENTITY_KEY_BYTES } from "../../functions/core/ledger-keys.js";
import { testConfig } from "../helpers/config.js";

const cfg = testConfig({
  mapping: {
    given_name: "first_name",
    family_name: { column: "last_name", onNull: "clear" },
    phone_number: "phone",
    picture: "avatar",
    blocked: "is_blocked",
    email_verified: "verified",
    "user_metadata.prefs": { column: "prefs", json: true },
    "app_metadata.tier": { column: "tier", createOnly: true },
    app_metadata: "app_json",
  },
  roles: { column: "roles" },
});
const mapper = new ProfileMapper(cfg);
const row = (extra: Row = {}): Row => ({ id: "u-1", email: "Ada@Example.COM", first_name: "Ada", ...extra });

function rejected(r: Row, rowNumber = 7) {
  const res = mapper.map(r, rowNumber);
  if (res.ok) throw new Error(`expected a rejection, got ${JSON.stringify(res.profile)}`);
  return { ...res.rejection, message: rejectionMessage(res.rejection) };
}

function mapped(r: Row) {
  const res = mapper.map(r, 1);
  if (!res.ok) throw new Error(`unexpected rejection: ${rejectionMessage(res.rejection)}`);
  return res.profile;
}

describe("JSON text with a key named twice", () => {
  it("is refused with the column named, in metadata and in organization roles", () => {
    expect(rejected(row({ prefs: '{"theme":"dark","theme":"light"}' })).message).toBe('row 7, key u-1: user_metadata.prefs: names the key "theme" twice in one object (JSON keeps only the last)');
    expect(rejected(row({ app_json: '{"tier":{"a":1,"a":2}}' })).message).toBe('row 7, key u-1: app_metadata: names the key "a" twice in one object (JSON keeps only the last)');
    const orgs = new ProfileMapper(testConfig({ organizations: { column: "orgs", roles: { column: "org_roles" } } }));
    const res = orgs.map({ id: "u-1", email: "a@example.com", orgs: "acme", org_roles: '{"acme":"admin","acme":"viewer"}' }, 3);
    expect(res.ok ? undefined : rejectionMessage(res.rejection)).toBe('row 3, key u-1: org_roles: names the key "acme" twice in one object (JSON keeps only the last)');
  });
});

describe("identity keys the ledger can hold", () => {
  it("a key of at most MAX_IDENTITY_KEY_BYTES bytes (UTF-8) maps; one byte more is rejected as key_too_long", () => {
    expect(mapped(row({ id: "k".repeat(MAX_IDENTITY_KEY_BYTES) })).key).toHaveLength(MAX_IDENTITY_KEY_BYTES);
    const r = rejected(row({ id: "k".repeat(MAX_IDENTITY_KEY_BYTES + 1) }));
    expect(r).toMatchObject({ code: "key_too_long", field: "id", row: 7, keyLabel: undefined });
    expect(r.message).toBe(`row 7: id: is ${MAX_IDENTITY_KEY_BYTES + 1} bytes; an identity key may have at most ${MAX_IDENTITY_KEY_BYTES} bytes (UTF-8)`);
    // Bytes, not characters: 1,024 two-byte characters are 2,048 bytes.
    expect(rejected(row({ id: "é".repeat(1024) })).code).toBe("key_too_long");
    expect(MAX_IDENTITY_KEY_BYTES + Buffer.byteLength("K#")).toBe(2048);
  });
});

describe("row -> desired profile", () => {
  it("maps standard fields, explicit metadata targets and the identity key", () => {
    const p = mapped(row({ last_name: "Lovelace", phone: "+44 (20) 7946-0958", avatar: "https://img.example/a.png", is_blocked: "f", verified: 1, tier: "gold", prefs: '{"theme":"dark"}', roles: "editor, admin" }));
    expect(p.key).toBe("u-1");
    expect(p.email).toBe("ada@example.com");
    expect(p.fields).toEqual({
      given_name: "Ada",
      family_name: "Lovelace",
      phone_number: "+442079460958",
      picture: "https://img.example/a.png",
      blocked: false,
      email_verified: true,
    });
    expect(p.user_metadata).toEqual({ prefs: { theme: "dark" } });
    expect(p.app_metadata).toEqual({ sync_key: "u-1", tier: "gold" });
    expect(p.createOnly).toEqual(["app_metadata.tier"]);
    expect(p.roles).toEqual(["admin", "editor"]);
  });

  it("puts unmapped columns into user_metadata, parsing JSON text, unless turned off", () => {
    expect(mapped(row({ plan: "pro", seats: 3, settings: '{"a":[1,2]}', note: "{not json" })).user_metadata).toEqual({
      plan: "pro",
      seats: 3,
      settings: { a: [1, 2] },
      note: "{not json",
    });
    const off = new ProfileMapper(testConfig({ unmappedColumns: "ignore" })).map(row({ plan: "pro" }));
    expect(off.ok && off.profile.user_metadata).toEqual({});
  });

  it("merges a JSON-object column into app_metadata", () => {
    expect(mapped(row({ app_json: { region: "eu", flags: { beta: true } } })).app_metadata).toEqual({
      sync_key: "u-1",
      region: "eu",
      flags: { beta: true },
    });
  });

  it("a NULL leaves Auth0's value alone by default and clears it where configured", () => {
    const p = mapped(row({ first_name: null, last_name: null, phone: "  ", is_blocked: null }));
    expect(p.fields).not.toHaveProperty("given_name");
    expect(p.fields).not.toHaveProperty("phone_number");
    expect(p.fields).not.toHaveProperty("blocked");
    expect(p.fields.family_name).toBeNull();
    const clearing = new ProfileMapper(testConfig({ defaults: { onNull: "clear" }, mapping: { blocked: "b", "user_metadata.plan": "plan" } }));
    const c = clearing.map(row({ b: null, plan: null, extra: null }));
    expect(c.ok && c.profile.fields.blocked).toBe(false);
    expect(c.ok && c.profile.user_metadata).toEqual({ plan: null, extra: null, first_name: "Ada" });
  });

  it("uses the lower-cased email as the key when the table has no key column", () => {
    const m = new ProfileMapper(testConfig({ identity: { emailColumn: "email" } }));
    const r = m.map({ email: "Bob@Example.com" });
    expect(r.ok && r.profile.key).toBe("bob@example.com");
    expect(r.ok && r.profile.app_metadata).toEqual({});
    expect(m.keyLabel("bob@example.com")).toBe(`#${hashKey("bob@example.com")}`);
  });
});

describe("validation: each rule rejects with a reason naming the row, key and field", () => {
  it("missing identity key", () => {
    expect(rejected(row({ id: null })).message).toBe("row 7: id: is empty; the identity key column must have a value");
  });
  it("missing and invalid email (the address is never repeated)", () => {
    expect(rejected(row({ email: null })).message).toBe("row 7, key u-1: email: is empty; every user needs an email address");
    for (const bad of ["plainaddress", "a@b", "a..b@example.com", "a@-example.com", "a b@example.com", "ä@example.com", "a@example.c0m"]) {
      const r = rejected(row({ email: bad }));
      expect(r.code).toBe("invalid_email");
      expect(r.message).toBe("row 7, key u-1: email: is not a valid email address");
      expect(r.message).not.toContain(bad);
    }
    expect(rejected(row({ email: `${"a".repeat(250)}@example.com` })).message).toMatch(/email: is not a valid email address \(length 262, allowed 3-254\)/);
  });
  it("phone E.164", () => {
    expect(rejected(row({ phone: "555-1234" })).message).toBe("row 7, key u-1: phone_number: expected E.164 like +14155550100, got '555-1234'");
    expect(rejected(row({ phone: "+1234567890123456" })).code).toBe("invalid_phone");
  });
  it("length limits", () => {
    expect(rejected(row({ first_name: "x".repeat(151) })).message).toBe("row 7, key u-1: given_name: must be 1-150 characters, got 151");
  });
  it("picture URI", () => {
    expect(rejected(row({ avatar: "not a url" })).message).toBe("row 7, key u-1: picture: expected an http(s) URL, got 'not a url'");
    expect(rejected(row({ avatar: "javascript:alert(1)" })).code).toBe("invalid_uri");
  });
  it("booleans", () => {
    expect(rejected(row({ is_blocked: "maybe" })).message).toBe("row 7, key u-1: blocked: expected true or false, got 'maybe'");
  });
  it("control characters in profile fields", () => {
    expect(rejected(row({ first_name: "Ad\u0007a" })).message).toBe("row 7, key u-1: given_name: contains control characters");
  });
  it("metadata keys without '.' or '$', at any depth", () => {
    expect(rejected(row({ prefs: '{"a.b":1}' })).message).toBe(
      "row 7, key u-1: user_metadata.prefs: metadata keys may not be empty or contain '.' or '$' (found 'a.b')",
    );
    expect(rejected(row({ prefs: '{"x":{"$set":1}}' })).field).toBe("user_metadata.prefs.x");
  });
  it("invalid JSON in a JSON column", () => {
    expect(rejected(row({ prefs: "{oops" })).message).toMatch(/^row 7, key u-1: user_metadata\.prefs: is not valid JSON \(/);
  });
  it("JSON nested too deep", () => {
    const deep = "[".repeat(40) + "]".repeat(40);
    expect(rejected(row({ prefs: deep })).message).toMatch(/nests deeper than 32 levels$/);
  });
  it("reserved app_metadata keys", () => {
    expect(rejected(row({ app_json: { email: "x" } })).message).toBe("row 7, key u-1: app_metadata.email: 'email' is a reserved app_metadata key in Auth0");
    expect(rejected(row({ app_json: { sync_key: "other" } })).code).toBe("reserved_metadata_key");
  });
  it("10 KB profile size", () => {
    const r = rejected(row({ bio: "x".repeat(PROFILE_MAX_BYTES) }));
    expect(r.code).toBe("profile_too_large");
    expect(r.message).toMatch(/^row 7, key u-1: profile: is \d+ bytes; Auth0 allows 10240 bytes per user$/);
  });
  it("roles", () => {
    expect(rejected(row({ roles: "[broken" })).message).toBe("row 7, key u-1: roles: is not a valid JSON array of role names");
    expect(rejected(row({ roles: Array.from({ length: 51 }, (_, i) => `r${i}`) })).message).toMatch(/lists 51 roles; Auth0 allows at most 50/);
  });
  it("the same key or email twice in one run", () => {
    const dup = new RunDuplicates();
    const a = mapped(row());
    const b = mapped(row({ email: "other@example.com" }));
    const c = mapped(row({ id: "u-2", email: "ADA@example.com" }));
    expect(dup.check(a, 1, "u-1")).toBeUndefined();
    expect(rejectionMessage(dup.check(b, 2, "u-1")!)).toBe("row 2, key u-1: key: the same identity key appears again (first at row 1)");
    expect(rejectionMessage(dup.check(c, 3, "u-2")!)).toBe("row 3, key u-2: email: the same email address is already used by row 1 under another key");
  });
});

describe("properties", () => {
  // Text that is not JSON-looking (unmapped columns starting with { or [ are parsed as JSON on purpose).
  const safeText = fc
    .string({ minLength: 1, maxLength: 30 })
    // eslint-disable-next-line no-control-regex
    .filter((s) => s.trim().length > 0 && !/^[[{]/.test(s.trim()) && !/[\u0000-\u001f\u007f]/.test(s));
  const anyValue = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.double(), fc.object(), fc.array(fc.anything()));

  it("never throws, whatever the row holds", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("id", "email", "first_name", "last_name", "phone", "avatar", "prefs", "roles", "app_json", "is_blocked", "x"), anyValue), (r) => {
        const res = mapper.map(r as Row, 1);
        if (!res.ok) expect(rejectionMessage(res.rejection)).toMatch(/^row 1(, key .+)?: \S+: .+/);
      }),
    );
  });

  it("maps valid values exactly, whatever the column order", () => {
    fc.assert(
      fc.property(safeText, safeText, fc.constantFrom("a@example.com", "B.c+tag@Sub.Example.org"), fc.boolean(), (first, plan, email, reverse) => {
        const entries = Object.entries({ id: "k1", email, first_name: first, plan });
        const r = Object.fromEntries(reverse ? entries.reverse() : entries) as Row;
        const res = mapper.map(r);
        expect(res.ok).toBe(true);
        if (!res.ok) return;
        expect(res.profile.fields.given_name).toBe(first.trim());
        expect(res.profile.user_metadata.plan).toBe(plan);
        expect(res.profile.email).toBe(email.toLowerCase());
      }),
    );
  });
});

describe("RunDuplicates at scale", () => {
  it("keeps 200,000 distinct keys and emails apart and finds each repeat with the row it first appeared at", () => {
    const d = new RunDuplicates();
    const p = (i: number, email = `user${i}@example.com`) => ({ key: `k-${i}`, email, fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] }) as DesiredProfile;
    for (let i = 1; i <= 200_000; i++) expect(d.check(p(i), i, `k-${i}`)).toBeUndefined();
    expect(d.check(p(77_777), 200_001, "k-77777")).toMatchObject({ code: "duplicate_key", reason: "the same identity key appears again (first at row 77777)" });
    expect(d.check({ ...p(200_002), email: "user123456@example.com" }, 200_002, "k-200002")).toMatchObject({
      code: "duplicate_email",
      reason: "the same email address is already used by row 123456 under another key",
    });
  });
});

describe("AppliedFingerprints", () => {
  it("answers applied only for the key with the fingerprint last added, across 100,000 keys", () => {
    const a = new AppliedFingerprints();
    const fp = (i: number, v = 0) => hashKey(`profile-${i}-${v}`);
    for (let i = 0; i < 100_000; i++) a.add(`k-${i}`, fp(i));
    a.add("k-5", fp(5, 1)); // the profile applied changed: the latest counts
    expect(a.size).toBe(100_000);
    let applied = 0;
    for (let i = 0; i < 100_000; i++) if (a.isApplied(`k-${i}`, fp(i))) applied++;
    expect(applied).toBe(99_999);
    expect(a.isApplied("k-5", fp(5, 1))).toBe(true);
    expect(a.isApplied("k-5", fp(5))).toBe(false);
    expect(a.isApplied("k-7", fp(8))).toBe(false);
    expect(a.isApplied("k-100000", fp(100_000))).toBe(false);
  });
});
