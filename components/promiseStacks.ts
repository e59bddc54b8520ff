/**
 * The Pulumi Node.js SDK (3.270 to at least 3.276) records `new Error().stack` on every promise it makes
 * (`debuggablePromise` in runtime/debuggable.js), about a dozen per resource. It reads them only for the
 * leak report that `PULUMI_DEBUG_PROMISE_LEAKS` turns on, but `.stack` is formatted eagerly, and under
 * ts-node (as `pulumi up` runs this program) source-map-support maps every frame of every one: a large
 * share of the program's CPU on a large stack (docs/performance.md).
 *
 * `skipUnreadPromiseStacks` leaves those stacks empty unless the leak report is on. Every other stack,
 * the program's own errors and the SDK's resource source positions among them, is formatted as before.
 */

const DEBUGGABLE = "debuggablePromise";
const MARK = Symbol.for("calico-hard-way.skipUnreadPromiseStacks");

type Prepare = (err: Error, frames: NodeJS.CallSite[]) => unknown;

/**
 * Installs the filter around the current `Error.prepareStackTrace` (ts-node's source-map-support); a
 * second call does nothing. Without one, Node formats stacks itself (and maps them with
 * `--enable-source-maps`), which an override would bypass: then nothing is installed.
 */
export function skipUnreadPromiseStacks(env: NodeJS.ProcessEnv = process.env): void {
    if (env.PULUMI_DEBUG_PROMISE_LEAKS) return;
    const current = Error.prepareStackTrace as (Prepare & { [MARK]?: true }) | undefined;
    if (current === undefined || current[MARK]) return;
    const filtered: Prepare & { [MARK]?: true } = (err, frames) => {
        const top = frames[0];
        if (top !== undefined && top.getFunctionName() === DEBUGGABLE && (top.getFileName() ?? "").includes("@pulumi/pulumi")) return "";
        return current(err, frames);
    };
    filtered[MARK] = true;
    Error.prepareStackTrace = filtered;
}
