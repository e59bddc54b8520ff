import { skipUnreadPromiseStacks } from "../components/promiseStacks";

// The SDK's own wrapper, as every resource registration uses it (internal: not in its type declarations).
const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable") as {
    debuggablePromise: <T>(p: Promise<T>, ctx: string) => Promise<T>;
};

/** The stack the SDK keeps on a promise it wraps (on the promise it was given). */
function sdkPromiseStack(): string {
    const given = Promise.resolve(2) as Promise<number> & { _debugStackTrace?: string };
    void debuggablePromise(given, "promiseStacks test");
    return given._debugStackTrace ?? "<none>";
}
function namedThrower(): string {
    return new Error("boom").stack ?? "";
}

/** Stands in for ts-node's source-map-support: formats every stack, and records that it did. */
const formatted: string[] = [];
const mapper = (err: Error, frames: NodeJS.CallSite[]): string => {
    const s = `${String(err)}${frames.map((f) => `\n    at ${f.getFunctionName() ?? "<anonymous>"}`).join("")}`;
    formatted.push(s);
    return s;
};

describe("skipUnreadPromiseStacks", () => {
    let saved: typeof Error.prepareStackTrace;
    beforeEach(() => {
        saved = Error.prepareStackTrace;
        Error.prepareStackTrace = mapper;
        formatted.length = 0;
    });
    afterEach(() => {
        Error.prepareStackTrace = saved;
    });

    it("formats the SDK's promise stacks before, and leaves them empty after without calling the mapper", () => {
        expect(sdkPromiseStack()).toMatch(/^Error\n {4}at debuggablePromise\n/);
        expect(formatted).toHaveLength(1);
        skipUnreadPromiseStacks({});
        expect(sdkPromiseStack()).toBe("");
        expect(formatted).toHaveLength(1);
    });

    it("keeps them when the leak report is on (PULUMI_DEBUG_PROMISE_LEAKS)", () => {
        skipUnreadPromiseStacks({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
        expect(Error.prepareStackTrace).toBe(mapper);
        expect(sdkPromiseStack()).toMatch(/^Error\n {4}at debuggablePromise\n/);
    });

    it("hands every other stack to the mapper unchanged", () => {
        const before = namedThrower();
        skipUnreadPromiseStacks({});
        const after = namedThrower();
        expect(after).toBe(before);
        expect(after).toMatch(/^Error: boom\n {4}at namedThrower\n/);
        expect(formatted).toEqual([before, after]);
    });

    it("wraps once however often it is called", () => {
        skipUnreadPromiseStacks({});
        const first = Error.prepareStackTrace;
        expect(first).not.toBe(mapper);
        skipUnreadPromiseStacks({});
        expect(Error.prepareStackTrace).toBe(first);
    });

    it("installs nothing when Node formats stacks itself (an override would bypass its source maps)", () => {
        (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
        skipUnreadPromiseStacks({});
        expect(Error.prepareStackTrace).toBeUndefined();
    });
});
