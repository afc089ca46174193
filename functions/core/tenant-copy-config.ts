/**
 * The config of a tenant copy (docs/tenant-copy.md): an Auth0 tenant as the row source (`source.type: auth0`) and
 * the `transform` that pseudonymises what is read before anything else sees it. The columns the source yields and
 * the mapping they imply are here too, so the source adapter, the transform and the config cannot disagree.
 */
import { z } from "zod";
import { PROFILE_FIELD_NAMES, PROFILE_FIELDS, type ProfileField } from "./fields.js";

/** What a transform does with one field or metadata path. */
export const FIELD_MODES = ["keep", "drop", "pseudonymise"] as const;
export type FieldMode = (typeof FIELD_MODES)[number];

/**
 * What each profile field becomes when the config says nothing: personal data is pseudonymised (names, usernames)
 * or dropped (phone numbers, pictures); flags are kept. A field added to core/fields.ts must be placed here (the
 * Record type makes a missing one a compile error).
 */
export const DEFAULT_FIELD_MODES: Record<ProfileField, FieldMode> = {
  email_verified: "keep",
  given_name: "pseudonymise",
  family_name: "pseudonymise",
  name: "pseudonymise",
  nickname: "pseudonymise",
  picture: "drop",
  phone_number: "drop",
  blocked: "keep",
  username: "pseudonymise",
};

/** The column holding the pseudonymous identity key (a keyed hash of the source user_id, never the id itself). */
export const SOURCE_KEY_COLUMN = "source_key";
/** The column holding the source user's role names (when `source.copyRoles`). */
export const SOURCE_ROLES_COLUMN = "roles";

/** The columns a transformed source row has: the identity, the email, every profile field, metadata and roles. */
export const SOURCE_COLUMNS: readonly string[] = [SOURCE_KEY_COLUMN, "email", ...PROFILE_FIELD_NAMES, "user_metadata", "app_metadata", SOURCE_ROLES_COLUMN];

const hostName = z
  .string("expected a domain name")
  .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, "expected a bare host name such as acme.eu.auth0.com (no https://, no path)");

const secretArn = z
  .string("expected an ARN of secretsmanager")
  .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:.+/, "expected an ARN of secretsmanager");

export const auth0SourceSchema = z.strictObject(
  {
    type: z.literal("auth0"),
    /** The source tenant's domain (production), e.g. acme.eu.auth0.com. */
    domain: hostName,
    /** Any Auth0-compatible base URL (the local emulator); overridden by SOURCE_AUTH0_BASE_URL. */
    baseUrl: z.url("expected a URL").optional(),
    /** Secret with {"client_id","client_secret"} of an M2M application of the source tenant (read:users); locally SOURCE_AUTH0_CLIENT_ID / SOURCE_AUTH0_CLIENT_SECRET. */
    credentialsSecretArn: secretArn.optional(),
    /** The connections whose users are copied, by name (the export is read once and filtered, so no read:connections). */
    connections: z.array(z.string("expected a connection name").min(1), "expected a list of connection names").min(1, "expected at least one connection"),
    /** Copy the users' roles by name (needs read:roles on the source; the target must have roles of the same names). */
    copyRoles: z.boolean("expected true or false").default(false),
    /** Requests per second this copy may spend of the source tenant's budget (production traffic shares it). */
    requestsPerSecond: z.number("expected a number of requests per second").positive().max(50).default(2),
  },
  "expected the source tenant { type: auth0, domain, connections, ... }",
);
export type Auth0SourceConfig = z.infer<typeof auth0SourceSchema>;

/** A metadata path: keys joined with dots (`preferences.theme`). */
const metadataPath = z.string("expected a metadata path").regex(/^[^.$]+(\.[^.$]+)*$/, "expected keys joined with '.' (no '$', no empty key)");

const metadataRulesSchema = z
  .strictObject(
    {
      /** Only these paths are copied (an empty list copies nothing). */
      allow: z.array(metadataPath).optional(),
      /** Everything but these paths is copied. */
      deny: z.array(metadataPath).optional(),
      /** These paths (among those copied) are pseudonymised: text and numbers become keyed hashes, emails pseudonymous emails. */
      pseudonymise: z.array(metadataPath).default([]),
    },
    "expected { allow: [paths] } or { deny: [paths] }, with pseudonymise: [paths]",
  )
  // Neither would copy everything: a privacy setting that fails open. Nothing copied is `allow: []`.
  .refine((m) => Boolean(m.allow) !== Boolean(m.deny), { message: "give allow (copy only these paths; [] copies nothing) or deny (copy all but these), exactly one" });
export type MetadataRules = z.infer<typeof metadataRulesSchema>;

const NOTHING: MetadataRules = { allow: [], pseudonymise: [] };

export const transformSchema = z
  .strictObject(
    {
      /** The secret holding the pseudonymisation key (keyed HMAC); the stack creates one when absent; locally PSEUDONYM_KEY or a key kept in the state directory. */
      keySecretArn: secretArn.optional(),
      /** Pseudonymous emails are at this domain (example.com, reserved by IANA, by default: no mail reaches anyone). */
      emailDomain: hostName.default("example.com"),
      /** The email: pseudonymise (default) or keep, which needs allowRealEmails. */
      email: z.enum(["pseudonymise", "keep"], "expected 'pseudonymise' or 'keep'").default("pseudonymise"),
      /** Copy real email addresses into the target (email: keep); without it none reaches the target, not even inside metadata. */
      allowRealEmails: z.boolean("expected true or false").default(false),
      /** Per profile field: keep, drop or pseudonymise (defaults: DEFAULT_FIELD_MODES). */
      fields: z
        .strictObject(
          Object.fromEntries(PROFILE_FIELD_NAMES.map((f) => [f, z.enum(FIELD_MODES, "expected 'keep', 'drop' or 'pseudonymise'").optional()])) as Record<
            ProfileField,
            z.ZodOptional<z.ZodEnum<{ keep: "keep"; drop: "drop"; pseudonymise: "pseudonymise" }>>
          >,
        )
        .default({}),
      /** Which user_metadata paths are copied (default: none). */
      user_metadata: metadataRulesSchema.default(NOTHING),
      /** Which app_metadata paths are copied (default: none). */
      app_metadata: metadataRulesSchema.default(NOTHING),
    },
    "expected the transform { emailDomain, fields, user_metadata, app_metadata, ... }",
  )
  .superRefine((t, ctx) => {
    if (t.email === "keep" && !t.allowRealEmails) {
      ctx.addIssue({
        code: "custom",
        path: ["email"],
        message: "keeping real email addresses copies real people's contact data into the target: set transform.allowRealEmails: true to mean it",
      });
    }
    for (const [field, mode] of Object.entries(t.fields) as [ProfileField, FieldMode | undefined][]) {
      if (mode === "pseudonymise" && PROFILE_FIELDS[field].kind === "boolean") {
        ctx.addIssue({ code: "custom", path: ["fields", field], message: "a true/false field cannot be pseudonymised: keep or drop it" });
      }
    }
    for (const bag of ["user_metadata", "app_metadata"] as const) {
      const rules = t[bag];
      for (const [i, p] of rules.pseudonymise.entries()) {
        const copied = rules.allow
          ? rules.allow.some((a) => p === a || p.startsWith(`${a}.`) || a.startsWith(`${p}.`))
          : !(rules.deny ?? []).some((d) => p === d || p.startsWith(`${d}.`));
        if (!copied) ctx.addIssue({ code: "custom", path: [bag, "pseudonymise", i], message: `'${p}' is not copied (see ${bag}.${rules.allow ? "allow" : "deny"}), so there is nothing to pseudonymise` });
      }
    }
  });
export type TransformConfig = z.infer<typeof transformSchema>;

/** The transform a copy runs with when the config gives none: everything personal pseudonymised or dropped. */
export const DEFAULT_TRANSFORM: TransformConfig = transformSchema.parse({});

/** The mode of a profile field under a transform. */
export function fieldMode(t: TransformConfig, field: ProfileField): FieldMode {
  return t.fields[field] ?? DEFAULT_FIELD_MODES[field];
}

/** Two tenant addresses name the same tenant (case and a trailing dot aside): a copy onto its source is refused. */
export function sameTenant(a: string, b: string): boolean {
  const norm = (s: string) => {
    const t = s.trim().toLowerCase();
    try {
      const u = new URL(/^[a-z]+:\/\//.test(t) ? t : `https://${t}`);
      return `${u.hostname.replace(/\.$/, "")}:${u.port}`;
    } catch {
      return t;
    }
  };
  return norm(a) === norm(b);
}

/**
 * The first pair of names, one of the source's and one of the target's, that name the same tenant (a base URL
 * equal to https://<domain> included), or undefined. A copy onto its source is refused on it, naming both.
 */
export function sameTenantNames(source: readonly (string | undefined)[], target: readonly (string | undefined)[]): { source: string; target: string } | undefined {
  for (const t of target) for (const s of source) if (t && s && sameTenant(t, s)) return { source: s, target: t };
  return undefined;
}
