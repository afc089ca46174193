import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DuplicateKeyError, duplicateKey, parseStrictJson } from "../../functions/core/strict-json.js";

describe("parseStrictJson", () => {
  it("parses JSON as JSON.parse does when no object names a key twice (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        expect(duplicateKey(text)).toBeUndefined();
        expect(parseStrictJson(text)).toEqual(JSON.parse(text));
      }),
    );
  });

  it("finds a key named twice at any depth, whatever the values and the other keys (property)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }), fc.string(), fc.jsonValue(), fc.jsonValue(), fc.integer({ min: 0, max: 3 }), (rest, key, a, b, depth) => {
        const others = Object.entries(rest).filter(([k]) => k !== key);
        let text = `{${[...others.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), `${JSON.stringify(key)}:${JSON.stringify(a)}`, `${JSON.stringify(key)}:${JSON.stringify(b)}`].join(",")}}`;
        for (let d = 0; d < depth; d++) text = d % 2 === 0 ? `[1,${text}]` : `{"level":${text}}`;
        expect(duplicateKey(text)).toBe(key);
        expect(() => parseStrictJson(text)).toThrow(DuplicateKeyError);
      }),
    );
  });

  it("keys are compared as JSON reads them; equal keys in different objects are no duplicate", () => {
    expect(duplicateKey('{"a":1,"\\u0061":2}')).toBe("a");
    expect(duplicateKey('{"a":{"a":1},"b":[{"a":2},{"a":3}]}')).toBeUndefined();
    // Strings that look like keys, inside values, are values.
    expect(duplicateKey('{"a":"\\",\\"a\\":","b":["a","a"]}')).toBeUndefined();
    expect(() => parseStrictJson('{"acme":"admin","acme":"viewer"}')).toThrow('names the key "acme" twice in one object (JSON keeps only the last)');
    expect(() => parseStrictJson("{")).toThrow(SyntaxError);
  });
});
