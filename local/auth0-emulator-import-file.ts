/**
 * The users file of an Auth0 bulk import, as Auth0 documents it: the multipart request that carries it (parsed by
 * its boundary, as the v7 SDK's FormData and curl send it) and the JSON schema each user in it must pass ("User
 * Data JSON Schema for Bulk User Imports"). Error codes are Auth0's documented ones ("Retrieve failed entries":
 * FORMAT, INVALID_TYPE, OBJECT_REQUIRED, ENUM_MISMATCH, ...), with the messages of the JSON schema validator the
 * Management API answers with elsewhere. Where the docs name no code (an additional property, a reserved
 * app_metadata key) the emulator says FORMAT.
 */
import { type Json, type JsonObject, typeName } from "./auth0-emulator-http.js";

export interface ImportUserError {
  code: string;
  message: string;
  path?: string;
}

/** The named parts of a multipart/form-data body (the first of each name); undefined when it is not one. */
export function parseMultipart(body: Buffer, contentType: string): Map<string, Buffer> | undefined {
  const m = /^multipart\/form-data\s*;.*?\bboundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts = new Map<string, Buffer>();
  let pos = body.indexOf(delimiter);
  if (pos < 0) return undefined;
  for (;;) {
    pos += delimiter.length;
    const after = body.subarray(pos, pos + 2).toString("latin1");
    if (after === "--") return parts;
    if (after !== "\r\n") return undefined;
    const headerEnd = body.indexOf("\r\n\r\n", pos + 2);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(pos + 2, headerEnd).toString("utf8");
    const end = body.indexOf(next, headerEnd + 4);
    const name = /content-disposition:[^\r\n]*;\s*name="([^"]*)"/i.exec(headers)?.[1];
    if (end < 0 || name === undefined) return undefined;
    if (!parts.has(name)) parts.set(name, body.subarray(headerEnd + 4, end));
    pos = end + 2;
  }
}

const TYPES: Record<string, "string" | "boolean" | "object" | "array"> = {
  email: "string",
  email_verified: "boolean",
  user_id: "string",
  username: "string",
  given_name: "string",
  family_name: "string",
  name: "string",
  nickname: "string",
  picture: "string",
  blocked: "boolean",
  app_metadata: "object",
  user_metadata: "object",
  password_hash: "string",
  custom_password_hash: "object",
  mfa_factors: "array",
};

/** The keys the import schema page forbids in app_metadata. */
const RESERVED_APP_METADATA = new Set(["__tenant", "_id", "blocked", "clientID", "created_at", "email_verified", "email", "globalClientID", "global_client_id", "identities", "lastIP", "lastLogin", "loginsCount", "metadata", "multifactor_last_modified", "multifactor", "updated_at", "user_id"]);
const HASH_ALGORITHMS = ["argon2", "bcrypt", "hmac", "ldap", "md4", "md5", "sha1", "sha256", "sha512", "pbkdf2"];
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const isObject = (v: Json | undefined): v is JsonObject => v !== null && typeof v === "object" && !Array.isArray(v);
const kindOf = (v: Json): string => (isObject(v) ? "object" : Array.isArray(v) ? "array" : typeof v);

/** Every schema error of one entry of the file (none: it is a valid user). */
export function schemaErrors(entry: Json): ImportUserError[] {
  if (!isObject(entry)) return [{ code: "INVALID_TYPE", message: `Expected type object but found type ${typeName(entry)}` }];
  const errors: ImportUserError[] = [];
  for (const k of Object.keys(entry).filter((key) => !(key in TYPES))) {
    errors.push({ code: "FORMAT", message: `Additional properties not allowed: ${k}`, path: k });
  }
  if (entry.email === undefined) errors.push({ code: "OBJECT_REQUIRED", message: "Missing required property: email", path: "email" });
  for (const [k, v] of Object.entries(entry)) {
    const want = TYPES[k];
    if (want && kindOf(v) !== want) errors.push({ code: "INVALID_TYPE", message: `Expected type ${want} but found type ${typeName(v)}`, path: k });
  }
  if (errors.length > 0) return errors;
  if (!EMAIL_RE.test(entry.email as string)) errors.push({ code: "FORMAT", message: `Object didn't pass validation for format email: ${entry.email as string}`, path: "email" });
  const reserved = Object.keys((entry.app_metadata as JsonObject | undefined) ?? {}).filter((k) => RESERVED_APP_METADATA.has(k));
  if (reserved.length > 0) errors.push({ code: "FORMAT", message: `app_metadata may not contain reserved keys: ${reserved.join(", ")}`, path: "app_metadata" });
  const custom = entry.custom_password_hash;
  if (isObject(custom)) {
    if (typeof custom.algorithm !== "string") errors.push({ code: "OBJECT_REQUIRED", message: "Missing required property: algorithm", path: "custom_password_hash.algorithm" });
    else if (!HASH_ALGORITHMS.includes(custom.algorithm)) errors.push({ code: "ENUM_MISMATCH", message: `No enum match for: ${JSON.stringify(custom.algorithm)}`, path: "custom_password_hash.algorithm" });
    if (!isObject(custom.hash) || typeof custom.hash.value !== "string") errors.push({ code: "OBJECT_REQUIRED", message: "Missing required property: hash", path: "custom_password_hash.hash" });
  }
  return errors;
}

/** The entry as the errors endpoint shows it: hashes redacted, as Auth0 redacts `hash.value`. */
export function redacted(entry: Json): Json {
  if (!isObject(entry)) return entry;
  const out = structuredClone(entry);
  if (typeof out.password_hash === "string") out.password_hash = "*****";
  const hash = isObject(out.custom_password_hash) ? out.custom_password_hash.hash : undefined;
  if (isObject(hash)) {
    if (typeof hash.value === "string") hash.value = "*****";
    if (isObject(hash.key) && typeof hash.key.value === "string") hash.key.value = "*****";
  }
  return out;
}
