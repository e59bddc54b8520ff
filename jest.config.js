/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // Pulumi mocks keep module-level state: each test file gets its own module registry.
  resetModules: false,
  testTimeout: 60000,
  // Every core: jest's default leaves one to its parent process, which only waits (1 worker on 2 cores).
  maxWorkers: "100%",
  // Pulumi keeps its runtime store on the global object; jest need not scrub it between files.
  testEnvironmentOptions: { globalsCleanup: "off" },
  // Transpile only: the type check is `npm run typecheck` (CI runs it before the tests).
  transform: {
    "^.+\\.ts$": [
      "@swc/jest",
      {
        jsc: { parser: { syntax: "typescript", decorators: true }, target: "es2022" },
        module: { type: "commonjs" },
      },
    ],
  },
};
