import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DuplicateKeyError, duplicateKey, jsonContainer, parseJsonExact, parseStrictJson, stringifyExact } from "../../functions/core/json-text.js";

describe("exact JSON (issue 24, point 2: never change a kept value except to replace it)", () => {
  it("reads an integer a double would round as a BigInt, and writes it back digit for digit", () => {
    const text = '{"a":12345678901234567890,"b":[-9007199254740993,1],"c":"12345678901234567890","d":1.5,"e":9007199254740992}';
    const v = parseJsonExact(text);
    expect(v).toEqual({ a: 12345678901234567890n, b: [-9007199254740993n, 1], c: "12345678901234567890", d: 1.5, e: 9007199254740992 });
    expect(stringifyExact(v)).toBe(text);
  });

  it("a string that looks like the marker stays a string; without big integers it is JSON.parse and JSON.stringify", () => {
    // (With a big integer in the text, so that the marked parse runs.)
    const text = '{"s":"\\u0000exact-integer:x:1","n":12345678901234567890}';
    expect(parseJsonExact(text)).toEqual({ s: "\u0000exact-integer:x:1", n: 12345678901234567890n });
    fc.assert(
      fc.property(fc.jsonValue(), (j) => {
        const t = JSON.stringify(j);
        expect(parseJsonExact(t)).toEqual(JSON.parse(t));
        expect(stringifyExact(JSON.parse(t))).toBe(t);
      }),
    );
  });

  it("any integer is written back digit for digit; a BigInt only where a double would change it", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (n) => {
        const text = `[${n.toString()}]`;
        const back = parseJsonExact(text) as [bigint | number];
        expect(stringifyExact(back)).toBe(text);
        expect(typeof back[0]).toBe(String(Number(n)) === n.toString() ? "number" : "bigint");
      }),
    );
    // 21966553759341750 is how a double prints itself (JavaScript wrote it): it travels unchanged as a number.
    // 2^53 + 1 and 2^60 (which a double holds, but prints as 1152921504606847000) would come back changed.
    expect(parseJsonExact("[21966553759341750, 9007199254740993, 1152921504606846976]")).toEqual([21966553759341750, 9007199254740993n, 1152921504606846976n]);
  });
});

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

describe("jsonContainer: a text that holds a JSON object or list", () => {
  it("is judged by one scan: integers exact, the first key named twice, the text whole (brackets at both ends)", () => {
    expect(jsonContainer(' {"a":12345678901234567890,"b":[1]} ')).toEqual({ value: { a: 12345678901234567890n, b: [1] } });
    expect(jsonContainer('{"x":"ada@example.com","x":"ok"}')).toEqual({ value: { x: "ok" }, duplicateKey: "x" });
    expect(jsonContainer('[{"n":12345678901234567890,"y":1,"y":2}]')).toEqual({ value: [{ n: 12345678901234567890n, y: 2 }], duplicateKey: "y" });
    for (const notOne of ['{"a":1} tail', "{not json", '"{}"', "12", "[1,", "", '{"a":1}]']) expect(jsonContainer(notOne), notOne).toBeUndefined();
  });

  it("agrees with parseJsonExact and duplicateKey on any JSON object or list (property)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue())), fc.bigInt({ min: 10n ** 16n, max: 10n ** 25n }), (v, big) => {
        const text = stringifyExact(Array.isArray(v) ? [...v, big] : { ...v, big });
        expect(jsonContainer(text)).toEqual({ value: parseJsonExact(text) });
        const doubled = text.startsWith("{") ? `{"k":1,"k":${text}}` : `[{"k":1,"k":2},${text.slice(1)}`;
        expect(jsonContainer(doubled)?.duplicateKey).toBe(duplicateKey(doubled));
        expect(jsonContainer(doubled)?.duplicateKey).toBe("k");
      }),
    );
  });
});
