/** The e2e (`npm run e2e`) and the probe's self-test (`npm run test:probe`): real processes, one at a time. */
const swc = (syntax) => ["@swc/jest", { jsc: { parser: { syntax, decorators: true }, target: "es2022" }, module: { type: "commonjs" } }];
/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  testMatch: ["<rootDir>/test/e2e/**/*.e2e.ts"],
  // Every wait inside is bounded by the check itself.
  testTimeout: 3600000,
  maxWorkers: 1,
  verbose: true,
  // @kubernetes/client-node 1.x and some of its dependencies are ES modules only: compiled to CommonJS too.
  transform: { "^.+\\.ts$": swc("typescript"), "^.+\\.m?js$": swc("ecmascript") },
  transformIgnorePatterns: ["/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|jsonpath-plus|rfc4648)/)"],
};
