/**
 * The demo source tenant of a local tenant copy (config/tenant-copy.yml): users like the demo warehouse's (valid
 * ones only: a real tenant holds no invalid email), with the profile fields, metadata and roles a production
 * tenant has, so every choice of the transform shows in `npm start`.
 */
import { createHash } from "node:crypto";
import type { JsonObject } from "../functions/core/types.js";
import type { TenantState, TenantUser } from "./auth0-emulator.js";
import { DEMO_ROLES, generateUsers } from "./demo-data.js";

const FLAWS_A_TENANT_CANNOT_HOLD = new Set(["bad_email", "bad_phone", "duplicate_email", "unknown_role", "dotted_key"]);

/** `n` generated users (fewer: the flawed rows a tenant could not hold are left out) in `connection`. */
export function demoSourceTenant(n: number, connection: string, seed = 7): TenantState {
  const { rows, flaws } = generateUsers(n, seed);
  const users: TenantUser[] = [];
  const created = "2024-01-01T00:00:00.000Z";
  rows.forEach((r, i) => {
    if (flaws[i] && FLAWS_A_TENANT_CANNOT_HOLD.has(flaws[i])) return;
    const id = createHash("sha256").update(`${seed}:${r.customer_id}`).digest("hex").slice(0, 24);
    const name = [r.first_name, r.last_name].filter(Boolean).join(" ");
    users.push({
      user_id: `auth0|${id}`,
      connection,
      email: r.email ?? undefined,
      email_verified: i % 3 !== 0,
      given_name: r.first_name ?? undefined,
      family_name: r.last_name ?? undefined,
      name: name || undefined,
      nickname: r.email?.split("@")[0],
      picture: r.avatar_url ?? undefined,
      phone_number: r.phone ?? undefined,
      blocked: r.is_blocked,
      user_metadata: {
        plan: r.plan,
        preferences: JSON.parse(r.preferences ?? "{}") as JsonObject,
        contact: { phone: r.phone, recovery_email: `${r.first_name?.toLowerCase()}.recovery.${i}@example.net` },
      },
      app_metadata: { tier: r.tier, crm: { account_ref: `ACCT-${100000 + i}`, owner_notes: `call ${r.first_name} about renewal` } },
      created_at: created,
      updated_at: created,
      hasPassword: true,
      roles: (r.roles ?? "").split(",").filter((x) => DEMO_ROLES.includes(x)),
    });
  });
  return { users, roles: [], tickets: [], verificationEmails: [] };
}
