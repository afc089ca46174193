/**
 * Issue 16 through the local pipeline: a production tenant copied into a staging tenant, pseudonymised
 * (config/tenant-copy.yml between two emulated tenants). What the target, the ledger, the logs and the DLQ may
 * hold is checked against the source tenant's own file, not against the product's transform.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { openRowSource, SameTenantError } from "../../functions/flows/row-source.js";
import { ConfigError, parseConfig, type SyncConfig } from "../../functions/core/config.js";
import { Pseudonymiser } from "../../functions/core/pseudonymise.js";
import { CopySample } from "../../functions/core/copy-sample.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, type TenantState, type TenantUser } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { LocalEnvironment } from "../../local/runtime/environment.js";
import { LocalStateError } from "../../local/state-dir.js";
import { planRun } from "../../cli/plan.js";
import { formatPlan } from "../../cli/format.js";
import { tempDir } from "../helpers/tmp.js";

const run = promisify(execFile);
const text = readFileSync(new URL("../../config/tenant-copy.yml", import.meta.url), "utf8");
const config = parseConfig(text);

const readState = (file: string) => JSON.parse(readFileSync(file, "utf8")) as TenantState;

/** Everything personal of the source users that the example's transform hides, as strings to look for. */
function hiddenValues(source: TenantState): { exact: string[]; words: string[] } {
  const exact = new Set<string>();
  const words = new Set<string>();
  for (const u of source.users) {
    for (const v of [u.email, u.phone_number, u.picture, u.nickname, u.user_id]) if (v) exact.add(v);
    // Names are looked for as words: a name may be one short word ("Tim"), which "timeout" contains.
    for (const v of [u.given_name, u.family_name, u.name]) if (v) words.add(v);
    const contact = u.user_metadata.contact as Record<string, string | null> | undefined;
    for (const v of Object.values(contact ?? {})) if (v) exact.add(v);
    const crm = u.app_metadata.crm as Record<string, string> | undefined;
    if (crm) {
      exact.add(crm.owner_notes!);
      exact.add(crm.account_ref!);
    }
    // What production's app_metadata holds beside what tests use: the example's allow lists keep it out.
    const app = u.app_metadata as { legacy_password_hash?: string; dob?: string; addresses?: { street: string }[]; payment?: { customer_id: string } };
    for (const v of [app.legacy_password_hash, app.dob, app.payment?.customer_id, ...(app.addresses ?? []).map((a) => a.street)]) if (v) exact.add(v);
  }
  return { exact: [...exact], words: [...words] };
}

/**
 * The hidden values found in `haystack`; names as whole words, where a word is not part of a longer token ("Tim" is
 * not in "Timeout", nor in a random base64 id such as "x+Tim/y").
 */
function leaks(haystack: string, hidden: { exact: string[]; words: string[] }): string[] {
  const lower = haystack.toLowerCase();
  const found = hidden.exact.filter((v) => lower.includes(v.toLowerCase()));
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const w of hidden.words) {
    const m = new RegExp(`(?<![\\w+/=.-])${escape(w)}(?![\\w+/=-])`).exec(haystack);
    if (m) found.push(`${w} in ...${haystack.slice(Math.max(0, m.index - 80), m.index + 40)}...`);
  }
  return found;
}

function editSource(stateDir: string, edit: (users: TenantUser[]) => TenantUser[]): void {
  const file = join(stateDir, "source-tenant.json");
  const state = readState(file);
  state.users = edit(state.users);
  writeFileSync(file, JSON.stringify(state));
}

describe("tenant copy: production -> staging, pseudonymised", () => {
  it("copies every user with pseudonyms and the kept metadata; a refresh costs 0 calls, a change 1, a deletion in production removes the user", async () => {
    const stateDir = join(tempDir(), "state");
    const first = await runLocalPipeline({ config, stateDir, fresh: true, seedRows: 150, rate: 400 });
    const source = readState(join(stateDir, "source-tenant.json"));
    const target = readState(join(stateDir, "tenant.json"));

    // Counts match: every source user once, nothing else.
    expect(source.users.length).toBeGreaterThan(120);
    expect(first.unaccounted).toBe(0);
    expect(first.rowsRead).toBe(source.users.length);
    expect(first.created).toBe(source.users.length);
    expect(target.users.length).toBe(source.users.length);
    // No passwords carried, no verification email sent.
    expect(target.verificationEmails).toEqual([]);
    expect(target.users.every((u) => u.hasPassword)).toBe(true);

    // Nothing hidden reaches the target, and every email there is a pseudonym at the configured domain.
    const hidden = hiddenValues(source);
    expect(leaks(JSON.stringify(target), hidden)).toEqual([]);
    expect(target.users.every((u) => /^[a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.com$/.test(u.email ?? ""))).toBe(true);
    expect(new Set(target.users.map((u) => u.email)).size).toBe(target.users.length);

    // Kept metadata is equal, user by user (matched through the keyed identity the state directory's key gives).
    const key = readFileSync(join(stateDir, "pseudonym.key"), "utf8").trim();
    const p = new Pseudonymiser(config.transform!, key);
    const byKey = new Map(target.users.map((u) => [u.app_metadata.sync_key as string, u]));
    for (const s of source.users) {
      const t = byKey.get(p.identityKey(s.user_id));
      expect(t, `the copy of ${s.user_id}`).toBeDefined();
      // Exactly the allow lists' paths: nothing else of the source's metadata (its password hash, birth date,
      // addresses, payment id) reaches the target.
      expect(t!.user_metadata).toEqual({ plan: s.user_metadata.plan, preferences: s.user_metadata.preferences });
      expect(s.app_metadata).toHaveProperty("legacy_password_hash");
      expect(t!.app_metadata).toEqual({
        sync_key: p.identityKey(s.user_id),
        tier: s.app_metadata.tier,
        crm: { account_ref: expect.stringMatching(/^p_[0-9a-f]{16}$/) as unknown },
      });
      expect(t!.roles).toEqual(s.roles);
      expect(t!.blocked ?? false).toBe(s.blocked ?? false);
      expect(t!.email_verified).toBe(s.email_verified);
      expect(t!.phone_number).toBeUndefined();
      expect(t!.picture).toBeUndefined();
    }

    // A refresh with no change in production: 0 calls on the target.
    const refresh = await runLocalPipeline({ config, stateDir, rate: 400 });
    expect(refresh).toMatchObject({ rowsRead: source.users.length, unchanged: source.users.length, created: 0, updated: 0, auth0Calls: 0 });

    // One user renamed and moved to another plan in production: one call (one patch), the others untouched.
    // (The plan is what surely changes: a new name may map to the same fake name.)
    const renamed = source.users[3]!;
    editSource(stateDir, (users) => users.map((u) => (u.user_id === renamed.user_id ? { ...u, family_name: "Zwicky", user_metadata: { ...u.user_metadata, plan: "changed-plan" } } : u)));
    const change = await runLocalPipeline({ config, stateDir, rate: 400 });
    expect(change).toMatchObject({ updated: 1, unchanged: source.users.length - 1, auth0Calls: 1 });
    const after = readState(join(stateDir, "tenant.json"));
    const copy = after.users.find((u) => u.app_metadata.sync_key === p.identityKey(renamed.user_id))!;
    expect(copy.family_name).toBe(p.field("family_name", "Zwicky"));
    expect(copy.user_metadata.plan).toBe("changed-plan");

    // One user deleted in production: mirror mode (action delete) removes its copy.
    const gone = source.users[7]!;
    editSource(stateDir, (users) => users.filter((u) => u.user_id !== gone.user_id));
    const removal = await runLocalPipeline({ config, stateDir, rate: 400 });
    expect(removal).toMatchObject({ deleted: 1, unaccounted: 0, held: false });
    const last = readState(join(stateDir, "tenant.json"));
    expect(last.users.length).toBe(source.users.length - 1);
    expect(last.users.some((u) => u.app_metadata.sync_key === p.identityKey(gone.user_id))).toBe(false);

    // A linked account (a Google identity linked into a user): its id is a hidden value too, as text and as a
    // number, in kept metadata (the export names it only when asked for the identities).
    const linked = source.users[9]!;
    const gid = "1098765432109";
    editSource(stateDir, (users) =>
      users.map((u) =>
        u.user_id === linked.user_id
          ? {
              ...u,
              linkedIdentities: [{ provider: "google-oauth2", user_id: gid, connection: "google-oauth2", isSocial: true }],
              user_metadata: { ...u.user_metadata, preferences: { ...(u.user_metadata.preferences as object), google: `google-oauth2|${gid}`, gid: Number(gid) } },
            }
          : u,
      ),
    );
    expect(await runLocalPipeline({ config, stateDir, rate: 400 })).toMatchObject({ updated: 1, unaccounted: 0 });
    const linkedCopy = readState(join(stateDir, "tenant.json")).users.find((u) => u.app_metadata.sync_key === p.identityKey(linked.user_id))!;
    expect(JSON.stringify(linkedCopy)).not.toContain(gid);
    expect(linkedCopy.user_metadata.preferences).toMatchObject({ google: expect.any(String) as unknown, gid: expect.any(Number) as unknown });
  }, 120_000);

  it("no source email, name, phone number or denied metadata value in the logs, the ledger, the DLQ or the target (DEBUG logs, faults, a dead-lettered refresh)", async () => {
    const dir = tempDir();
    const outFile = join(dir, "out.json");
    const script = new URL("../helpers/logged-copy.ts", import.meta.url).pathname;
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", script, join(dir, "state"), outFile], { maxBuffer: 256 * 2 ** 20 });
    const logs = `${stdout}\n${stderr}`;
    const out = JSON.parse(readFileSync(outFile, "utf8")) as {
      first: { created: number; rowsRead: number; unaccounted: number };
      second: { deadLettered: number; unchanged: number };
      ledgerItems: unknown[];
      dlq: string;
      target: string;
    };
    // The capture is real: both handlers logged, retries happened, a message reached the DLQ.
    expect(out.first.unaccounted).toBe(0);
    expect(out.first.created).toBe(out.first.rowsRead);
    expect(out.second.deadLettered).toBe(5);
    expect(logs).toContain('"message":"user synced"');
    expect(logs).toContain('"message":"user will be retried"');
    expect(out.ledgerItems.length).toBe(out.first.rowsRead);
    expect(out.dlq.length).toBeGreaterThan(100);

    const source = readState(join(dir, "state", "source-tenant.json"));
    const hidden = hiddenValues(source);
    expect(leaks(logs, hidden), "in the logs").toEqual([]);
    expect(logs, "an email address in the logs").not.toMatch(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/);
    expect(leaks(JSON.stringify(out.ledgerItems), hidden), "in the ledger").toEqual([]);
    expect(leaks(out.dlq, hidden), "in the DLQ").toEqual([]);
    expect(leaks(out.target, hidden), "in the target tenant").toEqual([]);
  }, 180_000);

  it("the plan shows a masked sample of source -> target values before anything is written", async () => {
    const stateDir = join(tempDir(), "state");
    await runLocalPipeline({ config: { ...config, mirror: { ...config.mirror, enabled: false } }, stateDir, fresh: true, seedRows: 20, rate: 400 });
    editSource(stateDir, (users) => [...users.slice(0, 5).map((u) => ({ ...u, user_id: `${u.user_id}x`, email: `new.${u.email}` })), ...users]);
    const env = await LocalEnvironment.start({ config, stateDir, rate: 400 });
    try {
      const before = readState(join(stateDir, "tenant.json"));
      const sample = new CopySample(3, env.config.transform);
      const report = await planRun({ config: env.config, source: await env.rowSource(undefined, sample.add), sample, ledger: env.ledgerFor?.(), auth0: env.auth0Adapter() });
      const printed = formatPlan("local", report, report.changes);
      expect(report.copySample).toHaveLength(3);
      expect(printed).toContain("What the target gets, for the first 3 source users (source values masked):");
      expect(printed).toMatch(/email +[a-z]\*\*\*@e\*\*\*\.com -> [a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.com/);
      expect(printed).toMatch(/phone_number +\+\*+\d\d -> \(dropped\)/);
      expect(printed).toMatch(/user_metadata +keys: contact, plan, preferences -> keys: plan, preferences/);
      expect(printed).toMatch(/app_metadata +keys: addresses, crm, dob, legacy_password_hash, payment, tier -> keys: crm, tier/);
      // Allow lists: nothing goes across that the config does not name.
      expect(report.copyPassedByDeny).toEqual({ paths: [], truncated: false });
      expect(printed).not.toContain("deny list");
      expect(report.counts.create).toBe(5);
      // Nothing of the source users is printed unmasked, and nothing was written.
      expect(leaks(printed, hiddenValues(readState(join(stateDir, "source-tenant.json"))))).toEqual([]);
      expect(env.emulator!.requestLog.filter((r) => r.method !== "GET" && r.route !== "/oauth/token")).toEqual([]);
      expect(readState(join(stateDir, "tenant.json"))).toEqual(before);
    } finally {
      await env.stop();
    }

    // With a deny list, the plan lists every metadata path it lets through, over every source user (issue 24,
    // point 4): here the password hash, the birth date, the addresses and the payment id.
    const denying: SyncConfig = { ...config, transform: { ...config.transform!, app_metadata: { deny: ["crm.owner_notes"], pseudonymise: ["crm.account_ref"] } } };
    const denied = await LocalEnvironment.start({ config: denying, stateDir, rate: 400 });
    try {
      const sample = new CopySample(3, denied.config.transform);
      const report = await planRun({ config: denied.config, source: await denied.rowSource(undefined, sample.add), sample, ledger: denied.ledgerFor?.(), auth0: denied.auth0Adapter() });
      const users = report.rowsRead;
      expect(users).toBe(25);
      expect(report.copyPassedByDeny).toEqual({
        paths: ["addresses", "crm", "crm.account_ref", "dob", "legacy_password_hash", "payment", "tier"].map((k) => ({ path: `app_metadata.${k}`, users })),
        truncated: false,
      });
      const printed = formatPlan("local", report, report.changes);
      expect(printed).toContain("Metadata a deny list lets through (every source user read; an allow list names what it copies: docs/tenant-copy.md):");
      expect(printed).toMatch(/\n {2}app_metadata\.legacy_password_hash +25 users\n/);
      expect(printed).not.toContain("owner_notes");
    } finally {
      await denied.stop();
    }
  }, 120_000);

  it("guards: a target that is the source is refused (config and run time, before any call); real emails need allowRealEmails", async () => {
    const same = text.replace("domain: acme-staging.eu.auth0.com", "domain: ACME-prod.eu.auth0.com");
    expect(() => parseConfig(same)).toThrow(ConfigError);
    expect(() => parseConfig(same)).toThrow(/auth0\.domain: is the source tenant/);
    const keep = text.replace("email: pseudonymise ", "email: keep ");
    expect(() => parseConfig(keep)).toThrow(/transform\.email: .*allowRealEmails/);

    // At run time the addresses requests really go to are compared (AUTH0_BASE_URL may point both at one tenant).
    const tenant = new Auth0Emulator({ connections: [{ name: "Username-Password-Authentication", strategy: "auth0" }] });
    const baseUrl = await tenant.start();
    try {
      const cfg: SyncConfig = { ...config, source: { ...config.source, baseUrl } as SyncConfig["source"], auth0: { ...config.auth0, baseUrl } };
      const opening = openRowSource(cfg, {
        redshift: () => {
          throw new Error("not a warehouse");
        },
        sourceTenant: () => Promise.resolve({ baseUrl, credentials: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET }, key: "k".repeat(32) }),
        targetBaseUrl: baseUrl,
      });
      await expect(opening).rejects.toBeInstanceOf(SameTenantError);
      await expect(opening).rejects.toThrow(`refused: the target tenant (${baseUrl}) is the source tenant (${baseUrl})`);
      expect(tenant.requestLog).toEqual([]);
    } finally {
      await tenant.stop();
    }

    // Locally the source is emulated under another name: the config's own source.domain is what the real target
    // (AUTH0_DOMAIN, its AUTH0_BASE_URL at a stand-in for production) is compared with, before any request and
    // before the state directory is touched (issue 24, point 1).
    const prod = new Auth0Emulator({ connections: [{ name: "Username-Password-Authentication", strategy: "auth0" }] });
    const prodUrl = await prod.start();
    try {
      const credentials = { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET };
      const refusedDir = join(tempDir(), "state");
      const refused = runLocalPipeline({ config, stateDir: refusedDir, realTenant: { domain: "acme-prod.eu.auth0.com", baseUrl: prodUrl, credentials } });
      await expect(refused).rejects.toBeInstanceOf(LocalStateError);
      await expect(refused).rejects.toThrow(
        "Refused: the target tenant (acme-prod.eu.auth0.com) is the copy's source tenant (acme-prod.eu.auth0.com); a copy never writes into the tenant it reads, and nothing was changed.",
      );
      // The same by URL: a target base URL of https://<source.domain>.
      await expect(runLocalPipeline({ config, stateDir: refusedDir, realTenant: { domain: "acme-staging.eu.auth0.com", baseUrl: "https://ACME-prod.eu.auth0.com/", credentials } })).rejects.toThrow(
        "Refused: the target tenant (https://ACME-prod.eu.auth0.com/) is the copy's source tenant (acme-prod.eu.auth0.com)",
      );
      expect(prod.requestLog).toEqual([]);
      expect(existsSync(refusedDir)).toBe(false);
      // npm start: the refusal is one sentence and exit code 2.
      const started = spawnSync(process.execPath, ["--import", "tsx", "local/start.ts", "--config", "config/tenant-copy.yml", "--state", refusedDir], {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, AUTH0_DOMAIN: "acme-prod.eu.auth0.com", AUTH0_BASE_URL: prodUrl, AUTH0_CLIENT_ID: DEFAULT_CLIENT_ID, AUTH0_CLIENT_SECRET: DEFAULT_CLIENT_SECRET },
      });
      expect(started.status).toBe(2);
      expect(started.stderr.trim()).toBe(
        "Refused: the target tenant (acme-prod.eu.auth0.com) is the copy's source tenant (acme-prod.eu.auth0.com); a copy never writes into the tenant it reads, and nothing was changed.",
      );
      expect(prod.requestLog).toEqual([]);
    } finally {
      await prod.stop();
    }

    // With allowRealEmails (and email: keep) the real addresses are copied: the guard is what keeps them out.
    const real = parseConfig(keep.replace("  email: keep ", "  allowRealEmails: true\n  email: keep "));
    const stateDir = join(tempDir(), "state");
    await runLocalPipeline({ config: real, stateDir, fresh: true, seedRows: 20, rate: 400 });
    const emails = readState(join(stateDir, "source-tenant.json")).users.map((u) => u.email).sort();
    expect(readState(join(stateDir, "tenant.json")).users.map((u) => u.email).sort()).toEqual(emails);

    // A source.connections that matches none of the export's users fails the run (never a green, empty copy
    // after which mirror mode would find every user gone).
    editSource(stateDir, (users) => users.map((u) => ({ ...u, connection: "Other-Connection" })));
    await expect(runLocalPipeline({ config: real, stateDir, rate: 400 })).rejects.toThrow(
      /none of the 20 users of the source tenant's export is in Username-Password-Authentication; its users are in Other-Connection/,
    );
    expect(readState(join(stateDir, "tenant.json")).users.map((u) => u.email).sort()).toEqual(emails);
  }, 120_000);
});
