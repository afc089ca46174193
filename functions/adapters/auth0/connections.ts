/**
 * A connection's id from its name (`GET /api/v2/connections?name=`): export jobs (snapshot.ts) and import jobs
 * (imports.ts) name their connection by id.
 */
import type { ConnectionsClient } from "auth0/connections";
import { Auth0Error, callAuth0 } from "./errors.js";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The id of the connection with this name; a missing one is a permanent error that names it. */
export async function findConnectionId(connections: ConnectionsClient, name: string, signal?: AbortSignal): Promise<string> {
  const page = await callAuth0(`find connection ${name}`, () => connections.list({ name }, { abortSignal: signal }));
  // Auth0 documents a bare array; the SDK reads the checkpoint form `{connections, next}`. Either is accepted.
  const raw: unknown = page.response;
  const list: unknown[] = Array.isArray(raw) ? raw : page.data;
  const found = list.filter(isObject).find((c) => c.name === name);
  if (!found || typeof found.id !== "string" || found.id === "") {
    throw new Auth0Error(`connection ${name} does not exist in the tenant (GET /api/v2/connections?name=${name} found none)`, {
      kind: "not_found",
      retryable: false,
    });
  }
  return found.id;
}
