/**
 * The demo source tenant of a local tenant copy (config/tenant-copy.yml): users like the demo warehouse's (valid
 * ones only: a real tenant holds no invalid email), with the profile fields, metadata and roles a production
 * tenant has, so every choice of the transform shows in `npm start`.
 */
import { createHash } from "node:crypto";
import type { JsonObject } from "../functions/core/types.js";
import type { TenantState, TenantUser } from "./auth0-emulator.js";
import { DEMO_ROLES, generateUsers } from "./demo-data.js";

const STREETS = ["Harbour Road", "Mill Lane", "Station Street", "Orchard Way", "Quarry Hill"];

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
      // Besides what tests use, what production app_metadata holds and a copy must keep out: a migrated password
      // hash, a birth date, addresses and a payment provider's customer id (the example's allow list does).
      app_metadata: {
        tier: r.tier,
        crm: { account_ref: `ACCT-${100000 + i}`, owner_notes: `call ${r.first_name} about renewal` },
        legacy_password_hash: `$2b$10$${createHash("sha256").update(`pw:${id}`).digest("base64").replace(/[+/=]/g, "").slice(0, 53)}`,
        dob: `${1950 + (i % 50)}-${String(1 + (i % 12)).padStart(2, "0")}-${String(1 + (i % 28)).padStart(2, "0")}`,
        addresses: [{ kind: "home", street: `${1 + (i % 400)} ${STREETS[i % STREETS.length]}`, postcode: String(10000 + ((i * 7919) % 90000)) }],
        payment: { customer_id: `cus_${createHash("sha256").update(`pay:${id}`).digest("hex").slice(0, 14)}` },
      },
      created_at: created,
      updated_at: created,
      hasPassword: true,
      roles: (r.roles ?? "").split(",").filter((x) => DEMO_ROLES.includes(x)),
    });
  });
  return { users, roles: [], tickets: [], verificationEmails: [] };
}
