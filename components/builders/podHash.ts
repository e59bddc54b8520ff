import { createHash } from "crypto";
import { stableJson } from "./json";

/**
 * Pod template annotation holding a hash of the certificates and CA a pod mounts. Kubernetes rolls a
 * Deployment or DaemonSet only when its pod template changes; a renewed cert changes only a Secret, so
 * the hash carries the change into the template and `pulumi up` rolls the pods.
 */
export const CERT_HASH_ANNOTATION = "calico.hardway/cert-hash";

/**
 * sha256 over the named material (file name to PEM, or any value whose change must roll the pods).
 * Pass certificates, not private keys: a new key always comes with a new certificate, and leaving keys
 * out keeps the hash (and so the whole pod template) free of secret inputs.
 */
export function podTemplateHash(material: Record<string, string>): string {
    return createHash("sha256").update(stableJson(material)).digest("hex");
}
