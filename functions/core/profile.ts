/**
 * Row -> desired Auth0 profile, with every validation Auth0 would otherwise apply one failed call at a time.
 * A bad row becomes a Rejection; nothing here throws for bad data.
 */
import { createHash } from "node:crypto";
import { configuredColumns } from "./columns.js";
import { MAX_IDENTITY_KEY_BYTES, fitsLedger } from "./ledger-keys.js";
import { DuplicateKeyError, parseStrictJson } from "./json-text.js";
import { BOOLEAN_FIELDS, PROFILE_FIELDS, lengthLimits } from "./fields.js";
import { RESERVED_APP_METADATA_KEYS, parseTarget, type FieldMapping, type SyncConfig } from "./config.js";
import type {
  DesiredProfile,
  FieldValue,
  Json,
  JsonObject,
  ProfileField,
  RejectCode,
  Rejection,
  Row,
  RowValue,
} from "./types.js";

export const PROFILE_MAX_BYTES = 10 * 1024;
export const MAX_JSON_DEPTH = 32;

// Dot-atom local part and LDH domain labels with an alphabetic TLD: what Auth0 accepts, minus quoted local parts.
const EMAIL_RE =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
const E164_RE = /^\+[0-9]{1,15}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** A label for a key that is safe to show and log: the key, or a hash when the identity is the email. */
export function keyLabel(cfg: Pick<SyncConfig, "identity">, key: string): string {
  return cfg.identity.keyColumn ? key : `#${hashKey(key)}`;
}

/** A short, stable, non-reversible label for logs: never log the key itself when it may be an email. */
export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}

/** Why one field of one row cannot become part of a profile; caught per row and turned into a rejection. */
class RowError extends Error {
  override readonly name = "RowError";
  constructor(
    readonly code: RejectCode,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export type MapResult = { ok: true; profile: DesiredProfile } | { ok: false; rejection: Rejection };

function isBlank(v: RowValue): boolean {
  return v === null || v === undefined || (typeof v === "string" && v.trim() === "");
}

function describeValue(v: unknown): string {
  if (typeof v === "string") return v.length > 40 ? `'${v.slice(0, 37)}...' (${v.length} characters)` : `'${v}'`;
  if (v instanceof Uint8Array) return "binary data";
  if (v === null) return "null";
  if (typeof v === "object") return Array.isArray(v) ? "a list" : "an object";
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  return typeof v;
}

function toScalarString(v: RowValue, field: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  throw new RowError("invalid_value", field, `expected text, got ${describeValue(v)}`);
}

export function parseBoolean(v: RowValue, field: string): boolean {
  if (typeof v === "boolean") return v;
  if (typeof v === "number" || typeof v === "bigint") {
    if (Number(v) === 1) return true;
    if (Number(v) === 0) return false;
  }
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (["true", "t", "yes", "y", "1"].includes(s)) return true;
    if (["false", "f", "no", "n", "0"].includes(s)) return false;
  }
  throw new RowError("invalid_boolean", field, `expected true or false, got ${describeValue(v)}`);
}

/** Lower-cases and checks an email address. The message never repeats the address. */
export function normalizeEmail(v: RowValue, field = "email"): string {
  if (isBlank(v)) throw new RowError("missing_email", field, "is empty; every user needs an email address");
  if (typeof v !== "string") throw new RowError("invalid_email", field, `expected an email address, got ${describeValue(v)}`);
  const email = v.trim().toLowerCase();
  const [min, max] = lengthLimits("email") ?? [3, 254];
  if (email.length < min || email.length > max) {
    throw new RowError("invalid_email", field, `is not a valid email address (length ${email.length}, allowed ${min}-${max})`);
  }
  const at = email.lastIndexOf("@");
  if (at < 1 || email.length - at - 1 > 253 || at > 64 || !EMAIL_RE.test(email)) {
    throw new RowError("invalid_email", field, "is not a valid email address");
  }
  return email;
}

function checkLength(field: ProfileField, s: string): void {
  const limits = lengthLimits(field);
  if (!limits) return;
  const len = [...s].length;
  if (len < limits[0] || len > limits[1]) {
    throw new RowError("invalid_length", field, `must be ${limits[0]}-${limits[1]} characters, got ${len}`);
  }
}

function validateField(field: ProfileField, raw: RowValue): FieldValue {
  const kind = PROFILE_FIELDS[field].kind;
  if (kind === "boolean") return parseBoolean(raw, field);
  const s = toScalarString(raw, field).trim();
  if (CONTROL_RE.test(s)) throw new RowError("invalid_value", field, "contains control characters");
  checkLength(field, s);
  if (kind === "phone") {
    const compact = s.replace(/[\s()-]/g, "");
    if (!E164_RE.test(compact)) {
      throw new RowError("invalid_phone", field, `expected E.164 like +14155550100, got ${describeValue(s)}`);
    }
    return compact;
  }
  if (kind === "uri") {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
      throw new RowError("invalid_uri", field, `expected an http(s) URL, got ${describeValue(s)}`);
    }
  }
  if (kind === "username" && !/^[A-Za-z0-9_+\-.!#$'^`~@]+$/.test(s)) {
    throw new RowError("invalid_value", field, "may only contain letters, digits and _+-.!#$'^`~@");
  }
  return s;
}

/** Checks metadata keys at every depth ('.' and '$' are refused by Auth0) and the nesting depth. */
function checkMetadataValue(value: Json, path: string, depth = 0): void {
  if (depth > MAX_JSON_DEPTH) throw new RowError("invalid_json", path, `nests deeper than ${MAX_JSON_DEPTH} levels`);
  // A tenant copy reads integers a double would round as BigInt (core/json-text.ts): every serialiser on the way
  // to Auth0 is double-based, so such a value would arrive changed. (The digits are not quoted: a kept value may
  // still be personal, and reasons reach logs.)
  const raw: unknown = value;
  if (typeof raw === "bigint") {
    throw new RowError("invalid_value", path, `is an integer of ${(raw < 0n ? -raw : raw).toString().length} digits, beyond 2^53, and cannot be copied exactly: pseudonymise or deny it`);
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkMetadataValue(v, `${path}[${i}]`, depth + 1));
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes(".") || k.includes("$") || k === "") {
        throw new RowError("invalid_metadata_key", `${path}`, `metadata keys may not be empty or contain '.' or '$' (found ${describeValue(k)})`);
      }
      checkMetadataValue(v, `${path}.${k}`, depth + 1);
    }
  }
}

function toJson(raw: RowValue, field: string, parse: "always" | "auto" | "never"): Json {
  if (raw === undefined) return null;
  if (typeof raw === "bigint") return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw.toString();
  if (raw instanceof Uint8Array) return Buffer.from(raw).toString("base64");
  if (typeof raw === "number" && !Number.isFinite(raw)) throw new RowError("invalid_value", field, `expected a finite number, got ${raw}`);
  if (typeof raw === "string" && parse !== "never") {
    const t = raw.trim();
    if (parse === "always" || t.startsWith("{") || t.startsWith("[")) {
      try {
        return parseStrictJson(t) as Json;
      } catch (err) {
        // JSON with a key named twice is JSON all the same (auto-detected too), and ambiguous: refused.
        if (err instanceof DuplicateKeyError) throw new RowError("invalid_json", field, err.message);
        if (parse === "always") throw new RowError("invalid_json", field, `is not valid JSON (${(err as Error).message})`);
      }
    }
  }
  return raw;
}

function parseRoles(raw: RowValue, field: string): string[] {
  const names = parseNames(raw, field, "invalid_roles", "role names");
  if (names.length > 50) throw new RowError("invalid_roles", field, `lists ${names.length} roles; Auth0 allows at most 50 per user`);
  return names;
}

/** A list of names: an array, a JSON array text, or a comma-separated list; trimmed, blanks dropped, sorted, unique. */
function parseNames(raw: RowValue, field: string, code: RejectCode, what: string): string[] {
  let list: unknown;
  if (isBlank(raw)) return [];
  if (Array.isArray(raw)) list = raw;
  else if (typeof raw === "string") {
    const t = raw.trim();
    if (t.startsWith("[")) {
      try {
        list = parseStrictJson(t);
      } catch (err) {
        throw new RowError(code, field, err instanceof DuplicateKeyError ? err.message : `is not a valid JSON array of ${what}`);
      }
    } else list = t.split(",");
  } else throw new RowError(code, field, `expected ${what}, got ${describeValue(raw)}`);
  if (!Array.isArray(list) || list.some((r) => typeof r !== "string")) {
    throw new RowError(code, field, `expected a list of ${what}`);
  }
  return [...new Set((list as string[]).map((r) => r.trim()).filter((r) => r.length > 0))].sort();
}

const ORG_ID_RE = /^org_[A-Za-z0-9]+$/;

/**
 * The organizations a row names, each with its member roles: the organizations column (one, a list, JSON array text
 * or a comma list; names or ids as `by` says) and the roles column ({"org": ["role"]} as JSON, or "org:role" pairs).
 * A role in an organization the row does not list is refused: the user could not hold it.
 */
function parseOrganizations(row: Row, cfg: NonNullable<SyncConfig["organizations"]>): Record<string, string[]> {
  const orgs = parseNames(row[cfg.column], cfg.column, "invalid_organizations", "organizations");
  if (cfg.by === "id") {
    const bad = orgs.find((o) => !ORG_ID_RE.test(o));
    if (bad !== undefined) throw new RowError("invalid_organizations", cfg.column, `${describeValue(bad)} is not an organization id (org_...); set organizations.by: name to give names`);
  }
  const out: Record<string, string[]> = Object.fromEntries(orgs.map((o) => [o, []]));
  if (!cfg.roles) return out;
  const field = cfg.roles.column;
  const raw = row[field];
  if (isBlank(raw)) return out;
  const pairs: [string, string][] = [];
  let value: unknown = raw;
  if (typeof raw === "string" && raw.trim().startsWith("{")) {
    try {
      value = parseStrictJson(raw);
    } catch (err) {
      throw new RowError("invalid_organizations", field, err instanceof DuplicateKeyError ? err.message : "is not a valid JSON object of organization -> role names");
    }
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)) {
    for (const [org, roles] of Object.entries(value)) {
      const list: unknown[] = Array.isArray(roles) ? roles : [roles];
      if (list.some((r) => typeof r !== "string")) throw new RowError("invalid_organizations", field, `expected role names for ${describeValue(org)}`);
      for (const r of list as string[]) pairs.push([org.trim(), r.trim()]);
    }
  } else if (typeof value === "string") {
    for (const part of value.split(",")) {
      if (part.trim() === "") continue;
      const at = part.lastIndexOf(":");
      if (at <= 0) throw new RowError("invalid_organizations", field, `expected organization:role pairs, got ${describeValue(part.trim())}`);
      pairs.push([part.slice(0, at).trim(), part.slice(at + 1).trim()]);
    }
  } else throw new RowError("invalid_organizations", field, `expected {"organization": ["role"]} or organization:role pairs, got ${describeValue(value)}`);
  for (const [org, role] of pairs) {
    if (!Object.hasOwn(out, org)) throw new RowError("invalid_organizations", field, `gives roles in ${describeValue(org)}, which ${cfg.column} does not list`);
    if (role !== "" && !out[org]!.includes(role)) out[org]!.push(role);
  }
  for (const roles of Object.values(out)) roles.sort();
  return out;
}

function keyFromColumn(row: Row, keyColumn: string): string {
  const rawKey = row[keyColumn];
  if (isBlank(rawKey)) throw new RowError("missing_key", keyColumn, "is empty; the identity key column must have a value");
  const key = toScalarString(rawKey, keyColumn).trim();
  if (CONTROL_RE.test(key)) throw new RowError("invalid_value", keyColumn, "contains control characters");
  return key;
}

/** A key the ledger cannot hold (DynamoDB's key limit): rejected with its row, never sent to fail at every delivery. */
function checkKeyFits(key: string, field: string): void {
  if (!fitsLedger(key)) {
    throw new RowError("key_too_long", field, `is ${Buffer.byteLength(key, "utf8")} bytes; an identity key may have at most ${MAX_IDENTITY_KEY_BYTES} bytes (UTF-8)`);
  }
}

interface ResolvedMapping {
  target: string;
  column: string;
  onNull: "keep" | "clear";
  createOnly: boolean;
  json: boolean;
}

function resolveMapping(target: string, m: FieldMapping, cfg: SyncConfig): ResolvedMapping {
  if (typeof m === "string") return { target, column: m, onNull: cfg.defaults.onNull, createOnly: false, json: false };
  return { target, column: m.column, onNull: m.onNull ?? cfg.defaults.onNull, createOnly: m.createOnly ?? false, json: m.json ?? false };
}

/** The mapper for one config: resolves the mapping once, then maps rows. */
export class ProfileMapper {
  private readonly mappings: ResolvedMapping[];
  private readonly reservedColumns: Set<string>;

  constructor(private readonly cfg: SyncConfig) {
    this.mappings = Object.entries(cfg.mapping).map(([t, m]) => resolveMapping(t, m, cfg));
    this.reservedColumns = new Set(configuredColumns(cfg).map((c) => c.column));
  }

  /** A label for the row's key that is safe to show and log: the key, or a hash when the identity is the email. */
  keyLabel(key: string): string {
    return keyLabel(this.cfg, key);
  }

  /**
   * The row's identity key as the ledger knows it, whatever else is wrong with the row; undefined when the row
   * has no usable key (an empty or invalid key column, or with the email as identity an empty or invalid email).
   * Mirror mode counts a key as present from this, before the row is validated.
   */
  identityKey(row: Row): string | undefined {
    const { keyColumn, emailColumn } = this.cfg.identity;
    try {
      return keyColumn ? keyFromColumn(row, keyColumn) : normalizeEmail(row[emailColumn], emailColumn);
    } catch (err) {
      if (err instanceof RowError) return undefined;
      throw err;
    }
  }

  map(row: Row, rowNumber?: number): MapResult {
    let keyLabel: string | undefined;
    try {
      const { keyColumn, emailColumn, appMetadataKey } = this.cfg.identity;
      let key: string;
      if (keyColumn) {
        key = keyFromColumn(row, keyColumn);
        checkKeyFits(key, keyColumn);
        keyLabel = this.keyLabel(key);
      }
      const email = normalizeEmail(row[emailColumn], emailColumn);
      if (!keyColumn) {
        key = email;
        keyLabel = this.keyLabel(key);
      }
      const profile: DesiredProfile = { key: key!, email, fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] };
      if (keyColumn) profile.app_metadata[appMetadataKey] = key!;

      for (const m of this.mappings) {
        this.apply(profile, m, row[m.column]);
      }
      if (this.cfg.unmappedColumns === "user_metadata") {
        for (const [column, value] of Object.entries(row)) {
          if (this.reservedColumns.has(column)) continue;
          if (column.includes(".") || column.includes("$")) {
            throw new RowError("invalid_metadata_key", column, "column names that become user_metadata keys may not contain '.' or '$'");
          }
          this.apply(profile, { target: `user_metadata.${column}`, column, onNull: this.cfg.defaults.onNull, createOnly: false, json: false }, value, "auto");
        }
      }
      if (this.cfg.roles) profile.roles = parseRoles(row[this.cfg.roles.column], this.cfg.roles.column);
      if (this.cfg.organizations) profile.organizations = parseOrganizations(row, this.cfg.organizations);

      const size = profileSize(profile);
      if (size > PROFILE_MAX_BYTES) {
        throw new RowError("profile_too_large", "profile", `is ${size} bytes; Auth0 allows ${PROFILE_MAX_BYTES} bytes per user`);
      }
      return { ok: true, profile };
    } catch (err) {
      if (err instanceof RowError) {
        return { ok: false, rejection: { code: err.code, row: rowNumber, keyLabel, field: err.field, reason: err.reason } };
      }
      // Anything else is a defect; still a rejection with a reason, never a crashed batch.
      return {
        ok: false,
        rejection: { code: "invalid_value", row: rowNumber, keyLabel, field: "row", reason: `could not be mapped: ${(err as Error).message}` },
      };
    }
  }

  private apply(profile: DesiredProfile, m: ResolvedMapping, raw: RowValue, parse: "always" | "auto" | "never" = m.json ? "always" : "never"): void {
    const target = parseTarget(m.target);
    if (!target) return;
    const blank = target.kind === "field" ? isBlank(raw) : raw === null || raw === undefined;
    if (blank && m.onNull === "keep") return;
    if (m.createOnly) profile.createOnly.push(m.target);
    if (target.kind === "field") {
      const field = target.field as ProfileField;
      profile.fields[field] = blank ? (BOOLEAN_FIELDS.has(field) ? false : null) : validateField(field, raw);
      return;
    }
    if (target.kind === "user_metadata_object" || target.kind === "app_metadata_object") {
      if (blank) return;
      const app = target.kind === "app_metadata_object";
      const value = toJson(raw, m.target, "always");
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new RowError("invalid_json", m.target, `expected a JSON object, got ${describeValue(value)}`);
      }
      checkMetadataValue(value, m.target);
      for (const [k, v] of Object.entries(value)) {
        if (app && (RESERVED_APP_METADATA_KEYS as readonly string[]).includes(k)) {
          throw new RowError("reserved_metadata_key", `app_metadata.${k}`, `'${k}' is a reserved app_metadata key in Auth0`);
        }
        if (app && k === this.cfg.identity.appMetadataKey && this.cfg.identity.keyColumn) {
          throw new RowError("reserved_metadata_key", `app_metadata.${k}`, "holds the identity key (identity.appMetadataKey)");
        }
        (app ? profile.app_metadata : profile.user_metadata)[k] = v;
      }
      return;
    }
    const bag = target.kind === "user_metadata" ? profile.user_metadata : profile.app_metadata;
    if (blank) {
      bag[target.key] = null;
      return;
    }
    const value = toJson(raw, m.target, parse);
    checkMetadataValue(value, m.target);
    bag[target.key] = value;
  }
}

/** Bytes of the profile as Auth0 would store it (the fields that are set). */
export function profileSize(p: DesiredProfile): number {
  const stored: Record<string, unknown> = { email: p.email };
  for (const [k, v] of Object.entries(p.fields)) if (v !== null) stored[k] = v;
  stored.user_metadata = withoutNulls(p.user_metadata);
  stored.app_metadata = withoutNulls(p.app_metadata);
  return Buffer.byteLength(JSON.stringify(stored), "utf8");
}

export function withoutNulls(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (v !== null) out[k] = v;
  return out;
}
