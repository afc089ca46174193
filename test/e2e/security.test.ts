import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { generateUsers } from "../../local/demo-data.js";
import { tempDir } from "../helpers/tmp.js";

const run = promisify(execFile);

interface Secrets {
  summary: { rowsRead: number; created: number; updated: number; unchanged: number; rejected: number; deadLettered: number; unaccounted: number };
  tokens: string[];
  passwords: string[];
  clientSecret: string;
  ledgerItems: unknown[];
  dlq: string;
}

describe("security: what a full local run writes to its logs and stores", () => {
  it("no email, access token, client secret or password in any log line; no password stored", async () => {
    const dir = tempDir();
    const secretsFile = join(dir, "secrets.json");
    const script = new URL("../helpers/logged-run.ts", import.meta.url).pathname;
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", script, join(dir, "state"), secretsFile], { maxBuffer: 256 * 2 ** 20 });
    const logs = `${stdout}\n${stderr}`;
    const s = JSON.parse(readFileSync(secretsFile, "utf8")) as Secrets;

    // The capture is real: DEBUG lines of both handlers, warnings of the 5xx retries, and the run's figures.
    expect(s.summary.unaccounted).toBe(0);
    // Every row read has its outcome; a create whose answer was lost (5xx after the write landed) is still created.
    const { rowsRead, created, updated, unchanged, rejected, deadLettered } = s.summary;
    expect(created + updated + unchanged + rejected + deadLettered).toBe(rowsRead);
    expect(updated + unchanged).toBe(0);
    expect(created).toBeGreaterThan(200);
    expect(logs).toContain('"message":"extract finished"');
    expect(logs).toContain('"message":"user synced"');
    expect(logs).toContain('"message":"user will be retried"');
    expect(logs).toContain('"message":"row rejected"');
    expect(logs.split("\n").length).toBeGreaterThan(300);

    const emails = generateUsers(300).rows.map((r) => r.email).filter((e): e is string => Boolean(e));
    for (const e of emails) {
      expect(logs.includes(e), "an email in the logs").toBe(false);
      expect(logs.toLowerCase().includes(e.toLowerCase()), "an email in the logs").toBe(false);
    }
    expect(logs).not.toMatch(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/);
    expect(s.tokens.length).toBeGreaterThan(1);
    for (const t of s.tokens) expect(logs.includes(t), "an access token in the logs").toBe(false);
    expect(logs.includes(s.clientSecret)).toBe(false);
    expect(s.passwords.length).toBeGreaterThan(250);
    const stored = JSON.stringify(s.ledgerItems) + s.dlq;
    for (const p of s.passwords) {
      expect(logs.includes(p), "a password in the logs").toBe(false);
      expect(stored.includes(p), "a password in the ledger or a queue").toBe(false);
    }
    expect(stored).not.toMatch(/"password"/);
  }, 180_000);
});

describe("generated passwords", () => {
  it("come from node:crypto only (never Math.random), are all different and evenly spread", async () => {
    vi.resetModules();
    const calls = { crypto: 0 };
    vi.doMock("node:crypto", async (importOriginal) => {
      const real = await importOriginal<typeof import("node:crypto")>();
      return { ...real, randomInt: (...args: Parameters<typeof real.randomInt>) => (calls.crypto++, (real.randomInt as (...a: unknown[]) => number)(...args)) };
    });
    const mathRandom = vi.spyOn(Math, "random");
    const { randomPassword } = await import("../../functions/adapters/auth0/password.js");
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const p = randomPassword();
      seen.add(p);
      for (const c of p) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(seen.size).toBe(3000);
    expect(calls.crypto).toBeGreaterThanOrEqual(3000 * 32);
    expect(mathRandom).not.toHaveBeenCalled();
    // Per password: one character of each class, then 28 drawn from all 69. A fixed or skewed source would
    // be far from these expectations; a fair one gives chi-square about 68 (68 degrees of freedom).
    const classes = ["abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "!@#$%^&*-_=+"];
    expect(counts.size).toBe(69);
    let chi2 = 0;
    for (const cls of classes) {
      const expected = 3000 * (1 / cls.length + 28 / 69);
      for (const c of cls) chi2 += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
    }
    // p < 0.00001 above 130.
    expect(chi2).toBeLessThan(130);
    mathRandom.mockRestore();
    vi.doUnmock("node:crypto");
  });
});
