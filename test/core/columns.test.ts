import { describe, expect, it } from "vitest";
import { columnsProblem, configuredColumns, duplicateColumns, missingColumns, unmappedColumns } from "../../functions/core/columns.js";
import { testConfig } from "../helpers/config.js";

const returned = ["id", "email", "first_name", "avatar_url", "roles", "plan"];

describe("the config against the statement's columns", () => {
  const config = testConfig({ mapping: { given_name: "first_name", picture: "avatar_link", "user_metadata.tier": { column: "Plan", createOnly: true } }, roles: { column: "roles" } });

  it("names every config path whose column is missing, with a hint when only the case differs", () => {
    expect(configuredColumns(config).map((c) => c.path)).toEqual(["identity.keyColumn", "identity.emailColumn", "roles.column", "mapping.given_name", "mapping.picture", "mapping.user_metadata.tier"]);
    expect(missingColumns(config, returned)).toBe(
      "The statement does not return every column the config names: mapping.picture names the column 'avatar_link'; mapping.user_metadata.tier names the column 'Plan' (the statement returns 'plan': names are case-sensitive); it returns id, email, first_name, avatar_url, roles, plan.",
    );
  });

  it("a missing email or key column is the same config error, not one rejection per row", () => {
    expect(missingColumns(testConfig({ identity: { keyColumn: "customer_id", emailColumn: "mail" } }), ["id", "email"])).toBe(
      "The statement does not return every column the config names: identity.keyColumn names the column 'customer_id'; identity.emailColumn names the column 'mail'; it returns id, email.",
    );
    expect(missingColumns(testConfig(), [])).toMatch(/; it returns none\.$/);
  });

  it("is silent when every column is there, and lists what goes to user_metadata unmapped", () => {
    const ok = testConfig({ mapping: { given_name: "first_name", picture: "avatar_url" } });
    expect(missingColumns(ok, returned)).toBeUndefined();
    expect(unmappedColumns(ok, returned)).toEqual(["roles", "plan"]);
    expect(unmappedColumns(testConfig({ mapping: { given_name: "first_name" }, unmappedColumns: "ignore" }), returned)).toEqual([]);
  });
});

describe("a column the statement returns twice", () => {
  it("is named with both positions; it comes before a missing column", () => {
    expect(duplicateColumns(["id", "email", "plan", "email"])).toBe("The statement returns the column 'email' twice (columns 2 and 4): a row keeps one value per name, so give one another name (AS ...).");
    expect(duplicateColumns(returned)).toBeUndefined();
    expect(columnsProblem(testConfig(), ["email", "email"])).toMatch(/^The statement returns the column 'email' twice/);
    expect(columnsProblem(testConfig({ mapping: { given_name: "first_name" } }), returned)).toBeUndefined();
  });
});
