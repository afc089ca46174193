#!/usr/bin/env node
// `npx auth0-sync`: runs the TypeScript CLI through tsx's loader, so the repository needs no build step.
import { register } from "tsx/esm/api";

register();
await import("./auth0-sync.ts");
