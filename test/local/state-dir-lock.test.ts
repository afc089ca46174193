/**
 * The state directory's lock is taken by exactly one process, however many try at once: with no lock, and with a
 * stale lock left by a killed holder (issue 24: 8 processes got it 2-3 times when the lock was created empty before
 * its pid was written, and a stale one was removed and re-created in two steps).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { clearStateDir } from "../../local/state-dir.js";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tmp.js";

const ROOT = new URL("../..", import.meta.url).pathname;

/** A child that waits for `startAt`, tries the lock, holds it 1.5 s if it got it, and prints what happened. */
const CHILD = `
const { lockStateDir } = await import(${JSON.stringify(join(ROOT, "local/state-dir.ts"))});
const [dir, startAt] = process.argv.slice(-2);
while (Date.now() < Number(startAt)) {}
try {
  const release = lockStateDir(dir);
  process.stdout.write("got");
  setTimeout(() => { release(); }, 1500);
} catch (err) {
  process.stdout.write(err.name === "LocalStateError" ? "refused" : "error: " + err.message);
}
`;

function contend(dir: string, n: number): Promise<string[]> {
  const startAt = Date.now() + 2500;
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<string>((resolve) => {
          const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD, "--", dir, String(startAt)], { cwd: ROOT });
          let out = "";
          child.stdout.on("data", (d: Buffer) => (out += d.toString()));
          child.stderr.on("data", (d: Buffer) => (out += d.toString()));
          child.on("close", () => resolve(out.trim()));
        }),
    ),
  );
}

describe("lockStateDir under contention", () => {
  it("8 processes at once on a free directory: exactly one gets it, the others are refused", async () => {
    const dir = join(tempDir(), "state");
    mkdirSync(dir);
    for (let round = 0; round < 2; round++) {
      const results = await contend(dir, 8);
      expect(results.filter((r) => r === "got"), results.join(", ")).toHaveLength(1);
      expect(results.filter((r) => r === "refused")).toHaveLength(7);
    }
    // Nothing left behind: the winner released it, no temporary file remains.
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it("8 processes at once on a stale lock (its holder is dead): exactly one takes it over", async () => {
    const dir = join(tempDir(), "state");
    mkdirSync(dir);
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    for (const stale of [JSON.stringify({ pid: dead }), ""]) {
      // A dead holder's lock, and an empty one (an older version killed between creating and writing it).
      writeFileSync(join(dir, ".lock"), stale);
      const results = await contend(dir, 8);
      expect(results.filter((r) => r === "got"), results.join(", ")).toHaveLength(1);
      expect(results.filter((r) => r === "refused")).toHaveLength(7);
    }
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});

describe("--fresh while others take the lock", () => {
  it("clearStateDir keeps the lock and the files other processes are taking it with (their link would fail: a raw ENOENT)", () => {
    const dir = join(tempDir(), "state");
    mkdirSync(dir);
    for (const name of [".lock", ".lock.4242.a1b2c3", ".lock.takeover", "warehouse.ready", "tenant.json"]) writeFileSync(join(dir, name), "x");
    mkdirSync(join(dir, "ledger"));
    clearStateDir(dir);
    expect(readdirSync(dir).sort()).toEqual([".lock", ".lock.4242.a1b2c3", ".lock.takeover"]);
  });
});
