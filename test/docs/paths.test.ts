/**
 * The docs name files of the code by path (`functions/flows/user-flow.ts`): each must exist, so a file moved or
 * renamed without its docs fails here rather than sending a reader to nothing.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../..", import.meta.url).pathname;
const DOCS = ["README.md", ...readdirSync(`${ROOT}docs`).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
/** A path in backticks under one of the project's folders, with a file extension. */
const PATH = /`((?:bin|cli|lib|functions|local|bench|test|config|\.ci)\/[\w./-]+\.(?:ts|js|yml|yaml|json|sql|csv))`/g;

/** Files the docs tell the reader to make (their own copy of an example config). */
const READERS_OWN = new Set(["config/prod.yml", "config/staging-from-prod.yml"]);

describe("paths named in the docs", () => {
  it.each(DOCS)("%s names only files that exist", (doc) => {
    const text = readFileSync(`${ROOT}${doc}`, "utf8");
    const missing = [...text.matchAll(PATH)].map((m) => m[1]!).filter((p) => !READERS_OWN.has(p) && !existsSync(`${ROOT}${p}`));
    expect(missing).toEqual([]);
  });
});
