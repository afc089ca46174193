import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Three files at once on two cores: the suites mostly wait on local servers (emulators, SQS, dynalite) and on
    // paced calls, so a third file uses what the other two leave (508 s for the suite, against about 660 s with two).
    maxWorkers: 3,
    // The Lambdas' structured logs and EMF metrics would bury the test report; tests that read logs opt in.
    env: {
      POWERTOOLS_LOG_LEVEL: "SILENT",
      POWERTOOLS_METRICS_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  },
});
