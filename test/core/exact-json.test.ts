import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJsonExact, stringifyExact } from "../../functions/core/exact-json.js";

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
