export * from "./config.js";
export * from "./types.js";
export * from "./profile.js";
export * from "./fingerprint.js";
export * from "./plan.js";
export * from "./outcomes.js";
