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

  it("any integer survives a round trip exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (n) => {
        const back = parseJsonExact(`[${n.toString()}]`) as [bigint | number];
        expect(BigInt(back[0])).toBe(n);
        expect(stringifyExact(back)).toBe(`[${n.toString()}]`);
      }),
    );
  });
});
