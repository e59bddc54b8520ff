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

/** Where the certificate's value starts: everything before it is public, and the same whatever the cert and key. */
const CERT_FIELD = "client-certificate-data: ";

/**
 * The kubeconfig in two parts whose concatenation is renderClientKubeconfig's text: the head, public and the
 * same for every node (server, cluster CA, names: keys sort, so `users` comes last and its certificate first),
 * and the rest, from the client certificate on, which holds the key. The SSH install takes the head from
 * the upload, checked by sha256, and only the rest on its stdin: the CA is then not kept, encrypted, in
 * every node's state twice.
 */
export function clientKubeconfigParts(o: ClientKubeconfigOptions): { head: string; rest: string } {
    const text = renderClientKubeconfig(o);
    const at = text.indexOf(CERT_FIELD) + CERT_FIELD.length;
    // The split relies on the layout above; a YAML library that put anything else after it would break it.
    if (at < CERT_FIELD.length || !text.startsWith(b64(o.certPem), at) || text.indexOf(CERT_FIELD, at) !== -1)
        throw new Error("client kubeconfig: the client certificate is not where its head ends");
    return { head: text.slice(0, at), rest: text.slice(at) };
}

/** The head alone (see clientKubeconfigParts), for a caller that does not have the certificate yet. */
export function clientKubeconfigHead(o: Omit<ClientKubeconfigOptions, "certPem" | "keyPem">): string {
    return clientKubeconfigParts({ ...o, certPem: "-", keyPem: "-" }).head;
}
