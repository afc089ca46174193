/**
 * Query-string paging of the Auth0 emulator's list endpoints: integer parameters checked as Auth0 checks them, and
 * checkpoint pagination (`from`, `take`, `next`) as the Management API documents it for endpoints that page past
 * 1,000 results (role members, connections). Offset paging (`page`, `per_page`, `include_totals`) is the
 * server's `page` helper.
 */
import { invalidQuery } from "./auth0-emulator-http.js";

/** An integer query parameter within [min, max], or `def` when absent; a 400 like Auth0's otherwise. */
export function intParam(q: URLSearchParams, name: string, min: number, max: number, def: number): number {
  const raw = q.get(name);
  if (raw === null || raw === "") return def;
  const v = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(v)) throw invalidQuery(`Expected type integer but found type string`, name);
  if (v < min) throw invalidQuery(`Value ${v} is less than minimum ${min}`, name);
  if (v > max) throw invalidQuery(`Value ${v} is greater than maximum ${max}`, name);
  return v;
}

/** Whether the request asks for checkpoint pagination (Auth0 switches on `from` or `take`). */
export const wantsCheckpoint = (q: URLSearchParams): boolean => q.has("from") || q.has("take");

const encodeCursor = (key: string): string => Buffer.from(key, "utf8").toString("base64url");

function decodeCursor(from: string): string {
  const key = Buffer.from(from, "base64url").toString("utf8");
  if (from === "" || encodeCursor(key) !== from) throw invalidQuery("Invalid checkpoint: use the next value of the previous page", "from");
  return key;
}

/**
 * One checkpoint page: `take` (1..100, default 50) items whose key follows the cursor `from` (none: from the
 * start), as `{[name]: items, next}`; `next`, an opaque cursor, is absent on the last page. Keys order the items,
 * so a page stays right when items before the cursor come or go between calls. `include_totals` does not apply.
 */
export function checkpointPage<T>(items: T[], keyOf: (item: T) => string, q: URLSearchParams, name: string): Record<string, unknown> {
  const take = intParam(q, "take", 1, 100, 50);
  const from = q.get("from");
  const after = from === null ? undefined : decodeCursor(from);
  const sorted = items.map((item) => [keyOf(item), item] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter(([k]) => k > after);
  const slice = rest.slice(0, take);
  const last = slice.at(-1);
  return { [name]: slice.map(([, item]) => item), ...(rest.length > take && last ? { next: encodeCursor(last[0]) } : {}) };
}
