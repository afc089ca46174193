export * from "./client.js";
export * from "./errors.js";
export * from "./pacer.js";
export * from "./password.js";
