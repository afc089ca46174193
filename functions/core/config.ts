/**
 * The sync definition: one file (YAML or JSON) read by the CDK app, the Lambdas and the local runner.
 * Pure: it parses text it is given and never reads files itself.
 */
import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

import { SyncError } from "./errors.js";
import { STANDARD_FIELDS, type StandardField } from "./fields.js";
import { CREATED_WRITES_CONCURRENCY, defersCreatedWrites } from "./created-writes.js";
import { consumerBudget, invocationSeconds } from "./budget.js";
import { extractIssues, extractModeSchema, unloadSchema } from "./extract-config.js";
import { DEFAULT_TRANSFORM, SOURCE_KEY_COLUMN, SOURCE_ROLES_COLUMN, auth0SourceSchema, sameTenant, sameTenantNames, transformSchema, type TransformConfig } from "./tenant-copy-config.js";
import { PROFILE_FIELD_NAMES } from "./fields.js";
import { AUTH0_PLANS, ENDPOINT_GROUPS, ORGANIZATION_GROUPS, hasGroupBuckets, type EndpointGroup } from "./rate-limits.js";

export { STANDARD_FIELDS, type StandardField };

/** Keys Auth0 refuses inside app_metadata. */
export const RESERVED_APP_METADATA_KEYS = [
  "blocked",
  "clientID",
  "created_at",
  "email",
  "email_verified",
  "globalClientID",
  "global_client_id",
  "identities",
  "lastIP",
  "lastLogin",
  "loginsCount",
  "metadata",
  "multifactor",
  "updated_at",
  "user_id",
] as const;

const describe = (value: unknown): string => {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return JSON.stringify(value);
};

const expected = (what: string) => ({ error: (iss: { input: unknown }) => `expected ${what}, got ${describe(iss.input)}` });

const columnName = z
  .string(expected("a column name"))
  .regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, "expected a column name (letters, digits, _ and $, not starting with a digit)");

const metadataKey = z
  .string()
  .min(1, "expected a metadata key")
  .refine((k) => !k.includes(".") && !k.includes("$"), "metadata keys may not contain '.' or '$'");

const nullPolicy = z.enum(["keep", "clear"], expected("'keep' (leave Auth0's value alone) or 'clear'"));

const fieldMapping = z.union(
  [
    columnName,
    z.strictObject({
      column: columnName,
      /** What a NULL in the column does to the Auth0 value: keep it (default from `defaults.onNull`) or clear it. */
      onNull: nullPolicy.optional(),
      /** Only sent when the user is created; later runs never overwrite it. */
      createOnly: z.boolean(expected("true or false")).optional(),
      /** Parse the column's text as JSON (metadata targets only). Columns of JSON type are parsed automatically when their text starts with { or [. */
      json: z.boolean(expected("true or false")).optional(),
    }),
  ],
  {
    error: (iss: { input: unknown }) =>
      iss.input !== null && typeof iss.input === "object"
        ? "expected { column, onNull?, createOnly?, json? }"
        : `expected a column name, got ${describe(iss.input)}`,
  },
);
export type FieldMapping = z.infer<typeof fieldMapping>;

const arn = (service: string) =>
  z
    .string(expected(`an ARN of ${service}`))
    .regex(new RegExp(`^arn:aws[a-z-]*:${service}:[a-z0-9-]+:\\d{12}:.+`), `expected an ARN of ${service}`);

const redshiftSourceSchema = z
  .strictObject({
    /** The kind of source (the `RowSource` that reads it); files written before the tag mean "redshift". */
    type: z.literal("redshift", expected("'redshift' (the Redshift Data API)")),
    /** Redshift Serverless workgroup name; give this or clusterIdentifier. */
    workgroupName: z.string(expected("a workgroup name")).min(1).optional(),
    /** Provisioned cluster identifier; give this or workgroupName. */
    clusterIdentifier: z.string(expected("a cluster identifier")).min(1).optional(),
    database: z.string(expected("a database name")).min(1),
    /** Secrets Manager secret holding the database credentials (required for a provisioned cluster). */
    secretArn: arn("secretsmanager").optional(),
    /** The serverless workgroup's ARN (it carries the workgroup id): scopes the IAM policy to exactly this workgroup. */
    workgroupArn: arn("redshift-serverless").optional(),
    sql: z.string(expected("an SQL statement")).min(1, "expected an SQL statement"),
    /** Named parameters for the SQL (`:name` placeholders), passed as strings to the Data API. */
    parameters: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected a parameter name"), z.string(expected("a string value"))).optional(),
    /** Rows per GetStatementResult page asked of the emulator; Redshift chooses its own page size. */
    pageSize: z.number().int().min(1).max(10_000).default(1000),
    /** How the result leaves Redshift: the Data API, UNLOAD to S3, or `auto` (docs/scaling.md). */
    extract: extractModeSchema,
    /** UNLOAD's settings (core/extract-config.ts); required by extract: unload, used by auto above 500 MB. */
    unload: unloadSchema.optional(),
  }, expected("the warehouse source { workgroupName or clusterIdentifier, database, sql }"))
  .superRefine((s, ctx) => {
    for (const issue of extractIssues(s)) ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
  })
  .refine((s) => Boolean(s.workgroupName) !== Boolean(s.clusterIdentifier), {
    message: "expected exactly one of workgroupName (Redshift Serverless) or clusterIdentifier (provisioned)",
  })
  .refine((s) => !s.clusterIdentifier || s.secretArn, {
    message: "a provisioned cluster needs secretArn (the database credentials in Secrets Manager)",
    path: ["secretArn"],
  });

/**
 * The row source, a union tagged by `type`: the Redshift Data API, or another Auth0 tenant (a tenant copy,
 * docs/tenant-copy.md). Each member is one RowSource adapter; the extractor does not change with them. An
 * untagged source is a Redshift one.
 */
const sourceSchema = z.preprocess(
  (v) => (v !== null && typeof v === "object" && !Array.isArray(v) && !("type" in v) ? { type: "redshift", ...v } : v),
  z.discriminatedUnion("type", [redshiftSourceSchema, auth0SourceSchema], {
    error: (iss) =>
      iss.code === "invalid_union"
        ? "expected source.type 'redshift' (the Redshift Data API) or 'auth0' (another tenant, copied pseudonymised)"
        : iss.code === "invalid_type"
          ? `expected the warehouse source { workgroupName or clusterIdentifier, database, sql }, got ${describe(iss.input)}`
          : undefined,
  }),
);
export type RedshiftSourceConfig = z.infer<typeof redshiftSourceSchema>;

const identitySchema = z.strictObject({
  /** The warehouse's primary key column. Without it the email is the identity. */
  keyColumn: columnName.optional(),
  emailColumn: columnName.default("email"),
  /** Name of the app_metadata key that receives the identity key. */
  appMetadataKey: metadataKey.default("sync_key"),
});

const rolesSchema = z.strictObject({
  /** Column holding role names: an array, a JSON array text, or a comma-separated list. */
  column: columnName,
  /** Remove roles the user has that the column does not list. */
  removeUnlisted: z.boolean().default(true),
});

const organizationsSchema = z.strictObject({
  /** Column holding the user's organizations: one, an array, a JSON array text, or a comma-separated list. */
  column: columnName,
  /** How the column names organizations: by name (each looked up once per process) or by id (org_...). */
  by: z.enum(["name", "id"], expected("'name' or 'id'")).default("name"),
  /** Remove the user from organizations the sync added it to that the column no longer lists; false never removes one. */
  removeUnlisted: z.boolean(expected("true or false")).default(true),
  /**
   * The user's roles in each organization: a JSON object {"org": ["role", ...]} (text or JSON column), or a comma list
   * of org:role pairs. Roles of organizations the sync does not set are left alone.
   */
  roles: z.strictObject({ column: columnName }, expected("{ column }")).optional(),
}, expected("{ column, by?, removeUnlisted?, roles? }"));

const rateLimitSchema = z.strictObject({
  /** Sustained Management API requests per second this sync may use across all consumers. */
  requestsPerSecond: z.number(expected("a number of requests per second")).positive().max(1000).default(16),
  /** Burst the sync may use (the tenant's bucket size or less). */
  burst: z.number(expected("a whole number")).int().positive().max(1000).default(50),
});

/** One endpoint group's bucket (core/rate-limits.ts): both figures, as Auth0's rate-limit pages give them. */
const bucketSchema = z.strictObject({
  requestsPerSecond: z.number(expected("a number of requests per second")).positive().max(1000),
  burst: z.number(expected("a whole number")).int().positive().max(1000),
});

const endpointGroupsSchema = z.strictObject(
  Object.fromEntries(ENDPOINT_GROUPS.map((g) => [g, bucketSchema.optional()])) as Record<EndpointGroup, z.ZodOptional<typeof bucketSchema>>,
);

const auth0Schema = z.strictObject({
  /** Tenant domain, e.g. acme.eu.auth0.com (a bare host name). */
  domain: z
    .string(expected("a domain name"))
    .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, "expected a bare host name such as acme.eu.auth0.com (no https://, no path)"),
  /** Any Auth0-compatible base URL (the local emulator); overridden by the AUTH0_BASE_URL environment variable. */
  baseUrl: z.url(expected("a URL")).optional(),
  /** The connection users are created in and looked up by. */
  connection: z.string(expected("a connection name")).min(1),
  /** Whether the connection is a database connection (needs a password on create). */
  connectionType: z.enum(["database", "passwordless", "other"], expected("'database', 'passwordless' or 'other'")).default("database"),
  /**
   * The M2M application's client id (not a secret: Auth0 logs it with every write). The watch's rule ignores the
   * writes it makes; required when `watch.enabled`.
   */
  clientId: z.string(expected("the M2M application's client id")).min(1).optional(),
  /** Secrets Manager secret with {"client_id","client_secret"} of the M2M application; locally, AUTH0_CLIENT_ID / AUTH0_CLIENT_SECRET. */
  credentialsSecretArn: arn("secretsmanager").optional(),
  /** The tenant's plan: one bucket per endpoint group as Auth0 documents it (core/rate-limits.ts). */
  plan: z.enum(AUTH0_PLANS, expected(AUTH0_PLANS.map((p) => `'${p}'`).join(", "))).optional(),
  /** One global budget for the whole Management API, instead of a plan (default: Enterprise production's 16/s, burst 50). */
  rateLimit: rateLimitSchema.optional(),
  /** Per-group overrides of the plan's buckets: readUsers, writeUsers, deleteUsers, other (per-group plans), and the organization groups (any plan). */
  endpointGroups: endpointGroupsSchema.optional(),
  /** Per-request timeout. */
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** In-process retries of 5xx and network errors before the operation fails retryably (429s are waited out, not counted). */
  maxRetries: z.number().int().min(0).max(10).default(2),
}, expected("the Auth0 tenant { domain, connection, ... }"));

/** Users a run must create before `create.bulk: auto` sends them through import jobs (Auth0's advised file holds about 1,000). */
export const DEFAULT_BULK_MIN_USERS = 1000;

const createSchema = z.strictObject({
  /** Send Auth0's verification email on create. */
  verifyEmail: z.boolean().default(false),
  /**
   * New users through Auth0's bulk import jobs (docs/imports.md): `auto` when a run creates at least
   * `bulkMinUsers`, `always`, or `off` (one create call per user).
   */
  bulk: z.enum(["auto", "always", "off"], expected("'auto', 'always' or 'off'")).default("auto"),
  bulkMinUsers: z.number().int().min(1).max(10_000_000).default(DEFAULT_BULK_MIN_USERS),
  /** Send a password-change ticket (an invitation) after create. */
  inviteTicket: z
    .strictObject({
      enabled: z.boolean().default(false),
      resultUrl: z.url(expected("a URL")).optional(),
      ttlSec: z.number().int().positive().max(31 * 24 * 3600).default(7 * 24 * 3600),
      markEmailAsVerified: z.boolean().default(true),
    })
    .default({ enabled: false, ttlSec: 7 * 24 * 3600, markEmailAsVerified: true }),
});

const mirrorSchema = z.strictObject({
  enabled: z.boolean().default(false),
  action: z.enum(["block", "delete", "block-then-delete"], expected("'block', 'delete' or 'block-then-delete'")).default("block"),
  deleteAfterDays: z.number().int().positive().default(30),
  /** Emails or identity keys never blocked or deleted. */
  ignore: z.array(z.string().min(1)).default([]),
  threshold: z
    .strictObject({
      maxCount: z.number().int().min(0).default(100),
      maxShare: z.number().min(0).max(1).default(0.1),
    })
    .default({ maxCount: 100, maxShare: 0.1 }),
  /** Approve a run held by the threshold. */
  approve: z.boolean().default(false),
});

const scheduleSchema = z
  .string(expected("a schedule expression"))
  .regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\))$/, "expected rate(N minutes|hours|days) or cron(...)");

const queueSchema = z.strictObject({
  /** Users packed into one SQS message (also bounded by size). */
  usersPerMessage: z.number().int().min(1).max(500).default(25),
  /** SQS records (messages) per consumer invocation. */
  batchSize: z.number().int().min(1).max(10_000).default(1),
  maxBatchingWindowSeconds: z.number().int().min(0).max(300).default(0),
  maxReceiveCount: z.number().int().min(5, "expected at least 5 (AWS guidance for Lambda consumers)").max(1000).default(5),
  consumerTimeoutSeconds: z.number().int().min(10).max(900).default(120),
});

const SECRET_KEYS = /^(client_?secret|password|secret|token|access_?token|api_?key|private_?key)$/i;

const parsedSchema = z
  .strictObject({
    name: z
      .string(expected("a name"))
      .regex(/^[a-z][a-z0-9-]{0,39}$/, "expected lower-case letters, digits and '-', starting with a letter, at most 40 characters"),
    source: sourceSchema,
    identity: identitySchema.default({ emailColumn: "email", appMetadataKey: "sync_key" }),
    mode: z.enum(["insert", "update", "upsert"], expected("'insert', 'update' or 'upsert'")).default("upsert"),
    /** Target -> column. Targets: a standard field, user_metadata.<key> or app_metadata.<key>. */
    mapping: z
      .record(
        z.string().refine((t) => parseTarget(t) !== undefined, {
          error: `expected a target: one of ${STANDARD_FIELDS.join(", ")}, user_metadata.<key>, app_metadata.<key>, or user_metadata / app_metadata for a JSON object column`,
        }),
        fieldMapping,
      )
      .default({}),
    /** What happens to columns not named in the mapping (nor used as key, email or roles). */
    unmappedColumns: z.enum(["user_metadata", "ignore"], expected("'user_metadata' or 'ignore'")).default("user_metadata"),
    defaults: z
      .strictObject({
        onNull: nullPolicy.default("keep"),
      })
      .default({ onNull: "keep" }),
    roles: rolesSchema.optional(),
    /** Organization memberships (and member roles) from the table (docs/config.md, "Organizations"). */
    organizations: organizationsSchema.optional(),
    /** How a source tenant's users are pseudonymised (source.type auth0 only; defaults to everything personal hidden). */
    transform: transformSchema.optional(),
    auth0: auth0Schema,
    create: createSchema.default({
      verifyEmail: false,
      bulk: "auto",
      bulkMinUsers: DEFAULT_BULK_MIN_USERS,
      inviteTicket: { enabled: false, ttlSec: 7 * 24 * 3600, markEmailAsVerified: true },
    }),
    mirror: mirrorSchema.default({
      enabled: false,
      action: "block",
      deleteAfterDays: 30,
      ignore: [],
      threshold: { maxCount: 100, maxShare: 0.1 },
      approve: false,
    }),
    schedule: scheduleSchema.default("rate(1 hour)"),
    /**
     * Reconcile: read the tenant through a users-export job on its own schedule, repair drift on what the sync owns
     * and seed the ledger with users it does not know (docs/reconcile.md). Off when absent.
     */
    reconcile: z
      .strictObject({
        schedule: scheduleSchema.default("rate(1 day)"),
        /** false: report the drift only (`auth0-sync reconcile` and the dashboard), change nothing. */
        repair: z.boolean().default(true),
        /** Alarm when a reconcile finds more than this share of the managed users drifted. */
        driftAlarmShare: z.number().gt(0).max(1).default(0.05),
      })
      .optional(),
    /**
     * The watch: Auth0's tenant logs streamed to EventBridge; another client's write to a managed user is repaired
     * within a minute (docs/watch.md). Off when absent; the reconcile stays the backstop.
     */
    watch: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** The partner event source Auth0 created, which is also the name of the event bus associated with it. */
        eventSource: z
          .string(expected("the partner event source's name, aws.partner/auth0.com/<tenant>-<uuid>/auth0.logs"))
          .regex(/^aws\.partner\/auth0\.com\/[^/]+\/auth0\.logs$/, "expected aws.partner/auth0.com/<tenant>-<uuid>/auth0.logs (the source Auth0's log stream created)"),
        /** false: report outside edits only (the dashboard, `status`), change nothing. */
        repair: z.boolean().default(true),
        /** Other clients whose writes are the sync's business too (e.g. a provisioning job of the same team): never repaired. */
        ignoreClients: z.array(z.string().min(1)).default([]),
        /** Two writers fighting over a user: after this many repairs of one user within the window, its drift is reported, not repaired. */
        fightCap: z.strictObject({ repairs: z.number().int().min(1).max(100).default(3), windowMinutes: z.number().int().min(1).max(1440).default(60) }).default({ repairs: 3, windowMinutes: 60 }),
        /** Alarm when more managed users than this are edited by other clients within an hour (someone is fighting the sync). */
        alarmEditsPerHour: z.number().int().min(1).default(100),
      })
      .optional(),
    alarms: z
      .strictObject({
        email: z.email(expected("an email address")).optional(),
        /** Alarm when the oldest message on the queue is older than this. */
        oldestMessageAgeSeconds: z.number().int().min(60).default(3600),
        /** Alarm when more than this share of Auth0 calls answer 429. */
        status429Share: z.number().gt(0).max(1).default(0.05),
        /** The schedule's period for the "no successful run" alarm when the schedule is a cron expression. */
        cronPeriodMinutes: z.number().int().min(1).default(1440),
      })
      .default({ oldestMessageAgeSeconds: 3600, status429Share: 0.05, cronPeriodMinutes: 1440 }),
    ledger: z
      .strictObject({
        /** Refuse to delete the ledger table (it is what keeps the sync from re-creating or losing users). */
        deletionProtection: z.boolean().default(true),
      })
      .default({ deletionProtection: true }),
    lambda: z
      .strictObject({
        extractorTimeoutSeconds: z.number().int().min(30).max(900).default(900),
        memoryMb: z.number().int().min(128).max(10_240).default(512),
        logRetentionDays: z.union([z.literal(1), z.literal(3), z.literal(5), z.literal(7), z.literal(14), z.literal(30), z.literal(60), z.literal(90), z.literal(180), z.literal(365)], expected("one of 1, 3, 5, 7, 14, 30, 60, 90, 180, 365")).default(30),
        tracing: z.boolean().default(false),
        /** Reserved concurrency of the consumer; must be at least the event source's maxConcurrency. */
        reservedConcurrency: z.number().int().min(2).optional(),
      })
      .default({ extractorTimeoutSeconds: 900, memoryMb: 512, logRetentionDays: 30, tracing: false }),
    queue: queueSchema.default({
      usersPerMessage: 25,
      batchSize: 1,
      maxBatchingWindowSeconds: 0,
      maxReceiveCount: 5,
      consumerTimeoutSeconds: 120,
    }),
  })
  .superRefine((cfg, ctx) => {
    tenantCopyIssues(cfg).forEach((i) => ctx.addIssue({ code: "custom", ...i }));
    if (cfg.watch?.enabled && !cfg.auth0.clientId) {
      ctx.addIssue({ code: "custom", path: ["auth0", "clientId"], message: "the watch needs the sync's own client id, so its rule ignores the sync's writes" });
    }
    for (const [target, m] of Object.entries(cfg.mapping)) {
      const path = ["mapping", target];
      const parsed = parseTarget(target);
      if (!parsed) continue;
      if ((parsed.kind === "user_metadata" || parsed.kind === "app_metadata") && (parsed.key.includes("$") || parsed.key.length === 0)) {
        ctx.addIssue({ code: "custom", path, message: "metadata keys may not be empty or contain '.' or '$'" });
      }
      if (parsed.kind === "app_metadata" && (RESERVED_APP_METADATA_KEYS as readonly string[]).includes(parsed.key)) {
        ctx.addIssue({ code: "custom", path, message: `'${parsed.key}' is a reserved app_metadata key in Auth0` });
      }
      if (parsed.kind === "app_metadata" && parsed.key === cfg.identity.appMetadataKey && cfg.identity.keyColumn) {
        ctx.addIssue({ code: "custom", path, message: `app_metadata.${parsed.key} holds the identity key (identity.appMetadataKey)` });
      }
      if (parsed.kind === "field" && parsed.field === "email") {
        ctx.addIssue({ code: "custom", path, message: "the email comes from identity.emailColumn; do not map it here" });
      }
      if (parsed.kind === "user_metadata_object" || parsed.kind === "app_metadata_object") {
        if (typeof m === "object" && m.createOnly) {
          ctx.addIssue({ code: "custom", path: [...path, "createOnly"], message: "is not supported for a whole-metadata JSON column" });
        }
      }
      if (typeof m === "object" && m.json && parsed.kind === "field") {
        ctx.addIssue({ code: "custom", path: [...path, "json"], message: "only metadata targets can hold JSON" });
      }
    }
    if (cfg.identity.appMetadataKey && (RESERVED_APP_METADATA_KEYS as readonly string[]).includes(cfg.identity.appMetadataKey)) {
      ctx.addIssue({ code: "custom", path: ["identity", "appMetadataKey"], message: "is a reserved app_metadata key in Auth0" });
    }
    if (cfg.auth0.connectionType !== "database" && cfg.create.inviteTicket.enabled) {
      ctx.addIssue({
        code: "custom",
        path: ["create", "inviteTicket", "enabled"],
        message: "password-change tickets only exist for database connections",
      });
    }
    // The organization groups have a bucket of their own on every plan: those may be lowered on any.
    const planGroupsSet = Object.keys(cfg.auth0.endpointGroups ?? {}).filter((g) => !(ORGANIZATION_GROUPS as readonly string[]).includes(g));
    if (planGroupsSet.length > 0 && !hasGroupBuckets(cfg.auth0)) {
      ctx.addIssue({
        code: "custom",
        path: ["auth0", "endpointGroups"],
        message: `${cfg.auth0.plan ? `the ${cfg.auth0.plan} plan has` : "a global budget is"} one bucket for the whole Management API, so a group has no bucket of its own to set; lower auth0.rateLimit instead, or name a plan with per-group buckets (${AUTH0_PLANS.filter((p) => hasGroupBuckets({ plan: p })).join(", ")})`,
      });
    }
    if (cfg.auth0.plan && cfg.auth0.rateLimit) {
      ctx.addIssue({
        code: "custom",
        path: ["auth0", "rateLimit"],
        message: `give either auth0.plan (Auth0's buckets for the ${cfg.auth0.plan} plan) or auth0.rateLimit (one global budget), not both; lower single groups with auth0.endpointGroups`,
      });
    } else {
      // One invocation must finish its users well inside the timeout at its share of the slowest bucket.
      const users = cfg.queue.batchSize * cfg.queue.usersPerMessage;
      const { seconds, bucket, rps } = invocationSeconds(cfg, users);
      if (seconds > cfg.queue.consumerTimeoutSeconds * 0.8) {
        ctx.addIssue({
          code: "custom",
          path: ["queue", "batchSize"],
          message: `batchSize x usersPerMessage = ${users} users need about ${seconds} s at one consumer's ${rps.toFixed(1)} requests/s of the ${bucket} bucket, more than 80% of consumerTimeoutSeconds (${cfg.queue.consumerTimeoutSeconds}); lower them or raise the timeout`,
        });
      }
    }
    // The consumer also reads the writes queue (core/created-writes.ts) with instances of its own.
    const consumerInstances = consumerBudget(cfg).maxConcurrency + (defersCreatedWrites(cfg) ? CREATED_WRITES_CONCURRENCY : 0);
    if (cfg.lambda.reservedConcurrency !== undefined && cfg.lambda.reservedConcurrency < consumerInstances) {
      ctx.addIssue({
        code: "custom",
        path: ["lambda", "reservedConcurrency"],
        message: `must be at least the consumer's maxConcurrency (${consumerInstances}${defersCreatedWrites(cfg) ? `: ${consumerBudget(cfg).maxConcurrency} on the queue and ${CREATED_WRITES_CONCURRENCY} on the writes queue` : ""}); lower reserved concurrency would throttle and send messages to the DLQ early`,
      });
    }
    if (cfg.create.bulk === "always") {
      // Auth0 imports only into database connections, and an import sends no verification email.
      if (cfg.auth0.connectionType !== "database") {
        ctx.addIssue({ code: "custom", path: ["create", "bulk"], message: `Auth0 imports users only into a database connection; auth0.connectionType is '${cfg.auth0.connectionType}' (use 'auto' or 'off')` });
      }
      if (cfg.create.verifyEmail) {
        ctx.addIssue({ code: "custom", path: ["create", "bulk"], message: "an import job sends no verification email, and create.verifyEmail asks for one (use 'auto' or 'off', which then create one by one)" });
      }
      if (cfg.mode === "update") {
        ctx.addIssue({ code: "custom", path: ["create", "bulk"], message: "mode 'update' never creates users, so there is nothing to import (use 'auto' or 'off')" });
      }
    }
    if (cfg.create.inviteTicket.enabled && !cfg.create.inviteTicket.resultUrl) {
      ctx.addIssue({ code: "custom", path: ["create", "inviteTicket", "resultUrl"], message: "expected a URL to send invited users to" });
    }
  });

/** The validated config, with a tenant copy's implied identity, mapping and roles filled in. */
export const syncConfigSchema = parsedSchema.transform(withSourceMapping);

export type SyncConfig = z.output<typeof syncConfigSchema>;
export type SyncConfigInput = z.input<typeof syncConfigSchema>;

/** What the tenant-copy rules read of a config (spelled out: the schema's own type is still being inferred). */
interface ParsedConfig {
  source: z.output<typeof sourceSchema>;
  transform?: TransformConfig;
  identity: z.output<typeof identitySchema>;
  mapping: Record<string, FieldMapping>;
  unmappedColumns: "user_metadata" | "ignore";
  roles?: z.output<typeof rolesSchema>;
  create: z.output<typeof createSchema>;
  reconcile?: unknown;
  organizations?: unknown;
  auth0: { domain: string; baseUrl?: string };
}

/** What a tenant copy may not be given, or must not do (each a config problem with its path). */
function tenantCopyIssues(cfg: ParsedConfig): { path: (string | number)[]; message: string }[] {
  const src = cfg.source;
  if (src.type !== "auth0") {
    return cfg.transform ? [{ path: ["transform"], message: "pseudonymises a source tenant's users: only with source.type auth0" }] : [];
  }
  const out: { path: (string | number)[]; message: string }[] = [];
  // Every name of the target against every name of the source (a base URL is https://<domain> unless given).
  const never = "a copy never writes into the tenant it reads";
  if (sameTenant(src.domain, cfg.auth0.domain)) out.push({ path: ["auth0", "domain"], message: `is the source tenant (source.domain ${src.domain}): ${never}` });
  const byUrl = cfg.auth0.baseUrl ? sameTenantNames([src.baseUrl, src.domain], [cfg.auth0.baseUrl]) : undefined;
  if (byUrl) {
    out.push({ path: ["auth0", "baseUrl"], message: `is the source tenant (${byUrl.source === src.baseUrl ? "source.baseUrl" : "source.domain"} ${byUrl.source}): ${never}` });
  } else if (src.baseUrl && sameTenant(src.baseUrl, cfg.auth0.domain)) {
    out.push({ path: ["source", "baseUrl"], message: `is the target tenant (auth0.domain ${cfg.auth0.domain}): ${never}` });
  }
  // A config already parsed carries the implied values (the stack embeds the parsed config, the Lambdas parse it
  // again): those are accepted, anything else is refused.
  const implied = impliedByCopy(src.copyRoles);
  const why = "is implied by source.type auth0 (the source's columns are fixed: docs/tenant-copy.md)";
  if (Object.keys(cfg.mapping).length > 0 && JSON.stringify(cfg.mapping) !== JSON.stringify(implied.mapping)) out.push({ path: ["mapping"], message: `${why}; choose what is copied with transform` });
  if (cfg.identity.keyColumn && cfg.identity.keyColumn !== SOURCE_KEY_COLUMN) out.push({ path: ["identity", "keyColumn"], message: `${why}: the key is a keyed hash of the source user_id` });
  if (cfg.roles && JSON.stringify(cfg.roles) !== JSON.stringify(implied.roles)) out.push({ path: ["roles"], message: `${why}; copy roles with source.copyRoles` });
  if (cfg.create.verifyEmail) out.push({ path: ["create", "verifyEmail"], message: "a copy never sends email: users are created with a random password and no verification email" });
  if (cfg.create.inviteTicket.enabled) out.push({ path: ["create", "inviteTicket", "enabled"], message: "a copy never invites users: they are created with a random password" });
  if (cfg.reconcile) out.push({ path: ["reconcile"], message: "is not available for a tenant copy yet: the refresh itself reads the whole source" });
  if (cfg.organizations) out.push({ path: ["organizations"], message: "are not copied by a tenant copy yet (the source's columns have none)" });
  return out;
}

/** What a tenant copy implies: every column the transform produces mapped, and the roles column with copyRoles. */
function impliedByCopy(copyRoles: boolean): { mapping: Record<string, FieldMapping>; roles?: z.output<typeof rolesSchema> } {
  const mapping: Record<string, FieldMapping> = Object.fromEntries(PROFILE_FIELD_NAMES.map((f) => [f, { column: f, onNull: "clear" as const }]));
  mapping.user_metadata = "user_metadata";
  mapping.app_metadata = "app_metadata";
  return { mapping, ...(copyRoles ? { roles: { column: SOURCE_ROLES_COLUMN, removeUnlisted: true } } : {}) };
}

/** A tenant copy's implied identity, mapping and roles, and its transform's defaults; other configs unchanged. */
function withSourceMapping<C extends ParsedConfig>(cfg: C): C {
  if (cfg.source.type !== "auth0") return cfg;
  const implied = impliedByCopy(cfg.source.copyRoles);
  return {
    ...cfg,
    identity: { ...cfg.identity, keyColumn: SOURCE_KEY_COLUMN, emailColumn: "email" },
    mapping: implied.mapping,
    unmappedColumns: "ignore",
    transform: cfg.transform ?? DEFAULT_TRANSFORM,
    roles: implied.roles,
  };
}

/** The warehouse a config reads; a tenant copy (source.type auth0) has none. */
export function warehouseOf(cfg: Pick<SyncConfig, "source">): RedshiftSourceConfig {
  if (cfg.source.type !== "redshift") throw new Error(`the source is an Auth0 tenant (${cfg.source.domain}), not a warehouse`);
  return cfg.source;
}

/** The transform of a tenant copy (defaults filled), or undefined for other sources. */
export function transformOf(cfg: SyncConfig): TransformConfig | undefined {
  return cfg.source.type === "auth0" ? (cfg.transform ?? DEFAULT_TRANSFORM) : undefined;
}

export type Target =
  | { kind: "field"; field: StandardField }
  | { kind: "user_metadata"; key: string }
  | { kind: "app_metadata"; key: string }
  /** A JSON-object column whose first-level keys are merged into the metadata. */
  | { kind: "user_metadata_object" }
  | { kind: "app_metadata_object" };

export function parseTarget(target: string): Target | undefined {
  if ((STANDARD_FIELDS as readonly string[]).includes(target)) return { kind: "field", field: target as StandardField };
  if (target === "user_metadata" || target === "app_metadata") return { kind: `${target}_object` };
  const m = /^(user_metadata|app_metadata)\.([^.]*)$/.exec(target);
  if (!m) return undefined;
  return { kind: m[1] as "user_metadata" | "app_metadata", key: m[2] ?? "" };
}

export class ConfigError extends SyncError {
  override readonly name = "ConfigError";
  readonly retryable = false;
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid sync config ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

function findSecretValues(value: unknown, path: string[] = []): { path: string; message: string }[] {
  if (!value || typeof value !== "object") return [];
  const found: { path: string; message: string }[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const here = [...path, k];
    if (SECRET_KEYS.test(k) && typeof v === "string") {
      found.push({
        path: here.join("."),
        message: "secrets are never values in the config file; use auth0.credentialsSecretArn / source.secretArn, or environment variables locally",
      });
    } else if (path[0] !== "mapping") {
      found.push(...findSecretValues(v, here));
    }
  }
  return found;
}

/** Validates an already-parsed config object; throws ConfigError listing every problem with its field path. */
export function validateConfig(raw: unknown, source = "config"): SyncConfig {
  const secrets = findSecretValues(raw);
  const result = syncConfigSchema.safeParse(raw);
  if (result.success && secrets.length === 0) return result.data;
  const problems = secrets.map((s) => `${s.path}: ${s.message}`);
  const secretPaths = new Set(secrets.map((s) => s.path));
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join(".") || "(top level)";
      let message = issue.message;
      if (issue.code === "unrecognized_keys") {
        const keys = issue.keys.filter((k) => !secretPaths.has([...issue.path.map(String), k].join(".")));
        if (keys.length === 0) continue;
        message = `unknown field${keys.length > 1 ? "s" : ""} ${keys.map((k) => `'${k}'`).join(", ")}`;
      }
      if (issue.code === "invalid_key") message = issue.issues[0]?.message ?? message;
      problems.push(`${path}: ${message}`);
    }
  }
  throw new ConfigError(source, problems);
}

/** Parses YAML or JSON text (YAML is a superset of JSON) and validates it. */
export function parseConfig(text: string, source = "config"): SyncConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError(source, [`not valid YAML or JSON: ${(err as Error).message.split("\n")[0]?.replace(/:\s*$/, "")}`]);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(source, ["(top level): expected an object with name, source, auth0, ..."]);
  }
  return validateConfig(raw, source);
}

/** The schedule's period in seconds: from a rate() expression, or alarms.cronPeriodMinutes for cron(). */
export function schedulePeriodSeconds(cfg: Pick<SyncConfig, "schedule" | "alarms">): number {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(cfg.schedule);
  if (!m) return cfg.alarms.cronPeriodMinutes * 60;
  const unit = m[2]!.startsWith("minute") ? 60 : m[2]!.startsWith("hour") ? 3600 : 86400;
  return Number(m[1]) * unit;
}

/** A short hash of the validated config: the stack outputs it, and the CLI warns when a local file differs. */
export function configHash(cfg: SyncConfig): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v;
  return createHash("sha256").update(JSON.stringify(canonical(cfg))).digest("hex").slice(0, 16);
}
