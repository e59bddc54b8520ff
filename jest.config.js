/** @type {import('jest').Config} */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // Pulumi mocks keep module-level state: each test file gets its own module registry.
  resetModules: false,
  testTimeout: 60000,
  // Pulumi keeps its runtime store on the global object; jest need not scrub it between files.
  testEnvironmentOptions: { globalsCleanup: "off" },
  transform: {
    "^.+\\.ts$": ["ts-jest", { diagnostics: false }],
  },
};
