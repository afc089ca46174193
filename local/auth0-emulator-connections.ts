/**
 * `GET /api/v2/connections` of the Auth0 emulator: the configured connections, each with a stable id derived from
 * its name (`con_` and 16 letters or digits, the pattern Auth0 documents), filtered by exact `name` and by
 * `strategy`, trimmed by `fields`/`include_fields`, paged by offset (`page`, `per_page`, `include_totals`) or by
 * checkpoint (`from`, `take`, as the v7 SDK asks).
 */
import { createHash } from "node:crypto";
import type { EmulatorConnection } from "./auth0-emulator.js";
import type { JsonObject } from "./auth0-emulator-http.js";
import { checkpointPage, wantsCheckpoint } from "./auth0-emulator-paging.js";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** The id of a connection, `^con_[A-Za-z0-9]{16}$`, the same for the same name in every run. */
export function connectionIdOf(name: string): string {
  const digest = createHash("sha256").update(`connection:${name}`).digest();
  let id = "con_";
  for (let i = 0; i < 16; i++) id += ALPHANUMERIC[(digest[i] ?? 0) % ALPHANUMERIC.length];
  return id;
}

/** A connection as the list endpoint shows it (the subset of Auth0's fields the emulator can stand behind). */
export function connectionView(c: EmulatorConnection): JsonObject {
  return {
    id: connectionIdOf(c.name),
    name: c.name,
    display_name: c.name,
    strategy: c.strategy,
    options: c.strategy === "auth0" ? { requires_username: c.requiresUsername === true } : {},
    realms: [c.name],
    is_domain_connection: false,
  };
}

function selectFields(o: JsonObject, q: URLSearchParams): JsonObject {
  const fields = (q.get("fields") ?? "").split(",").map((f) => f.trim()).filter(Boolean);
  if (fields.length === 0) return o;
  const include = q.get("include_fields") !== "false";
  return Object.fromEntries(Object.entries(o).filter(([k]) => fields.includes(k) === include));
}

/** The answer to `GET /connections`; `page` is the server's offset-paging helper. */
export function listConnections(
  connections: Iterable<EmulatorConnection>,
  q: URLSearchParams,
  page: (items: JsonObject[], q: URLSearchParams, name: string) => unknown,
): unknown {
  const name = q.get("name");
  const strategies = q.getAll("strategy").flatMap((s) => s.split(",")).filter(Boolean);
  const matching = [...connections].filter((c) => (name === null || c.name === name) && (strategies.length === 0 || strategies.includes(c.strategy)));
  const views = matching.map(connectionView);
  if (wantsCheckpoint(q)) {
    const result = checkpointPage(views, (v) => v.id as string, q, "connections");
    return { ...result, connections: (result.connections as JsonObject[]).map((v) => selectFields(v, q)) };
  }
  return page(views.map((v) => selectFields(v, q)), q, "connections");
}
