/**
 * Organization memberships and member roles through the official SDK's organizations clients, over the adapter's
 * own paced fetch and token (each request spends its endpoint group's bucket: core/rate-limits.ts). It makes the
 * calls and translates their errors; which memberships change is decided in core (core/membership-diff.ts).
 */
import { OrganizationsClient } from "auth0/organizations";
import { UsersClient } from "auth0/users";
import type { Auth0Adapter } from "./client.js";
import { Auth0Error, callAuth0 } from "./errors.js";

/** Auth0 accepts at most this many members in one add (documented) or remove (taken as the same) request. */
export const ORG_MEMBERS_PER_CALL = 10;

/**
 * A membership write failed: the Auth0 error, marked as the organizations' (a consumer retries a role refused at
 * the role limit, never a membership). Retryable and kind as the cause's.
 */
export class OrganizationWriteError extends Auth0Error {
  override readonly name: string = "OrganizationWriteError";
  /** @param field the row's column a permanent failure names (member roles: the roles column). */
  constructor(cause: Auth0Error, field?: string) {
    super(`organization membership: ${cause.message}`, { kind: cause.kind, retryable: cause.retryable, statusCode: cause.statusCode, errorCode: cause.errorCode, auth0Message: cause.auth0Message, field, cause });
  }
}

/** How the table names organizations (config `organizations.by`). */
export type OrganizationRef = "name" | "id";

export class Auth0Organizations {
  private readonly orgs: OrganizationsClient;
  private readonly users: UsersClient;
  /** Organization ids by the table's reference (name or id), resolved once per process; a failed lookup is retried. */
  private readonly ids = new Map<string, Promise<string>>();

  constructor(adapter: Pick<Auth0Adapter, "clientOptions">) {
    this.orgs = new OrganizationsClient(adapter.clientOptions);
    this.users = new UsersClient(adapter.clientOptions);
  }

  /** The ids of organizations the table names; an unknown one is a permanent error naming it (the row is rejected). */
  async resolve(refs: string[], by: OrganizationRef): Promise<string[]> {
    return Promise.all(refs.map((ref) => this.idOf(ref, by)));
  }

  private idOf(ref: string, by: OrganizationRef): Promise<string> {
    let id = this.ids.get(`${by}:${ref}`);
    if (!id) {
      id = this.lookup(ref, by).catch((err: unknown) => {
        // A passing failure is looked up again next time; an unknown organization stays unknown for the process.
        if (!(err instanceof Auth0Error && err.kind === "unknown_organization")) this.ids.delete(`${by}:${ref}`);
        throw err;
      });
      this.ids.set(`${by}:${ref}`, id);
    }
    return id;
  }

  private async lookup(ref: string, by: OrganizationRef): Promise<string> {
    let org: { id?: string };
    try {
      org = await callAuth0(`find organization ${ref}`, () => (by === "name" ? this.orgs.getByName(ref) : this.orgs.get(ref)));
    } catch (err) {
      if (err instanceof Auth0Error && (err.kind === "not_found" || (by === "id" && err.statusCode === 400))) {
        throw new Auth0Error(`unknown organization: ${ref} (no organization with this ${by} in the tenant)`, { kind: "unknown_organization", retryable: false, statusCode: err.statusCode });
      }
      throw err;
    }
    if (typeof org.id !== "string" || org.id === "") throw new Auth0Error(`organization ${ref}: Auth0 answered without an id`, { kind: "server", retryable: true });
    return org.id;
  }

  /** Forgets resolved organizations (one was deleted meanwhile): the next use looks them up again. */
  forget(): void {
    this.ids.clear();
  }

  /** Adds users to one organization: `POST /organizations/{id}/members`, at most ORG_MEMBERS_PER_CALL. */
  async addMembers(orgId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    if (userIds.length > ORG_MEMBERS_PER_CALL) throw new RangeError(`at most ${ORG_MEMBERS_PER_CALL} members per call, got ${userIds.length}`);
    await callAuth0("add organization members", () => this.orgs.members.create(orgId, { members: userIds }));
  }

  /** Removes users from one organization: `DELETE /organizations/{id}/members`, at most ORG_MEMBERS_PER_CALL. */
  async removeMembers(orgId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    if (userIds.length > ORG_MEMBERS_PER_CALL) throw new RangeError(`at most ${ORG_MEMBERS_PER_CALL} members per call, got ${userIds.length}`);
    await callAuth0("remove organization members", () => this.orgs.members.delete(orgId, { members: userIds }));
  }

  async assignMemberRoles(orgId: string, userId: string, roleIds: string[]): Promise<void> {
    if (roleIds.length === 0) return;
    await callAuth0("assign organization member roles", () => this.orgs.members.roles.assign(orgId, userId, { roles: roleIds }));
  }

  async removeMemberRoles(orgId: string, userId: string, roleIds: string[]): Promise<void> {
    if (roleIds.length === 0) return;
    await callAuth0("remove organization member roles", () => this.orgs.members.roles.delete(orgId, userId, { roles: roleIds }));
  }

  /** A user's organizations as Auth0 holds them (for a user the ledger has no memberships of). */
  async userOrganizations(userId: string): Promise<{ id: string; name: string }[]> {
    return callAuth0("list user organizations", async () => {
      const out: { id: string; name: string }[] = [];
      const page = await this.users.organizations.list(userId, { per_page: 50, include_totals: true });
      for await (const o of page) if (o.id && o.name) out.push({ id: o.id, name: o.name });
      return out;
    });
  }

  /**
   * An organization's members, with their role names when asked (`fields=user_id,roles`, which needs
   * read:organization_member_roles), paged with checkpoint pagination (take=100, then from=<next>): what a
   * reconcile compares with the ledger.
   */
  async *members(orgId: string, withRoles: boolean): AsyncGenerator<{ userId: string; roles: string[] }> {
    const operation = `list members of organization ${orgId}`;
    const page = await callAuth0(operation, () => this.orgs.members.list(orgId, { take: 100, fields: withRoles ? "user_id,roles" : "user_id", include_fields: true }));
    for (;;) {
      for (const m of page.data) {
        if (typeof m.user_id !== "string" || m.user_id === "") continue;
        const roles = (m as { roles?: { name?: string }[] }).roles ?? [];
        yield { userId: m.user_id, roles: roles.flatMap((r) => (typeof r.name === "string" ? [r.name] : [])).sort() };
      }
      if (!page.hasNextPage()) return;
      await callAuth0(operation, () => page.getNextPage());
    }
  }

  /** A member's role names in one organization. */
  async memberRoles(orgId: string, userId: string): Promise<string[]> {
    return callAuth0("list organization member roles", async () => {
      const names: string[] = [];
      const page = await this.orgs.members.roles.list(orgId, userId, { per_page: 50, include_totals: true });
      for await (const r of page) if (r.name) names.push(r.name);
      return names.sort();
    });
  }
}
