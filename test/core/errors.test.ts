import { ManagementError } from "auth0";
import { describe, expect, it } from "vitest";
import { Auth0Error, classifyError } from "../../functions/adapters/auth0/errors.js";
import { OrganizationWriteError } from "../../functions/adapters/auth0/organizations.js";
import { RedshiftStatementError } from "../../functions/adapters/redshift/source.js";
import { SameTenantError } from "../../functions/flows/row-source.js";
import { MissingCredentialsError } from "../../functions/adapters/runtime/config.js";
import { QueueSendError } from "../../functions/adapters/sqs/sender.js";
import { ColumnsError } from "../../functions/core/columns.js";
import { ConfigError, parseConfig } from "../../functions/core/config.js";
import { SyncError } from "../../functions/core/errors.js";

const permanent = new Auth0Error("get user: Auth0 answered 404: The user does not exist.", { kind: "not_found", retryable: false, statusCode: 404 });
const passing = new Auth0Error("get user: Auth0 answered 503: try later", { kind: "server", retryable: true, statusCode: 503 });

/** Every error of the catalogue that says whether it is retryable, with what it said before the common base. */
const catalogue: { error: Error; cls: abstract new (...args: never[]) => Error; name: string; retryable: boolean }[] = [
  { error: permanent, cls: Auth0Error, name: "Auth0Error", retryable: false },
  { error: passing, cls: Auth0Error, name: "Auth0Error", retryable: true },
  { error: classifyError(new ManagementError({ statusCode: 429, body: { message: "Too Many Requests" } }), "list roles"), cls: Auth0Error, name: "Auth0Error", retryable: true },
  { error: classifyError(new ManagementError({ statusCode: 400, body: { message: "Payload validation error" } }), "create user"), cls: Auth0Error, name: "Auth0Error", retryable: false },
  { error: new OrganizationWriteError(permanent, "orgs"), cls: OrganizationWriteError, name: "OrganizationWriteError", retryable: false },
  { error: new OrganizationWriteError(passing), cls: OrganizationWriteError, name: "OrganizationWriteError", retryable: true },
  { error: new QueueSendError("SQS did not accept 1 message(s) after 3 attempts", 1), cls: QueueSendError, name: "QueueSendError", retryable: true },
  { error: new RedshiftStatementError("Redshift statement s1 ABORTED: cancelled", "s1", "ABORTED", { retryable: true }), cls: RedshiftStatementError, name: "RedshiftStatementError", retryable: true },
  { error: new RedshiftStatementError("Redshift statement s1 FAILED: syntax error", "s1", "FAILED", { retryable: false }), cls: RedshiftStatementError, name: "RedshiftStatementError", retryable: false },
  { error: new SameTenantError("https://a.example.com", "a.example.com"), cls: SameTenantError, name: "SameTenantError", retryable: false },
  { error: new ColumnsError("The statement does not return every column the config names"), cls: ColumnsError, name: "ColumnsError", retryable: false },
  { error: new ConfigError("config.yml", ["mode: invalid"]), cls: ConfigError, name: "ConfigError", retryable: false },
  { error: new MissingCredentialsError("No Auth0 credentials"), cls: MissingCredentialsError, name: "MissingCredentialsError", retryable: true },
];

describe("SyncError: the one base of the errors that say whether they are retryable", () => {
  it.each(catalogue.map((c) => [`${c.name} (retryable: ${c.retryable})`, c] as const))("%s is a SyncError, its own class and an Error, and says retryable as before", (_, c) => {
    expect(c.error).toBeInstanceOf(SyncError);
    expect(c.error).toBeInstanceOf(c.cls);
    expect(c.error).toBeInstanceOf(Error);
    expect((c.error as SyncError).retryable).toBe(c.retryable);
    expect(c.error.name).toBe(c.name);
    // The name is the class's own, not the base's, wherever it is shown.
    expect(String(c.error)).toMatch(new RegExp(`^${c.name}: `));
    expect(c.error.stack).toMatch(new RegExp(`^${c.name}: `));
  });

  it("keeps each class apart: instanceof of one specific class matches only it (and its subclasses)", () => {
    const classes = [...new Set(catalogue.map((c) => c.cls))];
    for (const c of catalogue) {
      for (const cls of classes) {
        const expected = c.error.constructor === cls || (cls === Auth0Error && c.error instanceof OrganizationWriteError);
        expect(c.error instanceof cls, `${c.name} instanceof ${cls.name}`).toBe(expected);
      }
    }
  });

  it("keeps what each class carries, and the cause", () => {
    const org = new OrganizationWriteError(permanent, "orgs");
    expect(org).toMatchObject({ kind: "not_found", statusCode: 404, field: "orgs", rejectCode: "user_not_found", message: `organization membership: ${permanent.message}` });
    expect(org.cause).toBe(permanent);
    expect(new QueueSendError("x", 3).failedEntries).toBe(3);
    expect(new RedshiftStatementError("x", "s1", "FAILED", { retryable: false })).toMatchObject({ statementId: "s1", status: "FAILED" });
    expect(new ConfigError("config.yml", ["a", "b"])).toMatchObject({ source: "config.yml", problems: ["a", "b"], message: "Invalid sync config config.yml:\n  - a\n  - b" });
    expect(() => parseConfig("{")).toThrow(ConfigError);
  });

  it("is easy to extend: a class gives its name and retryable, and takes a message and a cause", () => {
    class ExampleError extends SyncError {
      override readonly name = "ExampleError";
      readonly retryable = true;
    }
    const cause = new Error("socket hang up");
    const e = new ExampleError("could not reach the example", { cause });
    expect(e).toBeInstanceOf(SyncError);
    expect(e).toMatchObject({ name: "ExampleError", retryable: true, message: "could not reach the example", cause });
    expect(String(e)).toBe("ExampleError: could not reach the example");
  });
});
