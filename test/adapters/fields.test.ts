/**
 * Every field of the profile catalog (core/fields.ts) reaches Auth0: mapped from a column, validated, put in the
 * create body and in a patch, sent by the adapter and stored by the emulator. A field added to the catalog is
 * covered here with no change; a new kind of field needs its sample values below (the Record makes it fail to
 * compile until it has them).
 */
import { describe, expect, it } from "vitest";
import { PROFILE_FIELDS, PROFILE_FIELD_NAMES } from "../../functions/core/fields.js";
import { createBody, diff } from "../../functions/core/write-plan.js";
import { ProfileMapper } from "../../functions/core/profile.js";
import { DEFAULT_CONNECTION } from "../../local/auth0-emulator.js";
import { testConfig } from "../helpers/config.js";
import { adapterFor, bodyText, startEmulator, urlOf } from "../helpers/emulator.js";

type Kind = (typeof PROFILE_FIELDS)[keyof typeof PROFILE_FIELDS]["kind"];
/** Two valid values of each kind (for a create, then a patch), as a row holds them and as Auth0 stores them. */
const SAMPLES: Record<Kind, [{ row: unknown; sent: unknown }, { row: unknown; sent: unknown }]> = {
  text: [{ row: "Ada", sent: "Ada" }, { row: "Bea", sent: "Bea" }],
  boolean: [{ row: "yes", sent: true }, { row: "no", sent: false }],
  email: [{ row: "a@example.com", sent: "a@example.com" }, { row: "B@Example.com", sent: "b@example.com" }],
  uri: [{ row: "https://example.com/a.png", sent: "https://example.com/a.png" }, { row: "https://example.com/b.png", sent: "https://example.com/b.png" }],
  phone: [{ row: "+1 (415) 555-0100", sent: "+14155550100" }, { row: "+14155550199", sent: "+14155550199" }],
  username: [{ row: "ada_1", sent: "ada_1" }, { row: "bea.2", sent: "bea.2" }],
};

describe("the profile field catalog", () => {
  for (const field of PROFILE_FIELD_NAMES) {
    it(`${field}: mapped, created and patched, in the request bodies Auth0 receives`, async () => {
      const [first, second] = SAMPLES[PROFILE_FIELDS[field].kind];
      const config = testConfig({ mapping: { [field]: "v" }, unmappedColumns: "ignore" });
      const mapper = new ProfileMapper(config);
      const emu = await startEmulator({ connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0", requiresUsername: field === "username" }] });
      const bodies: Record<string, unknown>[] = [];
      const capture: typeof fetch = async (input, init) => {
        if (init?.method === "POST" || init?.method === "PATCH") {
          if (urlOf(input).includes("/api/v2/users")) bodies.push(JSON.parse(bodyText(init)) as Record<string, unknown>);
        }
        return fetch(input, init);
      };
      const auth0 = adapterFor(emu, { fetch: capture });

      const created = mapper.map({ id: "k1", email: "user@example.com", v: first.row as string });
      if (!created.ok) throw new Error(created.rejection.reason);
      const user = await auth0.create(createBody(created.profile));
      expect(bodies[0]?.[field], "create body").toEqual(first.sent);
      expect((user as Record<string, unknown>)[field] ?? (first.sent === false ? false : undefined), "stored").toEqual(first.sent);

      const changed = mapper.map({ id: "k1", email: "user@example.com", v: second.row as string });
      if (!changed.ok) throw new Error(changed.rejection.reason);
      const patch = diff(changed.profile, user);
      expect((patch as Record<string, unknown>)[field], "patch").toEqual(second.sent);
      const after = await auth0.patch(user.user_id, patch);
      expect(bodies[1]?.[field], "patch body").toEqual(second.sent);
      expect((after as Record<string, unknown>)[field] ?? (second.sent === false ? false : undefined), "stored after the patch").toEqual(second.sent);
    });
  }
});
