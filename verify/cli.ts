import { MAX_SAMPLE_NODES } from "../components/config/rules/verify";
import { USAGE, parseArgs } from "./args";
import { Kube } from "./kube";
import { exitCode, renderJson, renderTable } from "./report";
import { runChecks } from "./run";
import { loadStackConfig, loadStackOutputs } from "./stack";

/** `npm run verify`: checks the live cluster of a stack (see docs/verify.md). */
async function main(): Promise<number> {
    const parsed = parseArgs(process.argv.slice(2));
    if (!parsed.ok) {
        console.error(`${parsed.error}\n${USAGE}`);
        return 2;
    }
    const a = parsed.args;
    if (a.help) {
        console.log(USAGE);
        return 0;
    }
    if (a.sample !== undefined && a.sample > MAX_SAMPLE_NODES) {
        console.error(`--sample ${a.sample}: at most ${MAX_SAMPLE_NODES} (each probe's results must fit its 4 KiB termination message)`);
        return 2;
    }
    // Progress goes to stderr, so --json's stdout stays one document.
    const log = (line: string) => console.error(`verify: ${line}`);
    const cleanups = new Map<string, () => Promise<void>>();
    let interrupted = false;
    process.on("SIGINT", () => {
        if (interrupted) process.exit(130);
        interrupted = true;
        log("interrupted: removing the probe pods and node status requests");
        void Promise.allSettled([...cleanups.values()].map((f) => f())).then(() => process.exit(130));
    });
    const src = { stack: a.stack, configFile: a.configFile };
    const [cfg, outputs] = await Promise.all([loadStackConfig(src), loadStackOutputs(src)]);
    const results = await runChecks(cfg, outputs, new Kube(), {
        perf: a.perf,
        sample: a.sample,
        log,
        onCleanup: (n, f) => cleanups.set(n, f),
    });
    console.log(a.json ? renderJson(a.stack ?? "(selected)", results) : renderTable(results));
    return exitCode(results);
}

main().then(
    (code) => process.exit(code),
    (e: unknown) => {
        console.error(`verify: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(2);
    },
);
