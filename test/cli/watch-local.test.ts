/**
 * `auth0-sync watch --local` as docs/watch.md shows it: it says where the emulator is and leaves a Dashboard
 * session's token in the state directory; an edit made with it (as the docs' curl does) is repaired and printed;
 * Ctrl-C stops it, the token file goes; `status --local` then shows the watch's counts and its latest note.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../cli/program.js";
import type { TenantState } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { cli } from "../helpers/cli.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("auth0-sync watch --local", () => {
  it("repairs an edit made with the Dashboard token it leaves, prints it, stops on Ctrl-C; status shows the watch", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    const config = exampleConfigWith();
    const configFile = join(dir, "sync.json");
    writeFileSync(configFile, JSON.stringify(config));
    expect(await runLocalPipeline({ config, stateDir: state, csv: writeCsv(join(dir, "users.csv"), demoRows(5)), rate: 500 })).toMatchObject({ created: 5 });
    const tenant = JSON.parse(readFileSync(join(state, "tenant.json"), "utf8")) as TenantState;
    const id = tenant.users.find((u) => u.app_metadata.sync_key === "c-0001")!.user_id;

    let out = "";
    let err = "";
    const stop = new AbortController();
    const running = runCli(["watch", "--local", "--state", state, "--config", configFile, "--local-rate", "500", "--window", "200"], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      signal: stop.signal,
    });
    const until = async (what: string, check: () => boolean) => {
      for (const end = Date.now() + 30_000; !check(); await sleep(50)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${err}`);
    };
    await until("the emulator's address", () => /the Auth0 emulator is at (\S+);/.test(err));
    const url = /the Auth0 emulator is at (\S+);/.exec(err)![1]!;
    const tokenFile = join(state, "dashboard-token");
    expect(err).toContain(tokenFile);
    const token = readFileSync(tokenFile, "utf8").trim();
    // The docs' curl, as fetch: a Dashboard session's edit.
    const res = await fetch(`${url}/api/v2/users/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ given_name: "Edited" }),
    });
    expect(res.status).toBe(200);
    await until("the repair printed", () => out.includes("c-0001: repaired [given_name]"));
    expect(out).toMatch(/c-0001: repaired \[given_name\], queued \d+\.\d s after the edit \(by Auth0 Management Dashboard\)/);
    await sleep(500);
    stop.abort();
    expect(await running).toBe(0);
    expect(out).toMatch(/watch stopped: \d+ log events, 1 matched the rule, 1 batches, 1 repairs queued \(applied: updated 1\)/);
    expect(existsSync(tokenFile)).toBe(false);
    // The token is never printed.
    expect(`${out}${err}`).not.toContain(token);

    const status = await cli("status", "--local", "--state", state, "--config", configFile);
    expect(status.out).toMatch(/Watch \(last event .*\): 1 events, 0 ignored, 1 outside edits: 1 repaired, 0 reported, 0 fights; 0 in sync, 0 not managed/);
    expect(status.out).toContain("c-0001: repaired [given_name]");
    const tenantAfter = JSON.parse(readFileSync(join(state, "tenant.json"), "utf8")) as TenantState;
    expect(tenantAfter.users.find((u) => u.user_id === id)?.given_name).toBe("First1");
  }, 120_000);
});
