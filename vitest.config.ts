import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Both cores: the suites are mostly waiting on local servers (emulators, SQS, dynalite), so two files at once
    // take far less than twice one's time (vitest's default leaves one core idle).
    maxWorkers: 3,
    // The Lambdas' structured logs and EMF metrics would bury the test report; tests that read logs opt in.
    env: {
      POWERTOOLS_LOG_LEVEL: "SILENT",
      POWERTOOLS_METRICS_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  },
});
