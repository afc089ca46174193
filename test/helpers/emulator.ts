import { TokenProvider } from "auth0";
import { RolesClient } from "auth0/roles";
import { TicketsClient } from "auth0/tickets";
import { UsersClient } from "auth0/users";
import { afterEach } from "vitest";
import { Auth0Adapter, type Auth0AdapterOptions } from "../../functions/adapters/auth0/client.js";
import { Pacer } from "../../functions/adapters/auth0/pacer.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_CONNECTION, type Auth0EmulatorOptions, type TenantUser } from "../../local/auth0-emulator.js";

const running: Auth0Emulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

/** Starts an emulator on 127.0.0.1 with an OS-chosen port; stopped after the test. */
export async function startEmulator(opts: Auth0EmulatorOptions = {}): Promise<Auth0Emulator> {
  const emu = new Auth0Emulator(opts);
  running.push(emu);
  await emu.start();
  return emu;
}

/** The address a fetch call asks for, whichever form it was given in. */
export const urlOf = (input: string | URL | Request): string => (typeof input === "string" ? input : input instanceof URL ? input.href : input.url);

/** A request body the tests' fetch wrappers read: the adapter and the SDK send JSON text. */
export const bodyText = (init: RequestInit | undefined): string => (typeof init?.body === "string" ? init.body : "");

/** The official SDK's resource clients, pointed at the emulator. */
export function sdkFor(emu: Auth0Emulator, creds = { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET }) {
  const rewrite: typeof fetch = (input, init) => fetch(urlOf(input).replace(`https://${emu.domain}`, emu.baseUrl), init);
  const tokens = new TokenProvider({ domain: emu.domain, ...creds, audience: `https://${emu.domain}/api/v2/`, fetch: rewrite, telemetry: false });
  const options = { baseUrl: `${emu.baseUrl}/api/v2`, token: () => tokens.getAccessToken(), maxRetries: 0 };
  return { tokens, users: new UsersClient(options), roles: new RolesClient(options), tickets: new TicketsClient(options) };
}

const tokens = new WeakMap<Auth0Emulator, Promise<string>>();

/** A token of the emulator's client, one per emulator. */
export function apiToken(emu: Auth0Emulator): Promise<string> {
  let token = tokens.get(emu);
  if (!token) tokens.set(emu, (token = sdkFor(emu).tokens.getAccessToken()));
  return token;
}

/** A Management API call with fetch (JSON body when given), with a token of the emulator's client (one per emulator). */
export async function apiCall(emu: Auth0Emulator, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${await apiToken(emu)}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${emu.baseUrl}/api/v2${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/**
 * `POST /jobs/users-imports` as curl and the SDK send it (multipart/form-data, `users` a file part: a JSON array
 * unless given as text), into the default connection unless `fields` names another `connection_id`.
 */
export async function importCall(emu: Auth0Emulator, users: unknown, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.append("users", new Blob([typeof users === "string" ? users : JSON.stringify(users)], { type: "application/json" }), "users.json");
  form.append("connection_id", fields.connection_id ?? emu.connectionId(DEFAULT_CONNECTION));
  for (const [k, v] of Object.entries(fields)) if (k !== "connection_id") form.append(k, v);
  return fetch(`${emu.baseUrl}/api/v2/jobs/users-imports`, { method: "POST", headers: { authorization: `Bearer ${await apiToken(emu)}` }, body: form });
}

/**
 * A user as a tenant state holds it, for `emu.load`: id `auth0|<prefix><n>`, email `<prefix><n>@example.com`, a name
 * for every second `i` and a picture for every fifth, so listings have fields to leave out.
 */
export function storedUser(prefix: string, n: string, i: number, roles: string[] = []): TenantUser {
  const at = new Date(0).toISOString();
  return {
    user_id: `auth0|${prefix}${n}`,
    connection: DEFAULT_CONNECTION,
    email: `${prefix}${n}@example.com`,
    email_verified: true,
    ...(i % 2 === 0 ? { name: `User ${n}` } : {}),
    ...(i % 5 === 0 ? { picture: `https://example.com/${n}.png` } : {}),
    user_metadata: {},
    app_metadata: {},
    created_at: at,
    updated_at: at,
    hasPassword: true,
    roles,
  };
}

export function adapterFor(emu: Auth0Emulator, over: Partial<Auth0AdapterOptions> = {}): Auth0Adapter {
  return new Auth0Adapter({
    domain: emu.domain,
    baseUrl: emu.baseUrl,
    credentials: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET },
    connection: DEFAULT_CONNECTION,
    connectionType: "database",
    verifyEmail: false,
    timeoutMs: 5_000,
    maxRetries: 2,
    pacer: new Pacer({ rate: 1000, burst: 1000 }),
    ...over,
  });
}

/** Largest number of log entries in any window of `ms` starting at or after `from`. */
export function maxInWindow(times: number[], ms: number, from = -Infinity): number {
  const t = times.filter((x) => x >= from).sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while ((t[j] as number) <= (t[i] as number) - ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
