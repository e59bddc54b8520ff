/**
 * `npm run sandbox`'s last step (sandbox/sandbox.sh runs it once the cluster is up): the `sandbox` stack
 * from a working copy of Pulumi.sandbox.yaml, as the e2e drives it, then `pulumi up --continue-on-error`.
 * `--fresh` destroys and removes an existing sandbox stack first. Prints the outputs (secrets masked), the
 * working copy's path and the command for a preview by hand; exits non-zero when the up failed.
 */
import * as path from "path";
import { logRoot } from "./lib/env";
import { E2EStack, tail } from "./lib/stack";

async function main(): Promise<number> {
    const fresh = process.argv.includes("--fresh");
    const stack = new E2EStack("sandbox", path.join(logRoot(), "..", "sandbox-stack"));
    if (fresh) await stack.remove();
    await stack.prepare();
    const r = await stack.up("up", { continueOnError: true });
    process.stdout.write(`${tail(r.output, 40)}\n`);
    if (!r.ok) process.stdout.write(`${tail(r.error ?? "", 20)}\n`);
    process.stdout.write("\n== outputs\n");
    for (const [k, v] of Object.entries(await stack.outputs())) {
        process.stdout.write(`${k}: ${v.secret ? "[secret]" : JSON.stringify(v.value)}\n`);
    }
    process.stdout.write(`\nstack config: ${stack.configFile} (a working copy of Pulumi.sandbox.yaml)\n`);
    process.stdout.write(`use: source sandbox/env.sh; pulumi -s sandbox --config-file ${stack.configFile} preview --diff\n`);
    return r.ok ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (e) => {
        process.stderr.write(`${(e as Error).stack ?? e}\n`);
        process.exit(1);
    },
);
