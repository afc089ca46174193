/**
 * How a user's roles and organization memberships change: the differences between what a row wants and what the
 * user holds (the ledger's last applied, or Auth0's), and which organizations a change must look up first.
 */
export interface RoleChange {
  add: string[];
  remove: string[];
}

/** Which role names to add and remove so the user has exactly (or at least, without removeUnlisted) the desired ones. */
export function diffRoles(desired: string[], current: string[], removeUnlisted: boolean): RoleChange {
  const want = new Set(desired);
  const have = new Set(current);
  return {
    add: [...want].filter((r) => !have.has(r)).sort(),
    remove: removeUnlisted ? [...have].filter((r) => !want.has(r)).sort() : [],
  };
}

/** How a user's organization memberships and member roles change (organizations named as the table names them). */
export interface OrganizationChange {
  join: string[];
  leave: string[];
  /** Member roles to add and remove, per organization the user stays in or joins. */
  addRoles: { org: string; roles: string[] }[];
  removeRoles: { org: string; roles: string[] }[];
}

/**
 * The difference between the organizations a row wants and those applied (what the ledger last applied, or what
 * Auth0 holds for a user the ledger knows none of): join the missing ones; leave the unlisted ones only with
 * `removeUnlisted`; with member roles managed, add the missing roles and (with `removeUnlisted`) remove the
 * unlisted ones in each organization the row lists. Leaving an organization takes its member roles with it.
 */
export function diffOrganizations(desired: Record<string, string[]>, applied: Record<string, string[]>, opts: { removeUnlisted: boolean; roles: boolean }): OrganizationChange {
  const change: OrganizationChange = { join: [], leave: [], addRoles: [], removeRoles: [] };
  for (const org of Object.keys(desired).sort()) {
    if (!Object.hasOwn(applied, org)) change.join.push(org);
    if (!opts.roles) continue;
    const roles = diffRoles(desired[org] ?? [], Object.hasOwn(applied, org) ? (applied[org] ?? []) : [], opts.removeUnlisted);
    if (roles.add.length > 0) change.addRoles.push({ org, roles: roles.add });
    if (roles.remove.length > 0) change.removeRoles.push({ org, roles: roles.remove });
  }
  if (opts.removeUnlisted) change.leave = Object.keys(applied).filter((org) => !Object.hasOwn(desired, org)).sort();
  return change;
}

/**
 * Of the organizations Auth0 says a user is in, those the row lists, named as the table names them: what a user
 * the ledger knows no memberships of is taken to hold (the others are never removed, so never looked at).
 */
export function heldOrganizations(userOrgs: { id: string; name: string }[], desired: Record<string, string[]>, by: "name" | "id"): { ref: string; id: string }[] {
  return userOrgs.map((o) => ({ ref: by === "name" ? o.name : o.id, id: o.id })).filter((o) => Object.hasOwn(desired, o.ref));
}

/**
 * Which organizations (and member role names) must be checked against the tenant before a user's first write, so
 * that an unknown one rejects the row before anything is written: with the memberships known (the ledger's, a
 * seed's, none before a create), those the change joins or changes member roles in, and the member roles it adds;
 * with nothing known, every organization and member role the row lists (Auth0 is read to find the change). The
 * organizations a change leaves are not checked: one gone from the tenant took its memberships with it.
 */
export function organizationsToCheck(desired: Record<string, string[]>, known: Record<string, string[]> | undefined, opts: { removeUnlisted: boolean; roles: boolean }): { refs: string[]; roleNames: string[] } {
  if (!known) return { refs: Object.keys(desired), roleNames: [...new Set(Object.values(desired).flat())].sort() };
  const change = diffOrganizations(desired, known, opts);
  const refs = [...new Set([...change.join, ...change.addRoles.map((c) => c.org), ...change.removeRoles.map((c) => c.org)])].sort();
  return { refs, roleNames: [...new Set(change.addRoles.flatMap((c) => c.roles))].sort() };
}

/** Whether a change writes anything. */
export const organizationsChange = (c: OrganizationChange): boolean => c.join.length + c.leave.length + c.addRoles.length + c.removeRoles.length > 0;
