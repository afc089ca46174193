/**
 * The port `auth0-sync plan` runs the user flow against (functions/flows/user-port.ts): it reads Auth0 as the run
 * would (through the real adapter, paced), and records every write instead of making it. A create answers as Auth0
 * would: a 409 when a user with that email exists (looked up once, within the plan's lookup budget), so the flow
 * takes the same path as a run (lookup, identity check, patch) and the plan can tell a create from an adoption.
 */
import type { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import { Auth0Error } from "../functions/adapters/auth0/errors.js";
import type { UserPort } from "../functions/flows/user-port.js";
import type { CreateBody, CurrentUser } from "../functions/core/types.js";

export class RecordingUserPort implements UserPort {
  /** Users read from Auth0 (those the ledger does not know), and those beyond the budget planned unread. */
  lookups = 0;
  lookupsSkipped = 0;
  /** The writes a run would make (one per call: a create, a patch, a role or membership call, a block or delete). */
  writes = 0;
  /** Emails the budget did not let the plan read: their users are planned as if absent from Auth0. */
  readonly unread = new Set<string>();
  private readonly found = new Map<string, CurrentUser | null>();
  private created = 0;
  readonly organizations: UserPort["organizations"];

  constructor(
    private readonly auth0: Auth0Adapter,
    private readonly maxLookups: number,
  ) {
    const o = auth0.organizations;
    const write = (n: number) => {
      if (n > 0) this.writes++;
      return Promise.resolve();
    };
    this.organizations = {
      resolve: (refs, by) => o.resolve(refs, by),
      userOrganizations: (userId) => (this.isPlanned(userId) ? Promise.resolve([]) : o.userOrganizations(userId)),
      memberRoles: (orgId, userId) => (this.isPlanned(userId) ? Promise.resolve([]) : o.memberRoles(orgId, userId)),
      addMembers: (_orgId, userIds) => write(userIds.length),
      removeMembers: (_orgId, userIds) => write(userIds.length),
      assignMemberRoles: (_orgId, _userId, roleIds) => write(roleIds.length),
      removeMemberRoles: (_orgId, _userId, roleIds) => write(roleIds.length),
    };
  }

  /** A user the plan "created": it exists in no tenant, so nothing of it is read. */
  private isPlanned(userId: string): boolean {
    return userId.startsWith("planned|");
  }

  roleIds(names: string[]): Promise<string[]> {
    return this.auth0.roleIds(names);
  }

  forgetRoles(): void {
    this.auth0.forgetRoles();
  }

  /** The user with this email, read once per email within the budget; beyond it, planned as absent (`unread`). */
  async findByEmail(email: string): Promise<CurrentUser | null> {
    if (this.found.has(email)) return this.found.get(email) ?? null;
    if (this.lookups >= this.maxLookups) {
      if (!this.unread.has(email)) this.lookupsSkipped++;
      this.unread.add(email);
      return null;
    }
    this.lookups++;
    const user = await this.auth0.findByEmail(email);
    this.found.set(email, user);
    return user;
  }

  userRoles(userId: string): Promise<string[]> {
    return this.isPlanned(userId) ? Promise.resolve([]) : this.auth0.userRoles(userId);
  }

  async create(body: CreateBody): Promise<CurrentUser> {
    // As Auth0 answers a create for an email it holds: a 409 (the flow then looks the user up and judges it).
    if (await this.findByEmail(body.email)) throw new Auth0Error("create user: Auth0 answered 409: The user already exists.", { kind: "conflict", retryable: false, statusCode: 409 });
    this.writes++;
    return { ...body, user_id: `planned|${++this.created}` };
  }

  patch(userId: string): Promise<CurrentUser> {
    this.writes++;
    return Promise.resolve({ user_id: userId });
  }

  passwordChangeTicket(): Promise<string> {
    this.writes++;
    return Promise.resolve("planned");
  }

  assignRoles(_userId: string, names: string[]): Promise<void> {
    if (names.length > 0) this.writes++;
    return Promise.resolve();
  }

  removeRoles(_userId: string, names: string[]): Promise<void> {
    if (names.length > 0) this.writes++;
    return Promise.resolve();
  }

  block(userId: string): Promise<CurrentUser> {
    this.writes++;
    return Promise.resolve({ user_id: userId, blocked: true });
  }

  delete(): Promise<void> {
    this.writes++;
    return Promise.resolve();
  }
}
