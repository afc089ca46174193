import { describe, expect, it } from "vitest";
import { Auth0Error } from "../../functions/adapters/auth0/errors.js";
import { Auth0TenantSource } from "../../functions/adapters/auth0/tenant-source.js";
import { Pseudonymiser } from "../../functions/core/pseudonymise.js";
import { DEFAULT_TRANSFORM } from "../../functions/core/tenant-copy-config.js";
import type { Page } from "../../functions/core/source.js";
import { DEFAULT_CONNECTION } from "../../local/auth0-emulator.js";
import { adapterFor, startEmulator } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";

const line = (id: string, extra: object = {}) => JSON.stringify({ user_id: id, email: `${id.split("|")[1]}@example.com`, connection: DEFAULT_CONNECTION, ...extra });

/** A tenant source whose export file is `body` (the job itself runs on the emulator). */
async function sourceOf(body: string): Promise<Auth0TenantSource> {
  const emu = await startEmulator({ connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0" }], exportJobDurationMs: 60 });
  return new Auth0TenantSource({
    adapter: adapterFor(emu),
    connections: [DEFAULT_CONNECTION],
    copyRoles: false,
    pseudonymiser: new Pseudonymiser(DEFAULT_TRANSFORM, "k".repeat(32)),
    snapshot: { poll: { initialMs: 20, maxMs: 40 }, fetch: () => Promise.resolve(new Response(body, { status: 200 })) },
  });
}

describe("Auth0TenantSource (review of issue 24, finding 3)", () => {
  it("fails the copy, before any page, when a user line comes without the identities it asked for", async () => {
    const source = await sourceOf([line("auth0|ada01", { identities: [{ provider: "auth0", user_id: "ada01" }] }), line("google-oauth2|10987654321")].join("\n"));
    const pages: Page[] = [];
    const e = await rejection(
      (async () => {
        for await (const p of source.pages()) pages.push(p);
      })(),
      Auth0Error,
    );
    expect(pages).toEqual([]);
    expect(e.message).toMatch(/^export \S+, line 2: the user has no identities, which the export asked for, so a linked account's id could not be hidden \(nothing is copied unguarded\)$/);
    expect(e.retryable).toBe(false);
    expect(e.message).not.toMatch(/10987654321|@|google/);
  });

  it("copies users whose lines carry their identities", async () => {
    const source = await sourceOf(line("auth0|ada01", { identities: [{ provider: "auth0", user_id: "ada01" }] }));
    const rows: unknown[] = [];
    for await (const p of source.pages()) rows.push(...p.rows);
    expect(rows).toHaveLength(1);
  });
});
