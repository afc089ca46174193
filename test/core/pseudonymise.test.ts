import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { MINIMAL_COPY } from "../helpers/config.js";
import { CopySample, maskSourceValue } from "../../functions/core/copy-sample.js";
import { TEXT_FIELDS } from "../../functions/core/fields.js";
import { ProfileMapper } from "../../functions/core/profile.js";
import { MIN_KEY_BYTES, Pseudonymiser, type SourceUser } from "../../functions/core/pseudonymise.js";
import { DEFAULT_TRANSFORM, transformSchema } from "../../functions/core/tenant-copy-config.js";
import type { JsonObject, Row } from "../../functions/core/types.js";

const KEY = "test-key-0123456789abcdef-0123456789";
const OTHER_KEY = "another-key-fedcba9876543210-xyz";

/** A pseudonymiser for a transform given as config input (defaults filled by the schema). */
const pseudonymiser = (transform: unknown = {}, key: string | Uint8Array = KEY, reserved: readonly string[] = ["sync_key"]) =>
  new Pseudonymiser(transformSchema.parse(transform), key, reserved);

const ada = (extra: Partial<SourceUser> = {}): SourceUser => ({
  user_id: "auth0|5f7c8ec7c33c6c004bbafe82",
  email: "ada.lovelace@example.com",
  email_verified: true,
  given_name: "Ada",
  family_name: "Lovelace",
  name: "Ada Lovelace",
  nickname: "ada.lovelace",
  picture: "https://img.example.org/ada.png",
  phone_number: "+442079460958",
  blocked: false,
  username: "ada_l",
  identities: [{ provider: "auth0", user_id: "5f7c8ec7c33c6c004bbafe82", connection: "Username-Password-Authentication" }],
  user_metadata: { plan: "pro", preferences: { theme: "dark", language: "en" }, secret: "s3cr3t-note" },
  app_metadata: { sync_key: "prod-key-1", tier: "gold", crm: { account_ref: "ACC-77", owner: "grace@example.org" } },
  ...extra,
});

const meta = (row: Row, bag: "user_metadata" | "app_metadata"): JsonObject => row[bag] as JsonObject;

/** Every string value of a source user (nested), for "none of these reaches the row" checks. */
function sourceStrings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(sourceStrings);
  if (v && typeof v === "object") return Object.values(v).flatMap(sourceStrings);
  return [];
}

describe("Pseudonymiser: determinism and the keyed identity", () => {
  it("gives the same pseudonyms for the same key and value, in two instances", () => {
    const a = pseudonymiser();
    const b = pseudonymiser();
    expect(a.email("ada.lovelace@example.com")).toBe(b.email("ada.lovelace@example.com"));
    for (const f of TEXT_FIELDS) expect(a.field(f, "Ada Lovelace")).toBe(b.field(f, "Ada Lovelace"));
    expect(a.identityKey("auth0|abc")).toBe(b.identityKey("auth0|abc"));
    const transform = { fields: { phone_number: "pseudonymise", picture: "pseudonymise" }, user_metadata: { deny: [] } };
    expect(pseudonymiser(transform).row(ada())).toEqual(pseudonymiser(transform).row(ada()));
  });

  it("an email's pseudonym ignores case and surrounding spaces; different addresses get different pseudonyms", () => {
    const p = pseudonymiser();
    expect(p.email(" Ada.Lovelace@EXAMPLE.com ")).toBe(p.email("ada.lovelace@example.com"));
    expect(p.email("grace@example.org")).not.toBe(p.email("ada.lovelace@example.com"));
    expect(p.identityKey("auth0|a")).not.toBe(p.identityKey("auth0|b"));
  });

  it("a different key gives different pseudonyms", () => {
    const a = pseudonymiser();
    const b = pseudonymiser({}, OTHER_KEY);
    expect(a.email("ada.lovelace@example.com")).not.toBe(b.email("ada.lovelace@example.com"));
    expect(a.identityKey("auth0|abc")).not.toBe(b.identityKey("auth0|abc"));
    for (const f of ["username", "phone_number", "picture", "name"] as const) expect(a.field(f, "Ada Lovelace")).not.toBe(b.field(f, "Ada Lovelace"));
    // Names come from short lists: over a few values, at least one differs.
    for (const f of ["given_name", "family_name", "nickname"] as const) {
      const values = ["Ada", "Grace", "Linus", "Alan", "Barbara", "Edsger"];
      expect(values.map((v) => a.field(f, v))).not.toEqual(values.map((v) => b.field(f, v)));
    }
  });

  it("the identity key is src_ and a keyed hash: it never contains the source user_id", () => {
    const p = pseudonymiser();
    const key = p.identityKey("auth0|5f7c8ec7c33c6c004bbafe82");
    expect(key).toMatch(/^src_[0-9a-f]{24}$/);
    expect(key).not.toContain("5f7c8ec7c33c6c004bbafe82");
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (id) => {
        const k = p.identityKey(`auth0|${id}`);
        expect(k).toMatch(/^src_[0-9a-f]{24}$/);
        expect(k).not.toContain(`auth0|${id}`);
      }),
    );
  });

  it("row() never contains the source user_id, even with every field and all metadata kept", () => {
    const u = ada({ roles: ["admin"] });
    const everything = {
      email: "keep",
      allowRealEmails: true,
      fields: Object.fromEntries(TEXT_FIELDS.map((f) => [f, "keep"])),
      user_metadata: { deny: [] },
      app_metadata: { deny: [] },
    };
    for (const transform of [{}, everything]) {
      const row = pseudonymiser(transform).row(u);
      const text = JSON.stringify(row);
      expect(text).not.toContain(u.user_id);
      expect(text).not.toContain("5f7c8ec7c33c6c004bbafe82");
      expect(row.source_key).toBe(pseudonymiser().identityKey(u.user_id));
    }
  });

  it("row() never contains the source user_id, even when a kept metadata value repeats it", () => {
    const u = ada({ user_metadata: { plan: "pro", auth0_id: "auth0|5f7c8ec7c33c6c004bbafe82" } });
    const text = JSON.stringify(pseudonymiser({ user_metadata: { deny: [] } }).row(u));
    expect(text).not.toContain("5f7c8ec7c33c6c004bbafe82");
  });

  it("refuses a key shorter than 16 bytes (counted in bytes, not characters)", () => {
    expect(MIN_KEY_BYTES).toBe(16);
    expect(() => pseudonymiser({}, "short")).toThrow(/at least 16 bytes/);
    expect(() => pseudonymiser({}, "x".repeat(15))).toThrow(/at least 16 bytes/);
    expect(() => pseudonymiser({}, new Uint8Array(15))).toThrow(/at least 16 bytes/);
    expect(() => pseudonymiser({}, "x".repeat(16))).not.toThrow();
    expect(() => pseudonymiser({}, new Uint8Array(16))).not.toThrow();
    expect(() => pseudonymiser({}, "é".repeat(8))).not.toThrow();
  });
});

describe("Pseudonymiser: the email", () => {
  it("is pseudonymised at transform.emailDomain (example.com by default)", () => {
    const p = pseudonymiser();
    const row = p.row(ada());
    expect(row.email).toBe(p.email("ada.lovelace@example.com"));
    expect(row.email).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.com$/);
    expect(JSON.stringify(row)).not.toContain("ada.lovelace@example.com");
    const other = pseudonymiser({ emailDomain: "copy.staging.example.org" }).row(ada());
    expect(other.email).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{10}@copy\.staging\.example\.org$/);
  });

  it("is kept only with email: keep and allowRealEmails", () => {
    expect(pseudonymiser({ email: "keep", allowRealEmails: true }).row(ada()).email).toBe("ada.lovelace@example.com");
    expect(pseudonymiser({ allowRealEmails: true }).row(ada()).email).not.toBe("ada.lovelace@example.com");
    expect(() => pseudonymiser({ email: "keep" })).toThrow(/allowRealEmails/);
  });

  it("a missing or blank email gives null", () => {
    expect(pseudonymiser().row(ada({ email: undefined })).email).toBeNull();
    expect(pseudonymiser().row(ada({ email: "  " })).email).toBeNull();
    expect(pseudonymiser().row(ada({ email: null })).email).toBeNull();
    expect(pseudonymiser({ email: "keep", allowRealEmails: true }).row(ada({ email: undefined })).email).toBeNull();
  });
});

describe("Pseudonymiser: field modes", () => {
  it("by default pseudonymises names and the username, drops phone and picture, keeps the flags", () => {
    const p = pseudonymiser();
    const row = p.row(ada({ email_verified: true, blocked: true }));
    expect(row.given_name).toBe(p.field("given_name", "Ada"));
    expect(row.family_name).toBe(p.field("family_name", "Lovelace"));
    expect(row.name).toBe(p.field("name", "Ada Lovelace"));
    expect(row.nickname).toBe(p.field("nickname", "ada.lovelace"));
    expect(row.username).toBe(p.field("username", "ada_l"));
    expect(row.given_name).toMatch(/^[A-Z][a-z]+$/);
    expect(row.name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
    expect(row.username).toMatch(/^user_[0-9a-f]{12}$/);
    for (const f of ["given_name", "family_name", "name", "nickname", "username"]) expect(row[f]).not.toBe(ada()[f]);
    expect(row.phone_number).toBeNull();
    expect(row.picture).toBeNull();
    expect(row.email_verified).toBe(true);
    expect(row.blocked).toBe(true);
    expect(p.row(ada({ email_verified: false, blocked: false }))).toMatchObject({ email_verified: false, blocked: false });
  });

  it("keep keeps the value, drop gives null", () => {
    const row = pseudonymiser({ fields: { given_name: "keep", picture: "keep", name: "drop", username: "drop", blocked: "drop", email_verified: "drop" } }).row(ada());
    expect(row.given_name).toBe("Ada");
    expect(row.picture).toBe("https://img.example.org/ada.png");
    expect(row.name).toBeNull();
    expect(row.username).toBeNull();
    expect(row.blocked).toBeNull();
    expect(row.email_verified).toBeNull();
  });

  it("a pseudonymised phone number is a fictional E.164 number, a pseudonymised picture an https URL", () => {
    const p = pseudonymiser({ fields: { phone_number: "pseudonymise", picture: "pseudonymise" } });
    const row = p.row(ada());
    expect(row.phone_number).toMatch(/^\+1555[0-9]{7}$/);
    expect(row.phone_number).not.toBe("+442079460958");
    expect(new URL(row.picture as string).protocol).toBe("https:");
    expect(row.picture).not.toContain("img.example.org");
    for (const phone of ["+14155550100", "+4915112345678", "+33 1 23 45 67 89"]) expect(p.field("phone_number", phone)).toMatch(/^\+1555[0-9]{7}$/);
  });

  it("a field the source user does not have is null, whatever its mode", () => {
    const row = pseudonymiser({ fields: { phone_number: "pseudonymise", given_name: "keep" } }).row({ user_id: "auth0|x", email: "a@example.com" });
    for (const f of ["given_name", "family_name", "name", "nickname", "picture", "phone_number", "username", "blocked", "email_verified"]) expect(row[f]).toBeNull();
  });
});

describe("Pseudonymiser: metadata", () => {
  it("copies nothing by default", () => {
    const row = pseudonymiser().row(ada());
    expect(meta(row, "user_metadata")).toEqual({});
    expect(meta(row, "app_metadata")).toEqual({});
    expect(JSON.stringify(row)).not.toContain("s3cr3t-note");
  });

  it("an allow list copies only those paths; a nested path keeps only that leaf", () => {
    const row = pseudonymiser({ user_metadata: { allow: ["plan", "preferences.theme"] }, app_metadata: { allow: ["tier"] } }).row(ada());
    expect(meta(row, "user_metadata")).toEqual({ plan: "pro", preferences: { theme: "dark" } });
    expect(meta(row, "app_metadata")).toEqual({ tier: "gold" });
    // An allowed path the user does not have is simply absent.
    expect(meta(pseudonymiser({ user_metadata: { allow: ["missing.path"] } }).row(ada()), "user_metadata")).toEqual({});
  });

  it("a deny list copies all but those paths", () => {
    const row = pseudonymiser({ user_metadata: { deny: ["secret", "preferences.language"] }, app_metadata: { deny: ["crm"] } }).row(ada());
    expect(meta(row, "user_metadata")).toEqual({ plan: "pro", preferences: { theme: "dark" } });
    expect(meta(row, "app_metadata")).toEqual({ tier: "gold" });
  });

  it("a denied path under a pseudonymised parent is still not copied", () => {
    const row = pseudonymiser({ user_metadata: { deny: ["preferences.language", "secret"], pseudonymise: ["preferences"] } }).row(ada());
    const prefs = meta(row, "user_metadata").preferences as JsonObject;
    expect(prefs.theme).toMatch(/^p_[0-9a-f]{16}$/);
    expect(Object.keys(prefs)).toEqual(["theme"]);
  });

  it("pseudonymises paths: text as p_ tokens, emails as pseudonymous emails, numbers as numbers of no more digits, objects leaf by leaf", () => {
    const p = pseudonymiser({
      emailDomain: "pseudo.example.net",
      user_metadata: { allow: ["nick", "contact", "seats", "address", "plan"], pseudonymise: ["nick", "contact", "seats", "address"] },
    });
    const u = ada({
      user_metadata: { nick: "Ada the Great", contact: "ada.work@corp.example", seats: 12345, address: { street: "12 Crescent Rd", zip: 10115, city: "London" }, plan: "pro" },
    });
    const m = meta(p.row(u), "user_metadata");
    expect(m.nick).toMatch(/^p_[0-9a-f]{16}$/);
    expect(m.contact).toBe(p.email("ada.work@corp.example"));
    expect(m.contact).toMatch(/@pseudo\.example\.net$/);
    const seats = m.seats as number;
    expect(typeof seats).toBe("number");
    expect(Number.isInteger(seats)).toBe(true);
    expect(String(seats).length).toBeLessThanOrEqual(5);
    expect(seats).not.toBe(12345);
    const address = m.address as JsonObject;
    expect(Object.keys(address).sort()).toEqual(["city", "street", "zip"]);
    expect(address.street).toMatch(/^p_[0-9a-f]{16}$/);
    expect(address.city).toMatch(/^p_[0-9a-f]{16}$/);
    const zip = address.zip as number;
    expect(typeof zip).toBe("number");
    expect(String(zip).length).toBeLessThanOrEqual(5);
    expect(m.plan).toBe("pro");
    const text = JSON.stringify(m);
    for (const v of ["Ada the Great", "ada.work@corp.example", "12 Crescent Rd", "London"]) expect(text).not.toContain(v);
    // Deterministic: the same value at the same path gives the same pseudonym.
    expect(meta(p.row(u), "user_metadata")).toEqual(m);
    // Small numbers stay small.
    const small = meta(pseudonymiser({ user_metadata: { allow: ["n"], pseudonymise: ["n"] } }).row(ada({ user_metadata: { n: 7 } })), "user_metadata");
    expect(small.n).toBeGreaterThanOrEqual(0);
    expect(small.n).toBeLessThan(10);
  });

  it("never copies the target's sync key from the source's app_metadata", () => {
    const u = ada({ app_metadata: { sync_key: "prod-key-1", tier: "gold" } });
    expect(meta(pseudonymiser({ app_metadata: { deny: [] } }).row(u), "app_metadata")).toEqual({ tier: "gold" });
    expect(meta(pseudonymiser({ app_metadata: { allow: ["sync_key", "tier"] } }).row(u), "app_metadata")).toEqual({ tier: "gold" });
    expect(meta(pseudonymiser({ app_metadata: { allow: ["sync_key"], pseudonymise: ["sync_key"] } }).row(u), "app_metadata")).toEqual({});
    // Another name for the sync key is the one kept out.
    expect(meta(pseudonymiser({ app_metadata: { deny: [] } }, KEY, ["ext_key"]).row(ada({ app_metadata: { ext_key: "k", sync_key: "s" } })), "app_metadata")).toEqual({ sync_key: "s" });
  });
});

describe("Pseudonymiser: the guards on kept values", () => {
  it("without allowRealEmails, an email inside a kept metadata text is replaced by its pseudonym", () => {
    const p = pseudonymiser({ user_metadata: { allow: ["bio", "tags"] }, app_metadata: { deny: [] } });
    const u = ada({ user_metadata: { bio: "contact me at ada@example.com", tags: ["x", "cc grace@example.org"] } });
    const row = p.row(u);
    expect(meta(row, "user_metadata")).toEqual({ bio: `contact me at ${p.email("ada@example.com")}`, tags: ["x", `cc ${p.email("grace@example.org")}`] });
    const text = JSON.stringify(row);
    for (const real of ["ada@example.com", "grace@example.org", "ada.lovelace@example.com"]) expect(text).not.toContain(real);
  });

  it("without allowRealEmails, an email inside a kept profile field is replaced too", () => {
    const p = pseudonymiser({ fields: { nickname: "keep" } });
    expect(p.row(ada({ nickname: "ada@example.com" })).nickname).toBe(p.email("ada@example.com"));
  });

  it("a kept metadata value equal to one of the user's hidden values becomes that value's pseudonym", () => {
    const p = pseudonymiser({ user_metadata: { deny: [] } });
    const u = ada({
      user_metadata: { display: "Ada Lovelace", shout: " ADA LOVELACE ", first: "ada", mobile: "+442079460958", login: "Ada.Lovelace@Example.com", nested: { who: "Lovelace" } },
    });
    const row = p.row(u);
    const m = meta(row, "user_metadata");
    expect(m.display).toBe(row.name);
    // (Found inside the text: the spaces around it stay.)
    expect(m.shout).toBe(` ${row.name as string} `);
    expect(m.first).toBe(row.given_name);
    // The phone number is dropped from the profile; a copy of it in metadata still does not pass.
    expect(m.mobile).toBe(p.field("phone_number", "+442079460958"));
    expect(m.login).toBe(row.email);
    expect((m.nested as JsonObject).who).toBe(row.family_name);
    const text = JSON.stringify(row);
    for (const real of ["Ada Lovelace", "ADA LOVELACE", "+442079460958", "Ada.Lovelace@Example.com", "Lovelace"]) expect(text).not.toContain(real);
  });

  it("with allowRealEmails but the email pseudonymised, a metadata copy of the user's own email is still its pseudonym", () => {
    const p = pseudonymiser({ allowRealEmails: true, user_metadata: { allow: ["login", "manager"] } });
    const row = p.row(ada({ user_metadata: { login: "Ada.Lovelace@example.com", manager: "grace@example.org" } }));
    expect(row.email).toBe(p.email("ada.lovelace@example.com"));
    expect(meta(row, "user_metadata")).toEqual({ login: row.email, manager: "grace@example.org" });
  });

  it("with allowRealEmails and email: keep, real emails pass", () => {
    const p = pseudonymiser({ email: "keep", allowRealEmails: true, fields: { nickname: "keep" }, user_metadata: { allow: ["bio", "login"] } });
    const row = p.row(ada({ nickname: "ada@example.com", user_metadata: { bio: "contact me at ada@example.com", login: "ada.lovelace@example.com" } }));
    expect(row.email).toBe("ada.lovelace@example.com");
    expect(row.nickname).toBe("ada@example.com");
    expect(meta(row, "user_metadata")).toEqual({ bio: "contact me at ada@example.com", login: "ada.lovelace@example.com" });
  });
});

describe("Pseudonymiser: rules and guards inside lists and text (review findings)", () => {
  it("a deny or pseudonymise below a list applies to every element; an allow below a list copies only that", () => {
    const denied = pseudonymiser({ app_metadata: { deny: ["contacts.ssn"] } }).row(ada({ app_metadata: { contacts: [{ ssn: "123-45-6789", kind: "home" }, { ssn: "987-65-4321" }] } }));
    expect(meta(denied, "app_metadata")).toEqual({ contacts: [{ kind: "home" }] });
    const pseudo = pseudonymiser({ user_metadata: { allow: ["a"], pseudonymise: ["a.x"] } }).row(ada({ user_metadata: { a: [{ x: "secret-x", y: "kept" }] } }));
    const a = meta(pseudo, "user_metadata").a as JsonObject[];
    expect(a[0]!.y).toBe("kept");
    expect(a[0]!.x).toMatch(/^p_[0-9a-f]{16}$/);
    const allowed = pseudonymiser({ user_metadata: { allow: ["a.b"] } }).row(ada({ user_metadata: { a: [{ b: 1, c: "no" }, { c: "no" }] } }));
    expect(meta(allowed, "user_metadata")).toEqual({ a: [{ b: 1 }] });
  });

  it("hidden values inside kept text: the phone number however written, the user_id in text and as a key, a name in a sentence", () => {
    const p = pseudonymiser({ user_metadata: { deny: [] } });
    const u = ada({
      phone_number: "+14155550100",
      user_metadata: { reach: "call +1 (415) 555-0100 or 415.555.0100", ref: "see auth0|abc123 for history", linked: { "auth0|abc123": true }, note: "Ada prefers mornings; Adam does not" },
    });
    const row = p.row({ ...u, user_id: "auth0|abc123" });
    const text = JSON.stringify(row);
    for (const hidden of ["4155550100", "415) 555", "415.555.0100", "auth0|abc123", "Ada "]) expect(text).not.toContain(hidden);
    const m = meta(row, "user_metadata");
    expect(m.note).toMatch(/ prefers mornings; Adam does not$/);
    expect(Object.keys(m.linked as JsonObject)).toEqual([row.source_key]);
  });
});

describe("Pseudonymiser: property", () => {
  // Generated values start with "zq"/"Zq" (or "+44"), which no pseudonym can contain: the fake names have no "zq",
  // hex has no "q", and pseudonymous phone numbers start with +1555.
  const lower = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789"), minLength: 1, maxLength: 8 });
  const letters = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz"), minLength: 1, maxLength: 8 });
  const emailArb = fc
    .tuple(lower, fc.option(fc.tuple(fc.constantFrom(".", "+", "_", "-"), lower), { nil: undefined }), letters, fc.constantFrom("com", "org", "net", "io", "co.uk"))
    .map(([local, tail, domain, tld]) => `zq${local}${tail ? tail.join("") : ""}@${domain}.${tld}`);
  const nameArb = letters.map((s) => `Zq${s}`);
  const phoneArb = fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 9, maxLength: 11 }).map((d) => `+44${d}`);
  const markerArb = lower.map((s) => `zqdenied-${s}`);

  const userArb = fc
    .record({
      id: lower,
      email: emailArb,
      given_name: nameArb,
      family_name: nameArb,
      phone_number: phoneArb,
      nickname: nameArb,
      username: lower.map((s) => `zq_${s}`),
      theme: fc.constantFrom("dark", "light"),
      marker: markerArb,
      // What the one allowed path holds: a neutral value, or one of the user's own values (the guards replace it).
      allowed: fc.constantFrom("neutral", "email", "given_name", "family_name", "name", "phone_number", "email_in_text", "other_email_in_text"),
      other: emailArb,
      seats: fc.integer({ min: 0, max: 10_000 }),
    })
    .map((g) => {
      const name = `${g.given_name} ${g.family_name}`;
      const ownValue = {
        neutral: g.theme,
        email: g.email,
        given_name: g.given_name,
        family_name: g.family_name,
        name,
        phone_number: g.phone_number,
        email_in_text: `write to ${g.email} please`,
        other_email_in_text: `manager: ${g.other}`,
      }[g.allowed];
      const user: SourceUser = {
        user_id: `auth0|zqid${g.id}`,
        email: g.email,
        email_verified: true,
        given_name: g.given_name,
        family_name: g.family_name,
        name,
        nickname: g.nickname,
        username: g.username,
        phone_number: g.phone_number,
        blocked: false,
        user_metadata: {
          preferences: { theme: ownValue, secret: g.marker, contact: g.email },
          note: `${name} <${g.email}>`,
          phone: g.phone_number,
          seats: g.seats,
        },
        app_metadata: { crm: { owner: g.other, ref: g.marker }, full_name: name, sync_key: g.marker },
      };
      return { user, forbidden: [g.email, g.given_name, g.family_name, name, g.phone_number, g.nickname, g.username, g.other, g.marker, user.user_id] };
    });

  it("under the default transform and an allow-listed neutral path, no source email, name, phone number or denied value reaches the row", () => {
    const p = pseudonymiser({ user_metadata: { allow: ["preferences.theme"] } });
    fc.assert(
      fc.property(userArb, ({ user, forbidden }) => {
        const row = p.row(user);
        const text = JSON.stringify(row).toLowerCase();
        for (const v of forbidden) expect(text).not.toContain(v.toLowerCase());
        expect(Object.keys(meta(row, "user_metadata"))).toEqual(["preferences"]);
        expect(Object.keys(meta(row, "user_metadata").preferences as JsonObject)).toEqual(["theme"]);
        expect(meta(row, "app_metadata")).toEqual({});
      }),
      { numRuns: 300 },
    );
  });
});

describe("a copied row through the ProfileMapper", () => {
  const cfg = parseConfig(`${MINIMAL_COPY}transform:
  user_metadata:
    allow: [preferences.theme]
  app_metadata:
    deny: [crm]
`);

  it("maps ok, keyed by the src_ key, with no source value in the profile", () => {
    const p = new Pseudonymiser(cfg.transform!, KEY, [cfg.identity.appMetadataKey]);
    const u = ada();
    const row = p.row(u);
    const res = new ProfileMapper(cfg).map(row, 1);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const profile = res.profile;
    expect(profile.key).toBe(p.identityKey(u.user_id));
    expect(profile.key).toMatch(/^src_[0-9a-f]{24}$/);
    expect(profile.email).toBe(p.email("ada.lovelace@example.com"));
    expect(profile.app_metadata).toEqual({ sync_key: profile.key, tier: "gold" });
    expect(profile.user_metadata).toEqual({ preferences: { theme: "dark" } });
    expect(profile.fields.phone_number).toBeNull();
    expect(profile.fields.picture).toBeNull();
    expect(profile.fields.email_verified).toBe(true);
    expect(profile.fields.blocked).toBe(false);
    const text = JSON.stringify(profile);
    // Every source text but the two kept values (short ones like "en" would match key names, so length >= 4).
    const kept = new Set(["dark", "gold"]);
    const hidden = sourceStrings(u).filter((s) => !kept.has(s) && s.length >= 4);
    expect(hidden).toEqual(expect.arrayContaining(["ada.lovelace@example.com", "Lovelace", "Ada Lovelace", "+442079460958", "grace@example.org", "prod-key-1"]));
    for (const v of hidden) expect(text).not.toContain(v);
    expect(text).not.toContain("Ada");
    expect(text).not.toContain("5f7c8ec7c33c6c004bbafe82");
  });
});

describe("CopySample", () => {
  it("masks emails, names, phone numbers and URLs", () => {
    expect(maskSourceValue("ada.lovelace@example.com")).toBe("a***@e***.com");
    expect(maskSourceValue("Ada Lovelace")).toBe("A** L*******");
    expect(maskSourceValue("+44 20 7946 0958")).toBe("+**********58");
    expect(maskSourceValue("+442079460958")).toBe("+**********58");
    const url = maskSourceValue("https://img.example.org/ada.png");
    expect(url).toMatch(/^https:\/\/.\*\*\*$/);
    expect(url).not.toContain("img.example");
    expect(maskSourceValue(true)).toBe("true");
    expect(maskSourceValue(null)).toBe("(none)");
    expect(maskSourceValue(undefined)).toBe("(none)");
    expect(maskSourceValue(42)).toBe("(a value)");
  });

  it("records at most `size` users; the lines never hold a raw source email or name", () => {
    const p = pseudonymiser({ fields: { given_name: "keep" }, user_metadata: { allow: ["plan"] } });
    const sample = new CopySample(2);
    const users = [ada(), ada({ user_id: "auth0|u2", email: "grace.hopper@example.org", given_name: "Grace", family_name: "Hopper", name: "Grace Hopper" }), ada({ user_id: "auth0|u3" })];
    for (const u of users) sample.add(u, p.row(u));
    const lines = sample.lines();
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l.key)).toEqual([p.identityKey(users[0]!.user_id), p.identityKey(users[1]!.user_id)]);
    const text = JSON.stringify(lines);
    for (const v of ["ada.lovelace@example.com", "grace.hopper@example.org", "Ada", "Lovelace", "Grace", "Hopper", "+442079460958", "img.example.org", "auth0|"]) {
      expect(text).not.toContain(v);
    }
    const first = new Map(lines[0]!.values.map((v) => [v.field, v]));
    expect(first.get("email")).toEqual({ field: "email", source: "a***@e***.com", target: p.email("ada.lovelace@example.com") });
    expect(first.get("given_name")).toEqual({ field: "given_name", source: "A**", target: "A** (kept)" });
    expect(first.get("phone_number")?.target).toBe("(dropped)");
    expect(first.get("email_verified")).toEqual({ field: "email_verified", source: "true", target: "true (kept)" });
    expect(first.get("user_metadata")).toEqual({ field: "user_metadata", source: "keys: plan, preferences, secret", target: "keys: plan" });
  });

  it("records five users by default", () => {
    const p = pseudonymiser();
    const sample = new CopySample();
    for (let i = 0; i < 8; i++) {
      const u = ada({ user_id: `auth0|${i}` });
      sample.add(u, p.row(u));
    }
    expect(sample.lines()).toHaveLength(5);
  });
});

describe("DEFAULT_TRANSFORM", () => {
  it("is what an empty transform parses to", () => {
    expect(transformSchema.parse({})).toEqual(DEFAULT_TRANSFORM);
    expect(new Pseudonymiser(DEFAULT_TRANSFORM, KEY).row(ada())).toEqual(pseudonymiser().row(ada()));
  });
});
