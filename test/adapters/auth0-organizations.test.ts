import { describe, expect, it } from "vitest";
import { Auth0Error } from "../../functions/adapters/auth0/errors.js";
import { adapterFor, startEmulator, urlOf } from "../helpers/emulator.js";

/** What the promise rejected with, for the assertions. */
async function rejected(p: Promise<unknown>): Promise<Auth0Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Auth0Error);
  return err as Auth0Error;
}

describe("Auth0Organizations: the lookup's own translation on top of callAuth0", () => {
  it("resolves names and ids; an absent one is unknown_organization (permanent, kept), not the 404", async () => {
    const emu = await startEmulator({ organizations: ["acme"] });
    const acme = emu.addOrganization("acme");
    let lookups = 0;
    const orgs = adapterFor(emu, {
      fetch: (input, init) => {
        if (urlOf(input).includes("/api/v2/organizations/")) lookups++;
        return fetch(input, init);
      },
    }).organizations;

    expect(await orgs.resolve(["acme"], "name")).toEqual([acme]);
    expect(await orgs.resolve([acme], "id")).toEqual([acme]);

    const byName = await rejected(orgs.resolve(["nope"], "name"));
    expect(byName).toMatchObject({ kind: "unknown_organization", retryable: false, statusCode: 404, message: "unknown organization: nope (no organization with this name in the tenant)" });
    expect(byName.rejectCode).toBe("unknown_organization");
    const byId = await rejected(orgs.resolve(["org_0000000000000000"], "id"));
    expect(byId).toMatchObject({ kind: "unknown_organization", retryable: false, statusCode: 404 });

    // An unknown organization stays unknown for the process: no second lookup.
    const before = lookups;
    await rejected(orgs.resolve(["nope"], "name"));
    expect(lookups).toBe(before);
  });

  it("a passing failure is the classified, retryable Auth0Error, and is looked up again next time", async () => {
    const emu = await startEmulator({ organizations: ["acme"] });
    const acme = emu.addOrganization("acme");
    let fail = true;
    const orgs = adapterFor(emu, {
      maxRetries: 0,
      fetch: async (input, init) => {
        if (fail && urlOf(input).includes("/api/v2/organizations/")) return new Response(JSON.stringify({ statusCode: 503, error: "Service Unavailable", message: "try later" }), { status: 503, headers: { "content-type": "application/json" } });
        return fetch(input, init);
      },
    }).organizations;

    const err = await rejected(orgs.resolve(["acme"], "name"));
    expect(err).toMatchObject({ kind: "server", retryable: true, statusCode: 503, message: "find organization acme: Auth0 answered 503: try later" });
    fail = false;
    expect(await orgs.resolve(["acme"], "name")).toEqual([acme]);
  });
});
