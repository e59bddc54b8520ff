/** The e2e (`npm run e2e`) and the probe's self-test (`npm run test:probe`): real processes, one at a time. */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  testMatch: ["<rootDir>/test/e2e/**/*.e2e.ts"],
  // Every wait inside is bounded by the check itself.
  testTimeout: 3600000,
  maxWorkers: 1,
  // The checks print their evidence as they go; jest's console wrapper would add a stack to each line.
  verbose: true,
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
