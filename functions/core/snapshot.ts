/**
 * The port a reconcile reads the tenant through: every user of the configured connection, streamed (never the
 * whole tenant in memory), and the members of the roles the sync manages. Auth0's users-export job is the
 * implementation (functions/adapters/auth0/snapshot.ts).
 */
import type { CurrentUser } from "./types.js";

export interface TenantSnapshot {
  /** Every user of the connection as the export shows it, one at a time. */
  users(): AsyncIterable<CurrentUser>;
  /** The names of the tenant's roles. */
  roleNames(): Promise<string[]>;
  /** The ids of the users holding a role, by the role's name. */
  roleMembers(roleName: string): AsyncIterable<string>;
  /**
   * The members of an organization (as the config names it: name or id) with their role names there; nothing for
   * an organization the tenant no longer has.
   */
  organizationMembers?(ref: string): AsyncIterable<{ userId: string; roles: string[] }>;
  /** Management API calls made so far (the report's `auth0Calls`). */
  readonly calls: number;
}
