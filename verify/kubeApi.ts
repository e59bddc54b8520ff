import type { Kube } from "./kube";

/**
 * What the checks need of the cluster, apart from the client: the Kube class, or a stand-in in tests
 * (which so never load @kubernetes/client-node), a clock, and error texts.
 */
export type KubeApi = Pick<
    Kube,
    | "context"
    | "nodes"
    | "pods"
    | "events"
    | "configMapKey"
    | "secretKey"
    | "listCluster"
    | "listNamespaced"
    | "createCluster"
    | "deleteCluster"
    | "networkPolicies"
    | "ensureNamespace"
    | "deleteNamespace"
    | "createPod"
    | "deletePods"
>;

/** Time, injectable so tests need not wait out real timeouts. */
export interface Clock {
    now(): number;
    sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** The HTTP status of a failed API call (the client's ApiException carries `code`). */
export function statusOf(e: unknown): number | undefined {
    const code = (e as { code?: unknown } | null)?.code;
    return typeof code === "number" ? code : undefined;
}

/** A short reason for a failed call, without the response body's noise. */
export function errorText(e: unknown): string {
    const code = statusOf(e);
    if (code !== undefined) {
        const body = (e as { body?: unknown }).body;
        const msg =
            typeof body === "string" ? (safeJson(body)?.message ?? body) : ((body as { message?: string } | undefined)?.message ?? "");
        return `HTTP ${code}${msg ? `: ${String(msg).slice(0, 200)}` : ""}`;
    }
    return e instanceof Error ? e.message : String(e);
}

function safeJson(s: string): { message?: string } | undefined {
    try {
        return JSON.parse(s) as { message?: string };
    } catch {
        return undefined;
    }
}
