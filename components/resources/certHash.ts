import * as pulumi from "@pulumi/pulumi";
import { CERT_HASH_ANNOTATION, podTemplateHash } from "../builders/podHash";
import type { PodTemplate } from "../builders/workloadTypes";

/**
 * Hash of the certificates a pod mounts, as an Output. Certificates may arrive as secrets (etcd material
 * comes from secret config); a sha256 of a certificate reveals nothing, and unsecreting it keeps the
 * whole pod template readable in diffs. Callers pass certificates only, never keys.
 */
export function certHashOutput(material: Record<string, pulumi.Input<string>>): pulumi.Output<string> {
    return pulumi.unsecret(pulumi.output(material).apply((m) => podTemplateHash(m as Record<string, string>)));
}

/**
 * The builder's pod template with the hash annotation filled from an Output, so every other field of
 * the spec stays known at preview time even before the certificates exist.
 */
export function withCertHash(template: PodTemplate, hash: pulumi.Input<string>) {
    return {
        ...template,
        metadata: { ...template.metadata, annotations: { ...template.metadata.annotations, [CERT_HASH_ANNOTATION]: hash } },
    };
}
