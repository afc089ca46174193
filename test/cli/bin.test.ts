import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tmp.js";

const run = promisify(execFile);
const BIN = new URL("../../bin/auth0-sync.mjs", import.meta.url).pathname;

async function bin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, AWS_REGION: "eu-west-1" } });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("the auth0-sync bin", () => {
  it("has --help for the program and for every command", async () => {
    const top = await bin("--help");
    expect(top.code).toBe(0);
    for (const c of ["plan", "run", "status", "redrive"]) expect(top.stdout).toMatch(new RegExp(`^  ${c} \\[options\\]`, "m"));
    const expected: Record<string, string[]> = {
      plan: ["--all", "--key <key>", "--sample <n>", "--lookups <n>"],
      run: ["--approve-mirror", "--no-wait", "--timeout <seconds>"],
      status: ["--runs <n>", "--sample <n>"],
      redrive: ["--rate <n>", "--dry-run"],
    };
    // The commands' help at once: each is its own process.
    const helps = await Promise.all(Object.keys(expected).map((c) => bin(c, "--help")));
    for (const [i, [c, flags]] of Object.entries(expected).entries()) {
      const h = helps[i]!;
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(`Usage: auth0-sync ${c} [options]`);
      for (const f of flags) expect(h.stdout).toContain(f);
    }
  });

  it("prints an operator error as one sentence with exit code 2, never a stack trace", async () => {
    const state = join(tempDir(), "none");
    const [r, bad] = await Promise.all([bin("status", "--local", "--state", state), bin("redrive", "--rate", "fast")]);
    expect(r).toEqual({ code: 2, stdout: "", stderr: `No local state in ${state}. Run 'npm start' or 'auth0-sync run --local' first, or point --state at it.\n` });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error: option '--rate <n>' argument 'fast' is invalid. expected a whole number from 1 to 500");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
