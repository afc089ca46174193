/**
 * What the user flow asks of Auth0 (reads and writes of one user, its roles and its memberships): the Auth0
 * adapter gives it to the consumer; `auth0-sync plan` gives it a port that reads as the adapter does and records
 * the writes instead of making them (cli/plan-port.ts). One flow, two ports: the plan cannot drift from the run.
 */
import type { Auth0Adapter } from "../adapters/auth0/client.js";
import type { Auth0Organizations } from "../adapters/auth0/organizations.js";

export type UserPort = Pick<Auth0Adapter, "roleIds" | "forgetRoles" | "findByEmail" | "userRoles" | "create" | "patch" | "passwordChangeTicket" | "assignRoles" | "removeRoles" | "block" | "delete"> & {
  organizations: OrganizationsPort;
};

export type OrganizationsPort = Pick<Auth0Organizations, "resolve" | "userOrganizations" | "memberRoles" | "addMembers" | "removeMembers" | "assignMemberRoles" | "removeMemberRoles">;
