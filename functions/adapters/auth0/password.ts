import { randomInt } from "node:crypto";

const LOWER = "abcdefghijkmnopqrstuvwxyz";
const UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS = "23456789";
const SPECIAL = "!@#$%^&*-_=+";
const ALL = LOWER + UPPER + DIGITS + SPECIAL;

/**
 * A password nobody will ever be told: users set their own through a password-change ticket. Cryptographically
 * random (crypto.randomInt), long, and meeting Auth0's strictest policy (all four character classes, no three
 * identical characters in a row). Never logged, never stored.
 */
export function randomPassword(length = 32): string {
  if (length < 12) throw new RangeError("password length must be at least 12");
  const chars = [LOWER, UPPER, DIGITS, SPECIAL].map((set) => set[randomInt(set.length)] as string);
  while (chars.length < length) {
    const c = ALL[randomInt(ALL.length)] as string;
    const n = chars.length;
    if (n >= 2 && chars[n - 1] === c && chars[n - 2] === c) continue;
    chars.push(c);
  }
  // Fisher-Yates with a cryptographic source, so the class-guaranteeing first four are not at fixed places.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  const out = chars.join("");
  return /(.)\1\1/.test(out) ? randomPassword(length) : out;
}
