import { ManagementError, ManagementTimeoutError } from "auth0";
import { describe, expect, it } from "vitest";
import { Auth0Error, callAuth0 } from "../../functions/adapters/auth0/errors.js";

/** What callAuth0 threw, for the assertions. */
async function thrown(fn: () => Promise<unknown>): Promise<Auth0Error> {
  try {
    await callAuth0("get user", fn);
  } catch (err) {
    expect(err).toBeInstanceOf(Auth0Error);
    return err as Auth0Error;
  }
  throw new Error("callAuth0 did not throw");
}

describe("callAuth0: the Auth0 adapters' one error-classifying call", () => {
  it("returns the call's result", async () => {
    await expect(callAuth0("list roles", async () => ["admin"])).resolves.toEqual(["admin"]);
  });

  it("classifies what the SDK throws, the message beginning with the operation", async () => {
    const notFound = await thrown(() => Promise.reject(new ManagementError({ statusCode: 404, body: { message: "The user does not exist.", errorCode: "inexistent_user" } })));
    expect(notFound).toMatchObject({ kind: "not_found", retryable: false, statusCode: 404, errorCode: "inexistent_user", message: "get user: Auth0 answered 404: The user does not exist." });

    const limited = await thrown(() => Promise.reject(new ManagementError({ statusCode: 429, body: { message: "Too Many Requests" } })));
    expect(limited).toMatchObject({ kind: "rate_limited", retryable: true });

    const timeout = await thrown(() => Promise.reject(new ManagementTimeoutError("timed out")));
    expect(timeout).toMatchObject({ kind: "timeout", retryable: true, message: "get user: Auth0 did not answer in time" });

    // An address Auth0 echoes back never reaches the message.
    const other = await thrown(() => Promise.reject(new Error("socket hang up for ada@example.com")));
    expect(other).toMatchObject({ kind: "network", retryable: true, message: "get user: socket hang up for <email>" });
  });

  it("lets an Auth0Error the call raised itself through unchanged", async () => {
    const own = new Auth0Error("find user by email: 2 users match; refusing to guess", { kind: "ambiguous", retryable: false });
    expect(await thrown(() => Promise.reject(own))).toBe(own);
  });
});
