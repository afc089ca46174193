import fc from "fast-check";
import type { CurrentUser, DesiredProfile, Json, JsonObject } from "../../functions/core/types.js";

const metaKey = fc.constantFrom("plan", "seats", "prefs", "tags", "region", "team");
const jsonValue: fc.Arbitrary<Json> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.boolean(),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom("a", "b", "c"), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), { maxKeys: 3 }),
);
const metadata = (withNulls: boolean): fc.Arbitrary<JsonObject> =>
  fc.dictionary(metaKey, withNulls ? fc.oneof(jsonValue, fc.constant(null)) : jsonValue, { maxKeys: 4 });
const name = fc.oneof(fc.constantFrom("Ada", "Grace", "Linus"), fc.string({ minLength: 1, maxLength: 6 }));
const email = fc.constantFrom("ada@example.com", "grace@example.org", "linus@example.net");

export const desiredArb: fc.Arbitrary<DesiredProfile> = fc.record({
  key: fc.constantFrom("k1", "k2"),
  email,
  fields: fc.record(
    {
      given_name: fc.oneof(name, fc.constant(null)),
      family_name: fc.oneof(name, fc.constant(null)),
      nickname: fc.oneof(name, fc.constant(null)),
      blocked: fc.boolean(),
      email_verified: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
  user_metadata: metadata(true),
  app_metadata: metadata(true),
  createOnly: fc.subarray(["given_name", "user_metadata.plan", "app_metadata.region"]),
  roles: fc.option(fc.subarray(["admin", "editor", "viewer"]), { nil: undefined }),
});

export const currentArb: fc.Arbitrary<CurrentUser> = fc.record(
  {
    user_id: fc.constant("auth0|abc"),
    email: fc.oneof(email, email.map((e) => e.toUpperCase())),
    given_name: name,
    family_name: name,
    nickname: name,
    blocked: fc.boolean(),
    email_verified: fc.boolean(),
    user_metadata: metadata(false),
    app_metadata: metadata(false),
  },
  { requiredKeys: ["user_id", "email"] },
);

/** The same value with every object's keys in reverse order. */
export function reorder<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reorder) as T;
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reorder(x)])) as T;
  return v;
}

/** The sync keys a user found in Auth0 may carry: this row's (desiredArb's keys are k1 and k2), another row's, or none. */
export const syncKeyArb = fc.constantFrom(undefined, "k1", "k2", "k3");

/**
 * As the row mapper makes a profile: a create-only metadata target is listed only with its key (a NULL kept by
 * `onNull: keep` leaves out both; cleared, it is the key with a null).
 */
function asMapped(d: DesiredProfile): DesiredProfile {
  const holds = (t: string) => {
    const [bag, key] = t.split(".") as [string, string | undefined];
    return key === undefined || (bag === "user_metadata" ? Object.hasOwn(d.user_metadata, key) : Object.hasOwn(d.app_metadata, key));
  };
  return { ...d, createOnly: d.createOnly.filter(holds) };
}

/** A desired profile as a keyed config maps it: the identity key is also in app_metadata, under `sync_key`. */
export const keyedDesiredArb: fc.Arbitrary<DesiredProfile> = desiredArb.map((d) => asMapped({ ...d, app_metadata: { ...d.app_metadata, sync_key: d.key } }));

/** A desired profile with the email as identity: the key is the email and app_metadata carries none. */
export const unkeyedDesiredArb: fc.Arbitrary<DesiredProfile> = desiredArb.map((d) => asMapped({ ...d, key: d.email }));

/** A user found in Auth0 by email, carrying one of `syncKeyArb`'s keys in app_metadata.sync_key (or none). */
export const foundUserArb: fc.Arbitrary<CurrentUser> = fc
  .tuple(currentArb, syncKeyArb)
  .map(([u, k]) => (k === undefined ? u : { ...u, app_metadata: { ...u.app_metadata, sync_key: k } }));
