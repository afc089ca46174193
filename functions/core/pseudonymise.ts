/**
 * A source tenant's user -> the row a copy syncs (docs/tenant-copy.md). Pure: given the transform and the key it
 * decides every value the target may see, and nothing of the source user leaves here unless the transform keeps it.
 *
 * Pseudonyms are keyed HMAC-SHA256 of (purpose, value): the same source value always gives the same pseudonym, so
 * a refresh with no change in the source changes nothing in the target, while nobody without the key can go back
 * from a pseudonym to the person (or test a guess). The identity key is the HMAC of the source user_id, so no Auth0
 * id is carried over. Without `allowRealEmails`, an email address found in a kept value is replaced by its
 * pseudonym; in kept metadata (values and keys, inside lists and JSON texts too) the user's own hidden values are
 * replaced in the spellings core/hidden-values.ts lists. What the guard cannot see (a name spelled differently,
 * another person's data) is the allow-list's job: copy only what tests need. A kept value is never changed except
 * to be replaced: integers arrive exact (core/json-text.ts), and one a double cannot hold stays a BigInt, which the
 * ProfileMapper refuses rather than let it be rounded on the way to Auth0.
 */
import { createHmac } from "node:crypto";
import { PROFILE_FIELD_NAMES, PROFILE_FIELDS, type ProfileField } from "./fields.js";
import { EMAILS_IN_TEXT, EMAIL_SHAPE } from "./emails.js";
import { HiddenValues } from "./hidden-values.js";
import { jsonContainer, stringifyExact, type ExactJson, type ExactJsonObject, type JsonContainer } from "./json-text.js";
import { SOURCE_KEY_COLUMN, SOURCE_ROLES_COLUMN, fieldMode, type MetadataRules, type TransformConfig } from "./tenant-copy-config.js";
import type { JsonObject, Row } from "./types.js";

/** Shortest key accepted: 128 bits. */
export const MIN_KEY_BYTES = 16;

/** A user of the source tenant as its export shows it, with its role names when roles are copied. */
export interface SourceUser {
  user_id: string;
  roles?: string[];
  /** The export's fields (email, profile fields, user_metadata, app_metadata), as it gives them. */
  [field: string]: unknown;
}

/**
 * What a copy makes of one source user: the row it syncs, and the metadata paths a deny list let through, each as
 * its keys as the target has them, the bag first (`["app_metadata", "crm", "account_ref"]`): every top-level key
 * kept, and below a key with a denied path under it the keys kept beside the denied one. The plan lists them
 * (core/copy-sample.ts) from this walk, so the listing is what the rules did. A path below a list is given once per
 * element that has it.
 */
export interface CopiedUser {
  row: Row;
  passedByDeny: readonly (readonly string[])[];
}

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === "object" && !Array.isArray(v);

/** A metadata path or key as rules compare it: `crm.Owner_Notes` is `crm.owner_notes`, in any Unicode form. */
const foldKey = (p: string): string => p.normalize("NFKC").toLowerCase();

// Fake names: none of them is a name the demo data uses (local/demo-data.ts), so a test can search the target
// for every source name.
const FIRST = ["Avery", "Blake", "Casey", "Dakota", "Emery", "Finley", "Harper", "Indigo", "Jordan", "Kit", "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Rowan", "Sage", "Skyler", "Tatum", "Val", "Wren", "Yael", "Zion", "Arden", "Briar", "Cove", "Drew", "Ellis"];
const LAST = ["Ashdown", "Birchall", "Calder", "Dunmore", "Elsworth", "Fairley", "Garrow", "Holloway", "Ingleby", "Jessop", "Kirkland", "Lindqvist", "Marlowe", "Northcote", "Ormsby", "Pembury", "Quenby", "Redfern", "Sallow", "Thornbury", "Upcott", "Vance", "Westerby", "Yardley", "Zellner", "Abernathy", "Blackwood", "Corrigan", "Dalby", "Everett"];

export class Pseudonymiser {
  private readonly key: Buffer;

  /**
   * @param reservedAppKeys app_metadata keys the target keeps for itself (the sync key): never copied from the
   *   source, where this tool may manage them too.
   */
  constructor(
    private readonly t: TransformConfig,
    key: string | Uint8Array,
    private readonly reservedAppKeys: readonly string[] = [],
  ) {
    this.key = typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key);
    if (this.key.length < MIN_KEY_BYTES) throw new Error(`the pseudonymisation key must have at least ${MIN_KEY_BYTES} bytes`);
  }

  private digest(purpose: string, value: string): Buffer {
    return createHmac("sha256", this.key).update(purpose).update("\0").update(value).digest();
  }

  private hex(purpose: string, value: string, chars: number): string {
    return this.digest(purpose, value).toString("hex").slice(0, chars);
  }

  private pick(list: readonly string[], d: Buffer, at: number): string {
    return list[d.readUInt16BE(at) % list.length] as string;
  }

  /** The identity key of a source user in the target: a keyed hash of its user_id. */
  identityKey(userId: string): string {
    return `src_${this.hex("user_id", userId, 24)}`;
  }

  /** A deterministic pseudonymous email at the configured domain for a real address. */
  email(address: string): string {
    const a = address.trim().toLowerCase();
    const d = this.digest("email", a);
    return `${this.pick(FIRST, d, 0).toLowerCase()}.${this.pick(LAST, d, 2).toLowerCase()}.${d.toString("hex").slice(8, 18)}@${this.t.emailDomain}`;
  }

  /** A field's pseudonym: a fake name, a fake E.164 number, a generated picture, a keyed username. */
  field(field: ProfileField, value: string): string {
    const d = this.digest(field, value);
    switch (field) {
      case "given_name":
        return this.pick(FIRST, d, 0);
      case "family_name":
        return this.pick(LAST, d, 0);
      case "name":
        return `${this.pick(FIRST, d, 0)} ${this.pick(LAST, d, 2)}`;
      case "nickname":
        return `${this.pick(FIRST, d, 0).toLowerCase()}${d.readUInt16BE(4) % 1000}`;
      case "username":
        return `user_${d.toString("hex").slice(0, 12)}`;
      case "phone_number":
        // +1 555 numbers are reserved for fiction in the North American plan.
        return `+1555${String(d.readUInt32BE(0) % 10_000_000).padStart(7, "0")}`;
      case "picture":
        // Gravatar's generated identicon for a keyed hash (f=y: never a real person's picture).
        return `https://www.gravatar.com/avatar/${d.toString("hex").slice(0, 32)}?d=identicon&f=y`;
      default:
        return `p_${d.toString("hex").slice(0, 16)}`;
    }
  }

  /** A hidden number's replacement: a keyed number of at most as many digits (at most 15: a double holds it exactly). */
  private hiddenNumber(digits: string): number {
    return Number(this.digest("hidden-number", digits).readBigUInt64BE(0) % 10n ** BigInt(Math.min(digits.length, 15)));
  }

  /**
   * A metadata value's pseudonym: emails as emails, text as a keyed token, numbers as numbers of as many digits (an
   * exact integer by its exact digits), a JSON text leaf by leaf (written back as text); keys stay, scrubbed.
   */
  private value(path: string, v: ExactJson, hidden: HiddenValues): ExactJson {
    if (typeof v === "string") {
      const json = jsonContainer(v);
      if (json !== undefined) return stringifyExact(this.value(path, json.value, hidden));
      if (EMAIL_SHAPE.test(v.trim())) return this.email(v);
      return `p_${this.hex(`metadata:${path}`, v, 16)}`;
    }
    if (typeof v === "number" || typeof v === "bigint") {
      const magnitude = typeof v === "bigint" ? (v < 0n ? -v : v).toString() : String(Math.trunc(Math.abs(v)));
      return this.digest(`metadata:${path}`, String(v)).readUInt32BE(0) % 10 ** Math.min(Math.max(1, magnitude.length), 9);
    }
    if (Array.isArray(v)) return v.map((x) => this.value(path, x, hidden));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.keptText(k, hidden), this.value(`${path}.${k}`, x, hidden)]));
    return v;
  }

  /**
   * The row a copy syncs for one source user: the keyed identity, the email and each field as the transform says,
   * metadata filtered and pseudonymised, roles by name. The source user_id is never part of it.
   */
  row(u: SourceUser): Row {
    return this.copy(u).row;
  }

  /** The row (see row()) and what deny lists let through on the way, for the plan. */
  copy(u: SourceUser): CopiedUser {
    const t = this.t;
    const row: Row = { [SOURCE_KEY_COLUMN]: this.identityKey(u.user_id) };
    const email = typeof u.email === "string" && u.email.trim() !== "" ? u.email : undefined;
    row.email = email === undefined ? null : t.email === "keep" ? email : this.email(email);
    // What the target must not see again inside kept values: the user's own hidden fields, wherever they appear.
    const hidden = new HiddenValues();
    const pseudonyms: Partial<Record<ProfileField, string>> = {};
    for (const f of PROFILE_FIELD_NAMES) {
      const v = u[f];
      const mode = fieldMode(t, f);
      if (PROFILE_FIELDS[f].kind === "boolean") {
        row[f] = mode === "keep" && typeof v === "boolean" ? v : null;
        continue;
      }
      if (typeof v !== "string" || v.trim() === "") {
        row[f] = null;
        continue;
      }
      if (mode === "keep") row[f] = t.allowRealEmails ? v : this.scrubText(v);
      else {
        const pseudonym = this.field(f, v);
        row[f] = mode === "pseudonymise" ? pseudonym : null;
        pseudonyms[f] = pseudonym;
        if (f === "phone_number") hidden.phone(v, pseudonym);
        else hidden.text(v, pseudonym);
      }
    }
    this.hideFullName(u, pseudonyms, hidden);
    if (email && t.email !== "keep") hidden.email(email, this.email(email));
    // The source user_ids (of every identity), repeated in metadata, would link the copy back to the production
    // account.
    const numberTo = (digits: string) => this.hiddenNumber(digits);
    hidden.identity(u.user_id, row[SOURCE_KEY_COLUMN] as string, numberTo);
    for (const id of identityIds(u)) if (id.toLowerCase() !== u.user_id.trim().toLowerCase()) hidden.identity(id, `p_${this.hex("identity", id, 16)}`, numberTo);
    // A BigInt left in kept metadata cannot be written exactly: the ProfileMapper refuses the user, naming the path.
    const passedByDeny: string[][] = [];
    row.user_metadata = this.metadata(isObject(u.user_metadata) ? u.user_metadata : undefined, t.user_metadata, "user_metadata", hidden, passedByDeny) as JsonObject;
    row.app_metadata = this.metadata(isObject(u.app_metadata) ? u.app_metadata : undefined, t.app_metadata, "app_metadata", hidden, passedByDeny) as JsonObject;
    row[SOURCE_ROLES_COLUMN] = u.roles ? [...u.roles] : null;
    return { row, passedByDeny };
  }

  /** Given and family name together ("Ada Lovelace", "Lovelace, Ada") when both are hidden: as the whole sequence. */
  private hideFullName(u: SourceUser, pseudonyms: Partial<Record<ProfileField, string>>, hidden: HiddenValues): void {
    const given = u.given_name;
    const family = u.family_name;
    const { given_name: g, family_name: f } = pseudonyms;
    if (typeof given !== "string" || typeof family !== "string" || g === undefined || f === undefined) return;
    // The same sequence as `name` is that field's pseudonym (registered first, so it wins).
    for (const [real, to] of [
      [`${given.trim()} ${family.trim()}`, `${g} ${f}`],
      [`${family.trim()} ${given.trim()}`, `${f} ${g}`],
      [`${family.trim()}, ${given.trim()}`, `${f}, ${g}`],
    ] as const) {
      hidden.text(real, to);
    }
  }

  /** Email addresses in a kept text replaced by their pseudonyms (unless real emails are allowed). */
  private scrubText(s: string): string {
    return s.replace(EMAILS_IN_TEXT, (m) => this.email(m));
  }

  /**
   * A bag filtered by its rules. Paths are compared with keys folded (foldKey). A kept text that parses as a JSON
   * object or list is judged as that value (its keys go through the same rules) and written back as text. With a
   * deny list, the paths it let through are added to `passed`, as the target shows them (see CopiedUser).
   */
  private metadata(bag: JsonObject | undefined, rules: MetadataRules, name: string, hidden: HiddenValues, passed: string[][]): ExactJsonObject {
    const allow = rules.allow?.map(foldKey);
    const deny = (rules.deny ?? []).map(foldKey);
    const pseudonymise = rules.pseudonymise.map(foldKey);
    const ruled = [...(allow ?? []), ...deny, ...pseudonymise];
    const under = (path: string, list: readonly string[]) => list.some((p) => path === p || path.startsWith(`${p}.`));
    const copied = (path: string) => (allow ? under(path, allow) : !under(path, deny));
    // With a deny list, what it lets through is recorded as the target shows it: the path of each value (`shown`,
    // the bag first, keys as kept) recorded when `listed`, and taken back when the value is dropped after all.
    const report = rules.deny ? passed : undefined;
    const key = (k: string) => this.keptText(k, hidden);
    const child = (v: ExactJson, path: string, shown: string[] | undefined, listed: boolean): ExactJson | undefined => {
      if (!report || !shown) return decide(v, path, undefined);
      const mark = report.length;
      if (listed) report.push(shown);
      const kept = decide(v, path, shown);
      if (kept === undefined) report.length = mark;
      return kept;
    };
    // `v` at `path` (undefined: dropped): copied whole, or (a rule below it) decided key by key; the elements of a
    // list are at the list's own path (a deny of `contacts.ssn` drops the ssn of every element of `contacts`).
    const decide = (v: ExactJson, path: string, shown: string[] | undefined): ExactJson | undefined => {
      const json = typeof v === "string" ? jsonContainer(v) : undefined;
      if (json !== undefined) {
        const kept = decide(json.value, path, shown);
        return kept === undefined ? undefined : rewritten(v as string, json, kept);
      }
      const at = foldKey(path);
      if (v !== null && typeof v === "object" && ruled.some((p) => p.startsWith(`${at}.`))) {
        if (Array.isArray(v)) {
          const items = v.map((x) => child(x, path, shown, false)).filter((x): x is ExactJson => x !== undefined);
          return items.length > 0 ? items : undefined;
        }
        const listed = deny.some((p) => p.startsWith(`${at}.`));
        const into: ExactJsonObject = {};
        for (const [k, x] of Object.entries(v)) {
          // A key is scrubbed once, and only when it is listed or kept.
          const to = shown ? key(k) : undefined;
          const kept = child(x, `${path}.${k}`, shown && to !== undefined ? [...shown, to] : undefined, listed);
          if (kept !== undefined) into[to ?? key(k)] = kept;
        }
        return Object.keys(into).length > 0 ? into : undefined;
      }
      if (!copied(at)) return undefined;
      return under(at, pseudonymise) ? this.value(`${name}.${path}`, v, hidden) : this.guard(v, hidden);
    };
    const out: ExactJsonObject = {};
    for (const [k, v] of Object.entries((bag ?? {}) as ExactJsonObject)) {
      if (name === "app_metadata" && this.reservedAppKeys.includes(k)) continue;
      const to = report ? key(k) : undefined;
      const kept = child(v, k, to === undefined ? undefined : [name, to], true);
      if (kept !== undefined) out[to ?? key(k)] = kept;
    }
    return out;
  }

  /**
   * A kept metadata value (keys too) with the user's hidden values (and, unless allowed, every email) replaced: in
   * text, in a JSON text's values, and a number equal to a hidden one. Nothing else is changed.
   */
  private guard(v: ExactJson, hidden: HiddenValues): ExactJson {
    if (typeof v === "string") {
      const json = jsonContainer(v);
      return json === undefined ? this.keptText(v, hidden) : rewritten(v, json, this.guard(json.value, hidden));
    }
    if (typeof v === "number" || typeof v === "bigint") return hidden.number(v) ?? v;
    if (Array.isArray(v)) return v.map((x) => this.guard(x, hidden));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.keptText(k, hidden), this.guard(x, hidden)]));
    return v;
  }

  /**
   * A kept text, or any key kept in metadata (whatever the rules did with its value), as the target may see it:
   * the user's hidden values replaced and, unless real emails are allowed, every email address. One function for
   * every key, so that no path keeps another person's address in a key.
   */
  private keptText(s: string, hidden: HiddenValues): string {
    // With real emails allowed, an address stays whole (the names in it are the address's, allowed with it).
    if (!this.t.allowRealEmails) return hidden.scrub(this.scrubText(s));
    return s
      .split(EMAIL_TOKENS)
      .map((part, i) => (i % 2 === 1 ? hidden.scrub(part, { literalsOnly: true }) : hidden.scrub(part)))
      .join("");
  }
}

/** Splits text around email addresses, keeping them (at odd indexes). */
const EMAIL_TOKENS = new RegExp(`(${EMAILS_IN_TEXT.source})`, "u");

/**
 * A JSON text after its value was judged: the text as it was when nothing changed (its spacing kept), else
 * rewritten. A text that names a key twice is always rewritten: JSON.parse kept only the last of the two, so the
 * value judged is not all the text holds (`{"x":"ada@example.com","x":"ok"}` was judged as `{"x":"ok"}`).
 */
function rewritten(original: string, json: JsonContainer, kept: ExactJson): string {
  const text = stringifyExact(kept);
  return json.duplicateKey === undefined && text === stringifyExact(json.value) ? original : text;
}

/** Every identity's user_id (`provider|id`): the export's identities if it has them, and the user_id. */
function identityIds(u: SourceUser): string[] {
  const ids = [u.user_id];
  if (Array.isArray(u.identities)) {
    for (const i of u.identities as unknown[]) {
      if (!isObject(i)) continue;
      const id = i.user_id;
      if (typeof i.provider === "string" && (typeof id === "string" || typeof id === "number") && String(id) !== "") ids.push(`${i.provider}|${String(id)}`);
    }
  }
  return ids;
}
