import * as fs from "fs";
import * as path from "path";

/**
 * The shell programs the probe pods run, kept as files beside this one (`scripts/`): a probe runs its
 * TASKS and writes its results as JSON to its termination message; a target is pinged and, with --perf,
 * serves iperf3 and HTTP.
 */

/** Ports the targets serve on with --perf: unusual ones, since host-network targets share the node's ports. */
export const IPERF_PORT = 15201;
export const HTTP_PORT = 18080;

const script = (name: string) => fs.readFileSync(path.join(__dirname, "scripts", name), "utf8");

export const PROBE_SCRIPT = script("probe.sh");
export const TARGET_SCRIPT = script("target.sh");
