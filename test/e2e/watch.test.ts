/**
 * The watch through the local pipeline (docs/watch.md): writes made in the emulated tenant by the Dashboard are
 * logged, put on the local bus, matched by the stack's own rule, judged by the real watch handler and repaired by the
 * real consumers; what the sync does not own, users it does not manage and its own writes are left alone; duplicate
 * and out-of-order events cost nothing more; a fight is capped and reported.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Auth0Emulator } from "../../local/auth0-emulator.js";
import type { LocalEventBus } from "../../local/event-bus.js";
import type { WatchBatchResult } from "../../functions/flows/watch-run.js";
import { runLocalPipeline, runLocalWatch, type LocalEnvironment, type LocalWatchSummary } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const N = 12;
const config = exampleConfigWith({ organizations: { removeUnlisted: true } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("the watch: outside edits repaired from the tenant's log stream", () => {
  const dir = tempDir();
  const state = join(dir, "state");
  const csv = writeCsv(join(dir, "users.csv"), demoRows(N));
  const stop = new AbortController();
  const batches: WatchBatchResult[] = [];
  let env!: LocalEnvironment;
  let bus!: LocalEventBus;
  let watching!: Promise<LocalWatchSummary>;
  const emulator = (): Auth0Emulator => env.emulator!;
  const user = (key: string) => emulator().state().users.find((u) => u.app_metadata.sync_key === key);
  const idOf = (key: string) => user(key)!.user_id;
  const actions = () => batches.flatMap((b) => b.notes);
  const settled = () => batches.reduce((n, b) => n + b.notes.length, 0);

  beforeAll(async () => {
    expect(await runLocalPipeline({ config, stateDir: state, csv, rate: 500, fresh: true })).toMatchObject({ created: N, unaccounted: 0 });
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    watching = runLocalWatch({
      config: exampleConfigWith({ organizations: { removeUnlisted: true }, watch: { eventSource: "aws.partner/auth0.com/local-emulator-00000000/auth0.logs", fightCap: { repairs: 2, windowMinutes: 60 } }, auth0: { clientId: "local-sync-client" } }),
      stateDir: state,
      rate: 500,
      signal: stop.signal,
      batchWindowMs: 300,
      onBus: (b) => (bus = b),
      onEnvironment: (e) => {
        env = e;
        ready();
      },
      onBatch: (b) => batches.push(b),
    });
    await started;
    await until("the bus", () => bus !== undefined);
  }, 120_000);

  afterAll(async () => {
    stop.abort();
    await watching;
  }, 60_000);

  it("a name, an owned metadata key, a role, a block and a deletion made in the Dashboard are each repaired", async () => {
    const d = emulator();
    const before = settled();
    const deleted = idOf("c-0006");
    const editor = d.state().roles.find((r) => r.name === "editor")!.id;
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(idOf("c-0001"))}`, { given_name: "Edited" });
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(idOf("c-0002"))}`, { user_metadata: { plan: "free" } });
    await d.dashboardEdit("POST", `/users/${encodeURIComponent(idOf("c-0003"))}/roles`, { roles: [editor] });
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(idOf("c-0004"))}`, { blocked: true });
    await d.dashboardEdit("DELETE", `/users/${encodeURIComponent(deleted)}`);
    await until("five repairs applied", () =>
      user("c-0001")?.given_name === "First1" &&
      user("c-0002")?.user_metadata.plan === "pro" &&
      JSON.stringify(user("c-0003")?.roles) === JSON.stringify(["viewer"]) &&
      user("c-0004")?.blocked === false &&
      user("c-0006") !== undefined && user("c-0006")!.user_id !== deleted &&
      // Its roles follow its create (the writes queue): nothing of this test may land in the next one's.
      JSON.stringify(user("c-0006")?.roles) === JSON.stringify(["viewer"]),
    );
    const notes = actions().slice(before);
    expect(notes.filter((n) => n.action === "repaired").map((n) => [n.keyLabel, n.fields]).sort()).toEqual([
      ["c-0001", ["given_name"]],
      ["c-0002", ["user_metadata.plan"]],
      ["c-0003", ["roles"]],
      ["c-0004", ["blocked"]],
      ["c-0006", ["(deleted)"]],
    ]);
    expect(notes.every((n) => n.clients.includes("Auth0 Management Dashboard"))).toBe(true);
  }, 60_000);

  it("an unowned key and an unmanaged user are left alone, with no write; the sync's own writes are ignored", async () => {
    const d = emulator();
    const before = settled();
    const log = d.requestLog.length;
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(idOf("c-0007"))}`, { user_metadata: { notes: "theirs" } });
    const other = (await (await d.dashboardEdit("POST", "/users", { email: "stranger@example.com", connection: config.auth0.connection, password: "Str0ng!pass-word" })).json()) as { user_id: string };
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(other.user_id)}`, { given_name: "Stranger" });
    // The sync's own client edits a user: the rule drops it, and the function would too.
    const delivered = () => batches.reduce((n, b) => n + b.events, 0);
    const seen = delivered();
    await env.auth0Adapter().patch(idOf("c-0008"), { given_name: "Own" });
    await until("two users judged", () => settled() >= before + 2);
    await sleep(800);
    const notes = actions().slice(before);
    expect(notes.map((n) => n.action).sort()).toEqual(["in-sync", "unmanaged"]);
    expect(delivered() - seen).toBe(2);
    expect(user("c-0007")?.user_metadata.notes).toBe("theirs");
    expect(user("c-0008")?.given_name).toBe("Own");
    // Only reads since: the watch's GET of each user, no write.
    const calls = d.requestLog.slice(log).filter((e) => e.route !== "/oauth/token");
    expect(calls.filter((e) => e.method !== "GET")).toEqual([expect.objectContaining({ method: "PATCH" })]); // the sync's own edit above
  }, 60_000);

  it("duplicate and out-of-order events cost one read and one repair: a redelivery of events already judged costs nothing", async () => {
    const d = emulator();
    const before = settled();
    const log = d.requestLog.length;
    const id = idOf("c-0009");
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(id)}`, { given_name: "Edited" });
    await until("the user repaired", () => user("c-0009")?.given_name === "First9" && actions().slice(before).some((n) => n.keyLabel === "c-0009"));
    // The stream again (at least once, unordered): that edit twice, and older ones (the first test's edits) after it.
    const entries = d.tenantLog.query(new URLSearchParams({ per_page: "100", sort: "date:-1" })).body as { log_id: string; date: string; client_id: string }[];
    const dashboard = entries.filter((e) => e.client_id !== "local-sync-client");
    const again = [dashboard[0]!, dashboard[0]!, ...dashboard.slice(-3)];
    for (const e of again) await bus.put({ "detail-type": "Auth0 log", source: env.config.watch!.eventSource, time: e.date, detail: { log_id: e.log_id, data: e } });
    await until("the redeliveries judged", () => batches.reduce((n, b) => n + b.events, 0) >= again.length && actions().slice(before).filter((n) => n.action === "redelivered").length >= 2);
    await sleep(500);
    const notes = actions().slice(before);
    expect(notes.filter((n) => n.keyLabel === "c-0009").map((n) => n.action)).toEqual(["repaired", "redelivered"]);
    expect(notes.filter((n) => n.keyLabel !== "c-0009").every((n) => n.action === "redelivered")).toBe(true);
    const calls = d.requestLog.slice(log).filter((e) => e.route !== "/oauth/token");
    // One read of the user, one PATCH: the redeliveries cost no Auth0 call.
    expect(calls.filter((e) => e.method === "GET" && e.route === "/api/v2/users/:id")).toHaveLength(1);
    expect(calls.filter((e) => e.method === "PATCH")).toHaveLength(1);
  }, 60_000);

  it("a fight is capped: after two repairs within the window the drift is reported, not repaired", async () => {
    const d = emulator();
    const before = settled();
    for (let i = 1; i <= 3; i++) {
      await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(idOf("c-0010"))}`, { given_name: `Fight${i}` });
      await until(`edit ${i} judged`, () => actions().slice(before).filter((n) => n.keyLabel === "c-0010").length >= i);
      if (i < 3) await until(`edit ${i} repaired`, () => user("c-0010")?.given_name === "First10");
    }
    await sleep(500);
    expect(actions().slice(before).filter((n) => n.keyLabel === "c-0010").map((n) => n.action)).toEqual(["repaired", "repaired", "fight"]);
    expect(user("c-0010")?.given_name).toBe("Fight3");
    const record = await env.ledgerFor!().watch.get();
    expect(record?.counts.fight).toBe(1);
    expect(record?.recent[0]).toMatchObject({ keyLabel: "c-0010", action: "fight", fields: ["given_name"] });
  }, 60_000);

  it("a fight over a deletion is capped too: the user created again keeps its history (by key, not by Auth0 id)", async () => {
    const d = emulator();
    const before = settled();
    for (let i = 1; i <= 3; i++) {
      const id = idOf("c-0011");
      await d.dashboardEdit("DELETE", `/users/${encodeURIComponent(id)}`);
      await until(`deletion ${i} judged`, () => actions().slice(before).filter((n) => n.keyLabel === "c-0011").length >= i);
      if (i < 3) await until(`deletion ${i} repaired`, () => user("c-0011") !== undefined && user("c-0011")!.user_id !== id && JSON.stringify(user("c-0011")?.roles) === JSON.stringify(["viewer"]));
    }
    await sleep(500);
    expect(actions().slice(before).filter((n) => n.keyLabel === "c-0011").map((n) => n.action)).toEqual(["repaired", "repaired", "fight"]);
    expect(user("c-0011")).toBeUndefined();
  }, 60_000);
});
