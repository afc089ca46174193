/**
 * `GET /api/v2/roles/{id}/users` of the Auth0 emulator: the role's direct members as `{user_id, email, name,
 * picture}`, ordered by user id. Offset paging (`page`, `per_page` 1..100, `include_totals`) stops at the first
 * 1,000 results as Auth0's does; checkpoint paging (`from`, `take` 1..100, default 50) answers `{users, next?}`
 * and reaches every member.
 */
import { apiError, type JsonObject } from "./auth0-emulator-http.js";
import { checkpointPage, intParam, wantsCheckpoint } from "./auth0-emulator-paging.js";

/** How many results offset paging may reach; beyond, Auth0 asks for checkpoint pagination. */
export const OFFSET_PAGING_LIMIT = 1000;

export interface RoleMember {
  user_id: string;
  email?: string;
  name?: string;
  picture?: string;
}

/** The answer to `GET /roles/{id}/users`; `page` is the server's offset-paging helper. */
export function listRoleUsers(members: RoleMember[], q: URLSearchParams, page: (items: JsonObject[], q: URLSearchParams, name: string) => unknown): unknown {
  const users: JsonObject[] = members
    .map((m) => ({ user_id: m.user_id, ...(m.email !== undefined ? { email: m.email } : {}), ...(m.name !== undefined ? { name: m.name } : {}), ...(m.picture !== undefined ? { picture: m.picture } : {}) }))
    .sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));
  if (wantsCheckpoint(q)) return checkpointPage(users, (u) => u.user_id as string, q, "users");
  const perPage = intParam(q, "per_page", 1, 100, 50);
  const pageNo = intParam(q, "page", 0, Number.MAX_SAFE_INTEGER, 0);
  if ((pageNo + 1) * perPage > OFFSET_PAGING_LIMIT) {
    throw apiError(
      400,
      `Requesting page ${pageNo} exceeds the allowed maximum of ${OFFSET_PAGING_LIMIT} records. To fetch results beyond ${OFFSET_PAGING_LIMIT}, use the checkpoint pagination method.`,
      "invalid_paging",
    );
  }
  return page(users, q, "users");
}
