import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { MINIMAL_COPY } from "../helpers/config.js";
import { CopySample, maskSourceValue } from "../../functions/core/copy-sample.js";
import { TEXT_FIELDS } from "../../functions/core/fields.js";
import { ProfileMapper } from "../../functions/core/profile.js";
import { MIN_KEY_BYTES, Pseudonymiser, type SourceUser } from "../../functions/core/pseudonymise.js";
import { DEFAULT_TRANSFORM, transformSchema } from "../../functions/core/tenant-copy-config.js";
import type { Json, JsonObject, Row } from "../../functions/core/types.js";

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

/** A text folded as a reader would see it the same: compatibility forms, accents and case aside. */
const folded = (s: string) => s.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();

/** Every string and number of a row's metadata, nested (keys too), for "no spelling of this remains" checks. */
function metadataLeaves(v: unknown): (string | number | bigint)[] {
  if (typeof v === "string" || typeof v === "number" || typeof v === "bigint") return [v];
  if (Array.isArray(v)) return v.flatMap(metadataLeaves);
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => [k, ...metadataLeaves(x)]);
  return [];
}

describe("Pseudonymiser: the user's hidden values in every spelling (issue 24, point 2)", () => {
  const keepAll = { user_metadata: { deny: [] }, app_metadata: { deny: [] } };

  it("the phone number in other spellings, in other digits, and as a JSON number is replaced; other numbers stay", () => {
    const p = pseudonymiser(keepAll);
    const phoneTo = p.field("phone_number", "+14155550100");
    const u = ada({
      phone_number: "+14155550100",
      user_metadata: {
        national: 4155550100,
        full: 14155550100,
        dots: "415.555.0100",
        dashes: "+1-415-555-0100",
        zeros: "001 415 555 0100",
        fullwidth: "４１５ ５５５ ０１００",
        arabic: "٤١٥٥٥٥٠١٠٠",
        json: '{"mobile": 4155550100}',
        seats: 12,
        year: 2024,
      },
    });
    const m = meta(p.row(u), "user_metadata");
    expect(m.national).toBe(Number(phoneTo.slice(1)));
    expect(m.full).toBe(Number(phoneTo.slice(1)));
    for (const k of ["dots", "dashes", "zeros", "fullwidth", "arabic"]) expect(m[k], k).toBe(phoneTo);
    expect(m.json).toBe(JSON.stringify({ mobile: Number(phoneTo.slice(1)) }));
    expect(m.seats).toBe(12);
    expect(m.year).toBe(2024);
    for (const leaf of metadataLeaves(m)) expect(folded(String(leaf)).replace(/\D/g, "")).not.toContain("4155550100");
  });

  it("a national number with a trunk 0 or (0), and a short national number, are found too", () => {
    const p = pseudonymiser(keepAll);
    const uk = meta(p.row(ada({ phone_number: "+442079460958", user_metadata: { a: "020 7946 0958", b: "+44 (0)20 7946 0958", c: 2079460958 } })), "user_metadata");
    expect(uk).toEqual({ a: p.field("phone_number", "+442079460958"), b: p.field("phone_number", "+442079460958"), c: Number(p.field("phone_number", "+442079460958").slice(1)) });
    // Berlin: a 9-digit national number (the last ten digits would hold the country code's 9).
    const de = meta(p.row(ada({ phone_number: "+49301234567", user_metadata: { a: "030 1234567", b: 301234567 } })), "user_metadata");
    expect(de).toEqual({ a: p.field("phone_number", "+49301234567"), b: Number(p.field("phone_number", "+49301234567").slice(1)) });
  });

  it("the unique part of the user_id, the user_id URL-encoded, and every identity's provider id (text and number) are replaced", () => {
    const p = pseudonymiser(keepAll);
    const u = ada({
      user_id: "google-oauth2|109876543210987654321",
      identities: [
        { provider: "google-oauth2", user_id: "109876543210987654321", connection: "google-oauth2" },
        { provider: "github", user_id: 12345678, connection: "github" },
      ],
      user_metadata: {
        bare: "109876543210987654321",
        encoded: "google-oauth2%7C109876543210987654321",
        link: "https://app.example.com/users/google-oauth2%7c109876543210987654321/profile",
        // The exact parser's value for an integer beyond 2^53 (functions/core/json-text.ts).
        big: 109876543210987654321n as unknown as number,
        gh: 12345678,
        ghText: "linked github|12345678 and 12345678",
        other: 123456789,
      },
    });
    const row = p.row(u);
    const m = meta(row, "user_metadata");
    const key = row.source_key as string;
    expect(m.bare).toBe(key);
    expect(m.encoded).toBe(key);
    expect(m.link).toBe(`https://app.example.com/users/${key}/profile`);
    expect(typeof m.big).toBe("number");
    expect(m.big).not.toBe(Number(109876543210987654321n));
    expect(typeof m.gh).toBe("number");
    expect(m.gh).not.toBe(12345678);
    expect(m.ghText).toMatch(/^linked p_[0-9a-f]{16} and p_[0-9a-f]{16}$/);
    // A number of the same digits but nobody's id stays; and a short unique part only counts inside the user_id.
    expect(m.other).toBe(123456789);
    const short = meta(p.row(ada({ user_id: "github|42", user_metadata: { n: 42, t: "42 seats", id: "github|42" } })), "user_metadata");
    expect(short.n).toBe(42);
    expect(short.t).toBe("42 seats");
    expect(short.id).toMatch(/^src_/);
    for (const leaf of metadataLeaves({ ...m, other: null })) {
      expect(String(leaf)).not.toContain("109876543210987654321");
      expect(String(leaf)).not.toContain("12345678");
    }
    // Nothing is left that the ProfileMapper would have to refuse.
    expect(new ProfileMapper(parseConfig(`${MINIMAL_COPY}transform:\n  user_metadata: { deny: [] }\n`)).map(row, 1).ok).toBe(true);
  });

  it("names in another Unicode form, without their accents or in capitals are replaced", () => {
    const p = pseudonymiser(keepAll);
    const u = ada({ given_name: "José", family_name: "Muñoz", name: "José Muñoz" });
    const nfd = "José Muñoz".normalize("NFD");
    const row = p.row({ ...u, user_metadata: { nfd, plain: "Jose Munoz", caps: "JOSÉ MUÑOZ", first: "Jose".normalize("NFD"), text: "ask Jose or Munoz", width: "Ｊｏｓｅ" } });
    const m = meta(row, "user_metadata");
    expect(m).toMatchObject({ nfd: row.name, plain: row.name, caps: row.name, first: row.given_name, text: `ask ${row.given_name as string} or ${row.family_name as string}`, width: row.given_name });
    const text = folded(JSON.stringify(m));
    for (const real of ["jose", "munoz"]) expect(text).not.toContain(real);
  });

  it("the email URL-encoded and in base64 (standard and URL-safe, with or without padding, as written or lower-cased) is replaced by the pseudonym in the same encoding", () => {
    const p = pseudonymiser(keepAll);
    const email = "Ada+Test@Example.com";
    const to = p.email(email);
    const b64 = Buffer.from(email).toString("base64");
    const b64url = Buffer.from(email).toString("base64url");
    const row = p.row(ada({ email, user_metadata: { b64, b64url, unpadded: b64.replace(/=+$/, ""), encoded: encodeURIComponent(email), lower: Buffer.from(email.toLowerCase()).toString("base64") } }));
    const m = meta(row, "user_metadata");
    expect(Buffer.from(m.b64 as string, "base64").toString()).toBe(to);
    expect(Buffer.from(m.b64url as string, "base64url").toString()).toBe(to);
    expect(Buffer.from(m.unpadded as string, "base64").toString()).toBe(to);
    expect(m.encoded).toBe(encodeURIComponent(to));
    expect(Buffer.from(m.lower as string, "base64").toString()).toBe(to);
    const text = JSON.stringify(m);
    for (const real of [b64.replace(/=+$/, ""), b64url, encodeURIComponent(email)]) expect(text).not.toContain(real);
  });

  it("an integer beyond 2^53: pseudonymised by its exact digits; kept, it is refused by the mapper naming the field, never rounded", () => {
    const a = 12345678901234567890n;
    const b = 12345678901234567891n;
    // Both round to the same double: only the exact digits tell them apart.
    expect(Number(a)).toBe(Number(b));
    const p = pseudonymiser({ app_metadata: { allow: ["crm"], pseudonymise: ["crm.ref"] } });
    const ref = (v: bigint) => (meta(p.row(ada({ app_metadata: { crm: { ref: v } } })), "app_metadata").crm as JsonObject).ref;
    expect(typeof ref(a)).toBe("number");
    expect((ref(a) as number).toString().length).toBeLessThanOrEqual(9);
    expect(ref(a)).toBe(ref(a));
    expect(ref(a)).not.toBe(ref(b));

    const cfg = parseConfig(`${MINIMAL_COPY}transform:\n  app_metadata: { allow: [crm] }\n`);
    const kept = new Pseudonymiser(cfg.transform!, KEY, [cfg.identity.appMetadataKey]).row(ada({ app_metadata: { crm: { big_id: a, ok: 1 } } }));
    const res = new ProfileMapper(cfg).map(kept, 1);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.rejection).toMatchObject({ code: "invalid_value", field: "app_metadata.crm.big_id" });
    expect(res.rejection.reason).toBe("is an integer of 20 digits, beyond 2^53, and cannot be copied exactly: pseudonymise or deny it");
    // The value itself is not quoted (reasons reach logs).
    expect(res.rejection.reason).not.toContain("1234567890");
  });

  it("a kept JSON text nothing hidden is in stays exactly as written", () => {
    const p = pseudonymiser(keepAll);
    const raw = '{ "a": 1,  "b": [1, 2], "big": 12345678901234567890 }';
    expect(meta(p.row(ada({ user_metadata: { raw } })), "user_metadata").raw).toBe(raw);
  });
});

describe("Pseudonymiser: rules match keys in any case and inside JSON texts (issue 24, point 3)", () => {
  it("a deny matches a key in any case and Unicode form", () => {
    const p = pseudonymiser({ app_metadata: { deny: ["crm.owner_notes"] } });
    const u = ada({ app_metadata: { crm: { Owner_Notes: "call her", OWNER_NOTES: "again", "owner\uFF3Fnotes": "width", account_ref: "A-1" }, tier: "gold" } });
    expect(meta(p.row(u), "app_metadata")).toEqual({ crm: { account_ref: "A-1" }, tier: "gold" });
    // The config's case does not matter either.
    expect(meta(pseudonymiser({ app_metadata: { deny: ["CRM.Owner_Notes"] } }).row(u), "app_metadata")).toEqual({ crm: { account_ref: "A-1" }, tier: "gold" });
  });

  it("an allow and a pseudonymise match in any case too", () => {
    const p = pseudonymiser({ user_metadata: { allow: ["plan", "account.ref"], pseudonymise: ["account.ref"] } });
    const m = meta(p.row(ada({ user_metadata: { Plan: "pro", ACCOUNT: { Ref: "A-1", other: "x" } } })), "user_metadata");
    expect(Object.keys(m).sort()).toEqual(["ACCOUNT", "Plan"]);
    expect(m.Plan).toBe("pro");
    expect(m.ACCOUNT).toEqual({ Ref: expect.stringMatching(/^p_[0-9a-f]{16}$/) as unknown });
  });

  it("a text holding a JSON object or list is judged as that value: a denied key inside it is removed", () => {
    const p = pseudonymiser({ app_metadata: { deny: ["crm.owner_notes", "notes.owner_notes"] } });
    const u = ada({
      app_metadata: {
        crm: JSON.stringify({ owner_notes: "call her about renewal", account_ref: "A-1" }),
        notes: [JSON.stringify({ owner_notes: "x" }), JSON.stringify({ owner_notes: "y", kept: true })],
        plain: "{not json",
      },
    });
    const m = meta(p.row(u), "app_metadata");
    expect(m.crm).toBe(JSON.stringify({ account_ref: "A-1" }));
    expect(m.notes).toEqual([JSON.stringify({ kept: true })]);
    expect(m.plain).toBe("{not json");
    expect(JSON.stringify(m)).not.toContain("owner_notes");
  });

  it("an allow below a JSON text keeps only that path; a pseudonymise inside one replaces only that leaf", () => {
    const allowed = pseudonymiser({ user_metadata: { allow: ["prefs.theme"] } }).row(ada({ user_metadata: { prefs: '{"theme":"dark","secret":"s"}' } }));
    expect(meta(allowed, "user_metadata")).toEqual({ prefs: '{"theme":"dark"}' });
    const pseudo = pseudonymiser({ app_metadata: { allow: ["crm"], pseudonymise: ["crm.account_ref"] } }).row(ada({ app_metadata: { crm: '{"account_ref":"ACC-1","tier":"gold"}' } }));
    const crm = JSON.parse(meta(pseudo, "app_metadata").crm as string) as JsonObject;
    expect(crm.tier).toBe("gold");
    expect(crm.account_ref).toMatch(/^p_[0-9a-f]{16}$/);
  });

  it("hidden values inside a JSON text are found as values (an escaped name, a key)", () => {
    const p = pseudonymiser({ user_metadata: { deny: [] } });
    const row = p.row(ada({ given_name: "José", family_name: "Muñoz", name: "José Muñoz", user_metadata: { blob: '{"who":"Jos\\u00e9 Mu\\u00f1oz","auth0|5f7c8ec7c33c6c004bbafe82":1}' } }));
    const blob = JSON.parse(meta(row, "user_metadata").blob as string) as JsonObject;
    expect(blob).toEqual({ who: row.name, [row.source_key as string]: 1 });
  });
});

describe("Pseudonymiser: a name is replaced where it stands as the name (issue 24, point 5)", () => {
  const p = pseudonymiser({ user_metadata: { deny: [] } });
  const may = ada({ given_name: "May", family_name: "Will", name: "May Will", nickname: undefined, username: undefined });
  const scrubbed = (text: string) => meta(p.row({ ...may, user_metadata: { text } }), "user_metadata").text;
  const g = p.field("given_name", "May");
  const f = p.field("family_name", "Will");
  const n = p.field("name", "May Will");

  it("a single name only as a word capitalised as in the profile (or in capitals): a common word in lower case stays", () => {
    expect(scrubbed("See you in May, we will call")).toBe(`See you in ${g}, we will call`);
    expect(scrubbed("we may call, you will see")).toBe("we may call, you will see");
    expect(scrubbed("MAY called; ask Will")).toBe(`${g} called; ask ${f}`);
    expect(scrubbed("Maybe Willow")).toBe("Maybe Willow");
    // Spelled as the name, it is the name, wherever it stands: a sentence's first word too (docs/tenant-copy.md).
    expect(scrubbed("May I help? Will do.")).toBe(`${g} I help? ${f} do.`);
  });

  it("the whole name in any case as one sequence, given and family name either way round", () => {
    expect(scrubbed("May Will called")).toBe(`${n} called`);
    expect(scrubbed("per may  will's note")).toBe(`per ${n}'s note`);
    expect(scrubbed("Will, May")).toBe(`${f}, ${g}`);
    expect(scrubbed("WILL MAY")).toBe(`${f} ${g}`);
  });

  it("a value that is nothing but the name is replaced in any case", () => {
    expect(scrubbed("may")).toBe(g);
    expect(scrubbed(" WILL ")).toBe(` ${f} `);
  });
});

describe("Pseudonymiser: a JSON text that names a key twice (review of issue 24, finding 1)", () => {
  it("is never written back as it was: the value judged (JSON keeps the last key) is written, re-serialised", () => {
    const p = pseudonymiser({ user_metadata: { deny: [] }, app_metadata: { deny: ["crm.notes"] } });
    const u = ada({
      phone_number: "+14155550100",
      user_metadata: { a: '{"x":"ada.lovelace@example.com","x":"ok"}', b: '{"x":"+14155550100","x":"ok"}', c: '[{"y":"Ada Lovelace","y":2}]' },
      // Through the rules (a denied path below crm): nothing in the judged value changes either.
      app_metadata: { crm: '{"ref":"ada.lovelace@example.com","ref":"A-1"}' },
    });
    const row = p.row(u);
    expect(meta(row, "user_metadata")).toEqual({ a: '{"x":"ok"}', b: '{"x":"ok"}', c: '[{"y":2}]' });
    expect(meta(row, "app_metadata")).toEqual({ crm: '{"ref":"A-1"}' });
    const text = JSON.stringify(row);
    for (const hidden of ["ada.lovelace", "4155550100", "Lovelace"]) expect(text).not.toContain(hidden);
  });

  it("inside a JSON text held by a JSON text too", () => {
    const p = pseudonymiser({ user_metadata: { deny: [] } });
    const inner = '{"x":"ada.lovelace@example.com","x":"ok"}';
    const row = p.row(ada({ user_metadata: { outer: JSON.stringify({ inner }) } }));
    expect(meta(row, "user_metadata").outer).toBe(JSON.stringify({ inner: '{"x":"ok"}' }));
  });
});

describe("Pseudonymiser: names in other apostrophes and dashes (review of issue 24, finding 4)", () => {
  const p = pseudonymiser({ user_metadata: { deny: [] } });
  const scrubbed = (family: string, text: string) => {
    const row = p.row(ada({ given_name: "Siobhan", family_name: family, name: `Siobhan ${family}`, user_metadata: { text } }));
    return { text: meta(row, "user_metadata").text as string, family: row.family_name as string, name: row.name as string };
  };

  it("a family name with an apostrophe is found whichever apostrophe the text or the profile uses", () => {
    for (const mark of ["'", "\u2019", "\u02BC", "\u2018", "`", "\u00B4", "\u2032"]) {
      const r = scrubbed("O'Brien", `ask O${mark}Brien, or siobhan o${mark}brien`);
      expect(r.text, `O${mark}Brien`).toBe(`ask ${r.family}, or ${r.name}`);
    }
    const typographic = scrubbed("O\u2019Brien", "ask O'Brien");
    expect(typographic.text).toBe(`ask ${typographic.family}`);
  });

  it("a double-barrelled name is found whichever hyphen or dash joins it", () => {
    for (const dash of ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212"]) {
      const r = scrubbed("Smith-Jones", `per Smith${dash}Jones`);
      expect(r.text, `Smith${dash}Jones`).toBe(`per ${r.family}`);
    }
    const en = scrubbed("Smith\u2013Jones", "per Smith-Jones");
    expect(en.text).toBe(`per ${en.family}`);
  });
});

describe("Pseudonymiser: another person's email as a key (review of issue 24, finding 2)", () => {
  const grace = "grace@example.org";
  const u = ada({
    user_metadata: { [grace]: "top", refs: { [grace]: "x" } },
    app_metadata: { crm: { [grace]: "owner", notes: "n" }, crmText: JSON.stringify({ [grace]: "owner", notes: "n" }), kept: { [grace]: 1 } },
  });

  it("is replaced by its pseudonym wherever a key is kept: top level, below a rule, in a JSON text, in kept and pseudonymised values", () => {
    const p = pseudonymiser({ user_metadata: { deny: [], pseudonymise: ["refs"] }, app_metadata: { deny: ["crm.notes", "crmtext.notes"] } });
    const row = p.row(u);
    const to = p.email(grace);
    expect(Object.keys(meta(row, "user_metadata")).sort()).toEqual([to, "refs"].sort());
    expect(Object.keys(meta(row, "user_metadata").refs as JsonObject)).toEqual([to]);
    const app = meta(row, "app_metadata");
    expect(app.crm).toEqual({ [to]: "owner" });
    expect(app.crmText).toBe(JSON.stringify({ [to]: "owner" }));
    expect(app.kept).toEqual({ [to]: 1 });
    expect(JSON.stringify(row)).not.toContain(grace);
  });

  it("the plan's listing of what a deny list lets through never shows an email, also where real emails are allowed", () => {
    for (const extra of [{}, { email: "keep", allowRealEmails: true }]) {
      const transform = transformSchema.parse({ ...extra, user_metadata: { deny: [] }, app_metadata: { deny: ["crm.notes", "crmtext.notes"] } });
      const p = new Pseudonymiser(transform, KEY, ["sync_key"]);
      const sample = new CopySample(1, transform);
      sample.add(u, p.copy(u));
      const listed = JSON.stringify(sample.passedByDeny());
      expect(listed, JSON.stringify(extra)).not.toMatch(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/);
      expect(listed).toContain("app_metadata.crm.");
      // Nor does the sample's list of keys (the source's, and the target's with real emails allowed).
      expect(JSON.stringify(sample.lines())).not.toContain(grace);
    }
  });
});

describe("Pseudonymiser: property", () => {
  // Generated values start with "zq"/"Zq" (or "+44"), which no pseudonym can contain: the fake names have no "zq",
  // hex has no "q", and pseudonymous phone numbers start with +1555.
  const lower = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789"), minLength: 1, maxLength: 8 });
  const letters = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz"), minLength: 1, maxLength: 8 });
  // Names with accents, so that their other spellings (NFD, unaccented) are generated too.
  const nameLetters = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzéñüåç"), minLength: 1, maxLength: 8 });
  const emailArb = fc
    .tuple(lower, fc.option(fc.tuple(fc.constantFrom(".", "+", "_", "-"), lower), { nil: undefined }), letters, fc.constantFrom("com", "org", "net", "io", "co.uk"))
    .map(([local, tail, domain, tld]) => `zq${local}${tail ? tail.join("") : ""}@${domain}.${tld}`);
  const nameArb = nameLetters.map((s) => `Zq${s}`);
  // A national number never starts with 0 (E.164).
  const phoneArb = fc
    .tuple(fc.constantFrom(..."123456789"), fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 8, maxLength: 10 }))
    .map(([first, rest]) => `+44${first}${rest}`);
  const markerArb = lower.map((s) => `zqdenied-${s}`);
  const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));

  const userArb = fc
    .record({
      // At least two characters: the unique part "zqid.." then has MIN_UNIQUE_ID and is hidden on its own.
      id: fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789"), minLength: 2, maxLength: 8 }),
      email: emailArb,
      given_name: nameArb,
      family_name: nameArb,
      phone_number: phoneArb,
      nickname: nameArb,
      username: lower.map((s) => `zq_${s}`),
      theme: fc.constantFrom("dark", "light"),
      marker: markerArb,
      // What the one allowed path holds: a neutral value, or one of the user's own values in one of its spellings
      // (the guards replace it).
      allowed: fc.constantFrom(
        "neutral",
        "email",
        "given_name",
        "family_name",
        "name",
        "phone_number",
        "email_in_text",
        "other_email_in_text",
        "phone_number_as_number",
        "phone_national_spaced",
        "phone_full_width",
        "user_id_unique_part",
        "user_id_encoded",
        "email_base64",
        "email_base64url",
        "email_encoded",
        "name_nfd",
        "name_unaccented",
        "name_upper",
        "given_name_in_text",
        "json_text",
      ),
      other: emailArb,
      seats: fc.integer({ min: 0, max: 10_000 }),
    })
    .map((g) => {
      const name = `${g.given_name} ${g.family_name}`;
      const national = g.phone_number.slice(3);
      const userId = `auth0|zqid${g.id}`;
      const ownValue: Json = {
        neutral: g.theme,
        email: g.email,
        given_name: g.given_name,
        family_name: g.family_name,
        name,
        phone_number: g.phone_number,
        email_in_text: `write to ${g.email} please`,
        other_email_in_text: `manager: ${g.other}`,
        phone_number_as_number: Number(national),
        phone_national_spaced: `0${national.slice(0, 4)} ${national.slice(4)}`,
        phone_full_width: fullWidth(g.phone_number),
        user_id_unique_part: `zqid${g.id}`,
        user_id_encoded: encodeURIComponent(userId),
        email_base64: Buffer.from(g.email).toString("base64"),
        email_base64url: Buffer.from(g.email).toString("base64url"),
        email_encoded: encodeURIComponent(g.email),
        name_nfd: name.normalize("NFD"),
        name_unaccented: name.normalize("NFD").replace(/\p{M}/gu, ""),
        name_upper: name.toUpperCase(),
        given_name_in_text: `call ${g.given_name} about renewal`,
        json_text: JSON.stringify({ who: name, phone: Number(national), id: userId }),
      }[g.allowed];
      const user: SourceUser = {
        user_id: userId,
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
      const encoded = [Buffer.from(g.email).toString("base64").replace(/=+$/, ""), Buffer.from(g.email).toString("base64url")];
      return {
        user,
        national,
        encoded,
        forbidden: [g.email, g.given_name, g.family_name, name, g.phone_number, national, g.nickname, g.username, g.other, g.marker, userId, `zqid${g.id}`],
      };
    });

  it("under the default transform and an allow-listed path, no source email, name, phone number, user_id or denied value reaches the row, in any spelling", () => {
    const p = pseudonymiser({ user_metadata: { allow: ["preferences.theme"] } });
    fc.assert(
      fc.property(userArb, ({ user, national, encoded, forbidden }) => {
        const row = p.row(user);
        const raw = JSON.stringify(row);
        // Compared folded (accents, compatibility forms and case aside), digits by their digits.
        const text = folded(raw);
        for (const v of forbidden) expect(text).not.toContain(folded(v));
        for (const v of encoded) expect(raw).not.toContain(v);
        for (const leaf of metadataLeaves(row.user_metadata)) {
          for (const run of folded(String(leaf)).match(/[\d\s().-]+/g) ?? []) expect(run.replace(/\D/g, "")).not.toContain(national);
        }
        expect(Object.keys(meta(row, "user_metadata"))).toEqual(["preferences"]);
        expect(Object.keys(meta(row, "user_metadata").preferences as JsonObject)).toEqual(["theme"]);
        expect(meta(row, "app_metadata")).toEqual({});
      }),
      { numRuns: 400 },
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
    for (const u of users) sample.add(u, p.copy(u));
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

  it("counts, over every user added (not only the sampled ones), the metadata paths a deny list lets through (issue 24, point 4)", () => {
    const transform = transformSchema.parse({ user_metadata: { allow: ["plan"] }, app_metadata: { deny: ["crm.owner_notes", "contacts.ssn"] } });
    const p = new Pseudonymiser(transform, KEY, ["sync_key"]);
    const sample = new CopySample(1, transform);
    const users = [
      ada({ app_metadata: { tier: "gold", crm: { owner_notes: "x", account_ref: "A" }, legacy_password_hash: "$2b$10$abc", sync_key: "k" } }),
      ada({ user_id: "auth0|u2", app_metadata: { tier: "silver", CRM: '{"Owner_Notes":"y","stripe_id":"cus_1"}', contacts: [{ ssn: "1", kind: "home" }, { note: "n" }] } }),
    ];
    for (const u of users) sample.add(u, p.copy(u));
    expect(sample.lines()).toHaveLength(1);
    expect(sample.passedByDeny()).toEqual({
      paths: [
        { path: "app_metadata.contacts", users: 1 },
        { path: "app_metadata.contacts.kind", users: 1 },
        { path: "app_metadata.contacts.note", users: 1 },
        { path: "app_metadata.crm", users: 1 },
        { path: "app_metadata.CRM", users: 1 },
        { path: "app_metadata.crm.account_ref", users: 1 },
        { path: "app_metadata.CRM.stripe_id", users: 1 },
        { path: "app_metadata.legacy_password_hash", users: 1 },
        { path: "app_metadata.tier", users: 2 },
      ],
      truncated: false,
    });
    // Allow lists name what they copy: nothing to list.
    const allowOnly = new CopySample(5, transformSchema.parse({ user_metadata: { allow: ["plan"] } }));
    allowOnly.add(users[0]!, pseudonymiser({ user_metadata: { allow: ["plan"] } }).copy(users[0]!));
    expect(allowOnly.passedByDeny()).toEqual({ paths: [], truncated: false });
  });

  it("lists what the rules did as they did it, also where the target has a key replaced (review of issue 24, finding 5)", () => {
    // A nickname that is also a key: the key, nothing but the name, is replaced in the target; the rules were
    // applied to the source's key. A listing that walked the row again would miss the key kept beside the denied one.
    const transform = transformSchema.parse({ app_metadata: { deny: ["crm.owner_notes"] } });
    const p = new Pseudonymiser(transform, KEY, ["sync_key"]);
    const u = ada({ nickname: "crm", app_metadata: { crm: { owner_notes: "call her", account_ref: "A-1" } } });
    const copied = p.copy(u);
    const crm = p.field("nickname", "crm");
    expect(meta(copied.row, "app_metadata")).toEqual({ [crm]: { account_ref: "A-1" } });
    expect(copied.passedByDeny).toEqual([["app_metadata", crm], ["app_metadata", crm, "account_ref"]]);
    const sample = new CopySample(1, transform);
    sample.add(u, copied);
    expect(sample.passedByDeny().paths.map((x) => x.path)).toEqual([`app_metadata.${crm}`, `app_metadata.${crm}.account_ref`]);
    expect(p.row(u)).toEqual(copied.row);
  });

  it("records five users by default", () => {
    const p = pseudonymiser();
    const sample = new CopySample();
    for (let i = 0; i < 8; i++) {
      const u = ada({ user_id: `auth0|${i}` });
      sample.add(u, p.copy(u));
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
