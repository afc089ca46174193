import { describe, expect, it } from "vitest";
import { parseConfig, transformOf, validateConfig, warehouseOf } from "../../functions/core/config.js";
import { PROFILE_FIELD_NAMES } from "../../functions/core/fields.js";
import { DEFAULT_FIELD_MODES, DEFAULT_TRANSFORM, fieldMode, sameTenant, sameTenantNames } from "../../functions/core/tenant-copy-config.js";
import { MINIMAL_COPY, configProblems, testConfig } from "../helpers/config.js";

const MINIMAL = MINIMAL_COPY;

const copy = {
  name: "staging-copy",
  source: { type: "auth0", domain: "prod.example.com", connections: ["Username-Password-Authentication"] },
  auth0: { domain: "staging.example.com", connection: "Username-Password-Authentication" },
};

const withSource = (extra: Record<string, unknown>) => ({ ...copy, source: { ...copy.source, ...extra } });

const problems = configProblems;

describe("a tenant copy's config", () => {
  it("parses a minimal copy config and fills in the implied identity, mapping and transform", () => {
    const cfg = parseConfig(MINIMAL, "copy.yml");
    expect(cfg.source).toEqual({
      type: "auth0",
      domain: "prod.example.com",
      connections: ["Username-Password-Authentication"],
      copyRoles: false,
      requestsPerSecond: 2,
    });
    expect(cfg.identity).toEqual({ keyColumn: "source_key", emailColumn: "email", appMetadataKey: "sync_key" });
    const mapping: Record<string, unknown> = Object.fromEntries(PROFILE_FIELD_NAMES.map((f) => [f, { column: f, onNull: "clear" }]));
    mapping.user_metadata = "user_metadata";
    mapping.app_metadata = "app_metadata";
    expect(cfg.mapping).toEqual(mapping);
    expect(Object.keys(cfg.mapping)).not.toContain("email");
    expect(cfg.unmappedColumns).toBe("ignore");
    expect(cfg.roles).toBeUndefined();
    expect(cfg.transform).toEqual(DEFAULT_TRANSFORM);
    expect(transformOf(cfg)).toEqual(DEFAULT_TRANSFORM);
  });

  it("the default transform hides everything personal: pseudonymous emails at example.com, no metadata", () => {
    const t = transformOf(parseConfig(MINIMAL))!;
    expect(t).toEqual({
      emailDomain: "example.com",
      email: "pseudonymise",
      allowRealEmails: false,
      fields: {},
      user_metadata: { allow: [], pseudonymise: [] },
      app_metadata: { allow: [], pseudonymise: [] },
    });
    for (const f of PROFILE_FIELD_NAMES) expect(fieldMode(t, f)).toBe(DEFAULT_FIELD_MODES[f]);
    expect(DEFAULT_FIELD_MODES).toMatchObject({ given_name: "pseudonymise", family_name: "pseudonymise", name: "pseudonymise", username: "pseudonymise", phone_number: "drop", picture: "drop", email_verified: "keep", blocked: "keep" });
  });

  it("a given transform is kept, with its defaults filled", () => {
    const cfg = validateConfig({ ...copy, transform: { emailDomain: "copy.example.org", fields: { given_name: "keep" }, user_metadata: { allow: ["plan"] } } });
    const t = transformOf(cfg)!;
    expect(t.emailDomain).toBe("copy.example.org");
    expect(fieldMode(t, "given_name")).toBe("keep");
    expect(fieldMode(t, "family_name")).toBe("pseudonymise");
    expect(t.user_metadata).toEqual({ allow: ["plan"], pseudonymise: [] });
    expect(t.app_metadata).toEqual({ allow: [], pseudonymise: [] });
  });

  it("maps roles from the roles column only with source.copyRoles: true", () => {
    expect(validateConfig(withSource({ copyRoles: false })).roles).toBeUndefined();
    expect(validateConfig(withSource({ copyRoles: true })).roles).toEqual({ column: "roles", removeUnlisted: true });
  });

  it("has no transform for a Redshift source", () => {
    expect(transformOf(testConfig())).toBeUndefined();
    expect(testConfig().transform).toBeUndefined();
  });
});

describe("what a tenant copy refuses", () => {
  it("a target that is the source tenant, whatever the case or a trailing dot", () => {
    const message = "auth0.domain: is the source tenant (source.domain prod.example.com): a copy never writes into the tenant it reads";
    expect(problems({ ...copy, auth0: { ...copy.auth0, domain: "prod.example.com" } })).toContain(message);
    expect(problems({ ...withSource({ domain: "ACME.eu.auth0.com" }), auth0: { ...copy.auth0, domain: "acme.eu.auth0.com" } })).toContain(
      "auth0.domain: is the source tenant (source.domain ACME.eu.auth0.com): a copy never writes into the tenant it reads",
    );
    expect(problems({ ...withSource({ domain: "acme.eu.auth0.com." }), auth0: { ...copy.auth0, domain: "acme.eu.auth0.com" } })[0]).toMatch(/^auth0\.domain: is the source tenant/);
    // Different domains, but both base URLs name the same tenant (the emulator).
    expect(problems({ ...withSource({ baseUrl: "http://127.0.0.1:3001" }), auth0: { ...copy.auth0, baseUrl: "http://127.0.0.1:3001/" } })).toEqual([
      "auth0.baseUrl: is the source tenant (source.baseUrl http://127.0.0.1:3001): a copy never writes into the tenant it reads",
    ]);
    expect(() => validateConfig({ ...withSource({ baseUrl: "http://127.0.0.1:3001" }), auth0: { ...copy.auth0, baseUrl: "http://127.0.0.1:3002" } })).not.toThrow();
  });

  it("a target base URL that is the source's domain, or a source base URL that is the target's domain (issue 24, point 1)", () => {
    // Only the source's domain names it: https://<source.domain> is where the source's requests go.
    expect(problems({ ...copy, auth0: { ...copy.auth0, baseUrl: "https://PROD.example.com/" } })).toEqual([
      "auth0.baseUrl: is the source tenant (source.domain prod.example.com): a copy never writes into the tenant it reads",
    ]);
    expect(problems(withSource({ baseUrl: "https://staging.example.com" }))).toEqual([
      "source.baseUrl: is the target tenant (auth0.domain staging.example.com): a copy never writes into the tenant it reads",
    ]);
    // Another port, or another host, is another tenant.
    expect(() => validateConfig({ ...copy, auth0: { ...copy.auth0, baseUrl: "https://prod.example.com:8443" } })).not.toThrow();
    expect(() => validateConfig({ ...copy, auth0: { ...copy.auth0, baseUrl: "https://staging.example.com" } })).not.toThrow();
  });

  it("transform.email: keep without allowRealEmails", () => {
    const p = problems({ ...copy, transform: { email: "keep" } });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^transform\.email: .*allowRealEmails/);
    expect(() => validateConfig({ ...copy, transform: { email: "keep", allowRealEmails: true } })).not.toThrow();
  });

  it("pseudonymising a true/false field", () => {
    expect(problems({ ...copy, transform: { fields: { blocked: "pseudonymise" } } })).toEqual(["transform.fields.blocked: a true/false field cannot be pseudonymised: keep or drop it"]);
    expect(problems({ ...copy, transform: { fields: { email_verified: "pseudonymise" } } })).toEqual([
      "transform.fields.email_verified: a true/false field cannot be pseudonymised: keep or drop it",
    ]);
    expect(() => validateConfig({ ...copy, transform: { fields: { blocked: "drop", email_verified: "keep" } } })).not.toThrow();
  });

  it("metadata rules with both allow and deny, or neither (which would copy everything: failing open)", () => {
    const message = "give allow (copy only these paths; [] copies nothing) or deny (copy all but these), exactly one";
    expect(problems({ ...copy, transform: { user_metadata: { allow: ["a"], deny: ["b"] } } })).toEqual([`transform.user_metadata: ${message}`]);
    expect(problems({ ...copy, transform: { app_metadata: { allow: [], deny: [] } } })).toEqual([`transform.app_metadata: ${message}`]);
    expect(problems({ ...copy, transform: { user_metadata: {} } })).toEqual([`transform.user_metadata: ${message}`]);
    expect(problems({ ...copy, transform: { user_metadata: { pseudonymise: ["x"] } } })[0]).toBe(`transform.user_metadata: ${message}`);
  });

  it("a pseudonymised key above an allowed path is accepted (what is allowed below it is pseudonymised)", () => {
    expect(() => validateConfig({ ...copy, transform: { user_metadata: { allow: ["preferences.theme"], pseudonymise: ["preferences"] } } })).not.toThrow();
  });

  it("a parsed copy config parses again to itself (the stack embeds the parsed config; the Lambdas parse it again)", () => {
    for (const raw of [copy, { ...copy, source: { ...copy.source, copyRoles: true } }]) {
      const parsed = validateConfig(raw);
      expect(validateConfig(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
    }
  });

  it("pseudonymising a path that is not copied", () => {
    expect(problems({ ...copy, transform: { user_metadata: { allow: ["plan"], pseudonymise: ["plan", "secret"] } } })).toEqual([
      "transform.user_metadata.pseudonymise.1: 'secret' is not copied (see user_metadata.allow), so there is nothing to pseudonymise",
    ]);
    expect(problems({ ...copy, transform: { app_metadata: { deny: ["crm"], pseudonymise: ["crm.ref"] } } })).toEqual([
      "transform.app_metadata.pseudonymise.0: 'crm.ref' is not copied (see app_metadata.deny), so there is nothing to pseudonymise",
    ]);
    // By default nothing is copied, so nothing can be pseudonymised.
    expect(problems({ ...copy, transform: { user_metadata: { allow: [], pseudonymise: ["plan"] } } })[0]).toMatch(/^transform\.user_metadata\.pseudonymise\.0: 'plan' is not copied/);
    // Below an allowed path is copied.
    expect(() => validateConfig({ ...copy, transform: { user_metadata: { allow: ["contact"], pseudonymise: ["contact.email"] } } })).not.toThrow();
  });

  it("an explicit mapping, identity.keyColumn or roles", () => {
    expect(problems({ ...copy, mapping: { given_name: "given_name" } })).toEqual([
      "mapping: is implied by source.type auth0 (the source's columns are fixed: docs/tenant-copy.md); choose what is copied with transform",
    ]);
    expect(problems({ ...copy, identity: { keyColumn: "user_id" } })).toEqual([
      "identity.keyColumn: is implied by source.type auth0 (the source's columns are fixed: docs/tenant-copy.md): the key is a keyed hash of the source user_id",
    ]);
    expect(problems({ ...copy, roles: { column: "roles" } })).toEqual([
      "roles: is implied by source.type auth0 (the source's columns are fixed: docs/tenant-copy.md); copy roles with source.copyRoles",
    ]);
  });

  it("sending email: create.verifyEmail or an invitation ticket", () => {
    expect(problems({ ...copy, create: { verifyEmail: true } })).toEqual([
      "create.verifyEmail: a copy never sends email: users are created with a random password and no verification email",
    ]);
    expect(problems({ ...copy, create: { inviteTicket: { enabled: true, resultUrl: "https://app.example.com/welcome" } } })).toEqual([
      "create.inviteTicket.enabled: a copy never invites users: they are created with a random password",
    ]);
  });

  it("reconcile", () => {
    expect(problems({ ...copy, reconcile: {} })).toEqual(["reconcile: is not available for a tenant copy yet: the refresh itself reads the whole source"]);
  });

  it("a transform with a Redshift source", () => {
    expect(
      problems({
        name: "acme-users",
        source: { workgroupName: "wg", database: "dev", sql: "SELECT 1" },
        auth0: { domain: "acme.eu.auth0.com", connection: "Username-Password-Authentication" },
        transform: {},
      }),
    ).toEqual(["transform: pseudonymises a source tenant's users: only with source.type auth0"]);
  });

  it("a source without connections, or with a URL as its domain", () => {
    expect(problems(withSource({ connections: [] }))).toEqual(["source.connections: expected at least one connection"]);
    expect(problems(withSource({ domain: "https://prod.example.com" }))[0]).toMatch(/^source\.domain: expected a bare host name/);
  });

  it("lists every problem at once", () => {
    const p = problems({ ...copy, auth0: { ...copy.auth0, domain: "PROD.example.com" }, identity: { keyColumn: "id" }, create: { verifyEmail: true }, reconcile: {} });
    expect(p.map((x) => x.split(":")[0])).toEqual(expect.arrayContaining(["auth0.domain", "identity.keyColumn", "create.verifyEmail", "reconcile"]));
  });
});

describe("sameTenant", () => {
  it("ignores case, a trailing dot and a scheme", () => {
    expect(sameTenant("acme.eu.auth0.com", "ACME.eu.auth0.com")).toBe(true);
    expect(sameTenant("acme.eu.auth0.com.", "acme.eu.auth0.com")).toBe(true);
    expect(sameTenant("https://acme.eu.auth0.com", "acme.eu.auth0.com")).toBe(true);
    expect(sameTenant(" https://ACME.eu.auth0.com/ ", "acme.eu.auth0.com")).toBe(true);
  });

  it("tells different tenants apart, including different ports on one host", () => {
    expect(sameTenant("127.0.0.1:3001", "127.0.0.1:3002")).toBe(false);
    expect(sameTenant("http://127.0.0.1:3001", "http://127.0.0.1:3002")).toBe(false);
    expect(sameTenant("127.0.0.1:3001", "127.0.0.1:3001")).toBe(true);
    expect(sameTenant("acme.eu.auth0.com", "acme-staging.eu.auth0.com")).toBe(false);
    expect(sameTenant("prod.example.com", "staging.example.com")).toBe(false);
  });
});

describe("sameTenantNames", () => {
  it("finds the first pair of names, one of each side, that name one tenant; a bare domain stands for https://<domain>", () => {
    expect(sameTenantNames(["https://prod.example.com", "prod.example.com"], ["http://127.0.0.1:3001", "PROD.example.com."])).toEqual({ source: "https://prod.example.com", target: "PROD.example.com." });
    expect(sameTenantNames([undefined, "prod.example.com"], ["https://prod.example.com/api/v2"])).toEqual({ source: "prod.example.com", target: "https://prod.example.com/api/v2" });
    expect(sameTenantNames(["prod.example.com", undefined], [undefined, "staging.example.com"])).toBeUndefined();
  });
});

describe("warehouseOf", () => {
  it("throws for a tenant copy, naming the source tenant", () => {
    expect(() => warehouseOf(parseConfig(MINIMAL))).toThrow(/Auth0 tenant \(prod\.example\.com\), not a warehouse/);
  });

  it("returns the Redshift source otherwise", () => {
    const cfg = testConfig();
    expect(warehouseOf(cfg)).toBe(cfg.source);
    expect(warehouseOf(cfg)).toMatchObject({ type: "redshift", workgroupName: "wg", database: "dev" });
  });
});
