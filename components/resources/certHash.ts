import * as pulumi from "@pulumi/pulumi";
import { podTemplateHash } from "../builders/podHash";

/**
 * Hash of the certificates a pod mounts, as an Output: the builders put it in the pod template, whose
 * other fields stay known at preview time even before the certificates exist. Certificates may arrive as secrets (etcd material
 * comes from secret config); a sha256 of a certificate reveals nothing, and unsecreting it keeps the
 * whole pod template readable in diffs. Callers pass certificates only, never keys.
 */
export function certHashOutput(material: Record<string, pulumi.Input<string>>): pulumi.Output<string> {
    return pulumi.unsecret(pulumi.output(material).apply((m) => podTemplateHash(m as Record<string, string>)));
}
