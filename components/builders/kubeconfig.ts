import { stringify } from "yaml";
import { sortKeys } from "./json";

export interface ClientKubeconfigOptions {
    server: string;
    caPem: string;
    certPem: string;
    keyPem: string;
    user: string;
    cluster: string;
    context: string;
}

function b64(s: string): string {
    return Buffer.from(s, "utf8").toString("base64");
}

/** A kubeconfig that authenticates with a client certificate, with everything embedded (no file refs). */
export function buildClientKubeconfig(o: ClientKubeconfigOptions): Record<string, unknown> {
    return {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: o.cluster, cluster: { server: o.server, "certificate-authority-data": b64(o.caPem) } }],
        users: [{ name: o.user, user: { "client-certificate-data": b64(o.certPem), "client-key-data": b64(o.keyPem) } }],
        contexts: [{ name: o.context, context: { cluster: o.cluster, user: o.user } }],
        "current-context": o.context,
        preferences: {},
    };
}

export function renderClientKubeconfig(o: ClientKubeconfigOptions): string {
    return stringify(sortKeys(buildClientKubeconfig(o)));
}
