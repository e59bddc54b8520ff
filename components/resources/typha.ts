import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { TYPHA_CA, TYPHA_CERTS, buildPdb } from "../builders/pod";
import { buildCertSecret, buildTyphaCaConfigMap, buildTyphaDeployment, buildTyphaService } from "../builders/typha";
import { buildRbac, typhaRules } from "../builders/workloadRbac";
import { TYPHA } from "../facts/names";
import { certHashOutput } from "./certHash";
import type { TlsIdentity } from "./pki";
import type { ServicesEndpoint } from "./servicesEndpoint";

/** The component's name under Calico; the node Secret it once held keeps its state through this (see CalicoNode). */
export const TYPHA_COMPONENT = "typha";

export interface TyphaArgs {
    /** Typha's server identity (CalicoPki.typha): the CA goes in the `calico-typha-ca` ConfigMap, the key only in a Secret. */
    tls: TlsIdentity;
    /** Typha image. */
    image: string;
    /** Replica count (config/derive.ts: `typha.replicas`, or the operator's count for the nodes). */
    replicas: number;
    /** Tolerate the control-plane NoSchedule taint. */
    tolerateControlPlane: boolean;
    /** Per-node podCIDR IPAM (host-local, Spiderpool): sets USE_POD_CIDR. */
    usePodCidr: boolean;
    /** Prometheus port on the node's loopback; 0: off. */
    metricsPort: number;
    /** With the eBPF dataplane: the API server's address, which the pods take as env. */
    servicesEndpoint?: ServicesEndpoint;
}

/**
 * Typha with mutual TLS, as the hard way sets it up: the CA ConfigMap (calico-node mounts it too), its
 * own TLS Secret, its RBAC, a host-network Deployment with one replica per node at most, a PDB and the Service.
 */
export class Typha extends pulumi.ComponentResource {
    public readonly serviceName: pulumi.Output<string>;
    public readonly replicas: pulumi.Output<number>;
    public readonly image: pulumi.Output<string>;
    /** calico-node's DaemonSet depends on these: Typha ready, and the CA it verifies Typha with published. */
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly caConfigMap: k8s.core.v1.ConfigMap;

    constructor(name: string, args: TyphaArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico): here they would put the TLS key in this component's state.
        super("calico:index:Typha", name, {}, opts);
        const { tls, image, replicas, tolerateControlPlane, usePodCidr, metricsPort } = args;
        const parent = { parent: this };

        this.caConfigMap = new k8s.core.v1.ConfigMap(TYPHA_CA.object, buildTyphaCaConfigMap(tls.caPem), parent);
        const s = buildCertSecret(TYPHA_CERTS, TYPHA, tls.certPem, tls.keyPem);
        // The provider also marks data/stringData as secret outputs; wrapping the input keeps it secret in state too.
        const certs = new k8s.core.v1.Secret(TYPHA_CERTS.object, { ...s, stringData: pulumi.secret(s.stringData) }, parent);

        const rbac = buildRbac(TYPHA, typhaRules());
        const sa = new k8s.core.v1.ServiceAccount(TYPHA, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(TYPHA, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(TYPHA, rbac.clusterRoleBinding, { parent: this, dependsOn: [sa, role] });

        const ep = args.servicesEndpoint;
        this.deployment = new k8s.apps.v1.Deployment(
            TYPHA,
            buildTyphaDeployment({
                image,
                replicas,
                certHash: certHashOutput({ [TYPHA_CA.files.ca]: tls.caPem, [TYPHA_CERTS.files.cert]: tls.certPem, ...ep?.hashed }),
                tolerateControlPlane,
                usePodCidr,
                metricsPort,
                serviceAccountName: rbac.serviceAccount.metadata.name,
            }),
            // Pods start only with their certs mounted and the permissions to sync.
            { parent: this, dependsOn: [this.caConfigMap, certs, binding, ...(ep ? [ep.configMap] : [])] },
        );
        new k8s.policy.v1.PodDisruptionBudget(TYPHA, buildPdb(TYPHA), parent);
        const service = new k8s.core.v1.Service(TYPHA, buildTyphaService(), parent);

        this.serviceName = service.metadata.name;
        this.replicas = pulumi.output(replicas);
        this.image = pulumi.output(image);
        this.registerOutputs({ serviceName: this.serviceName, replicas: this.replicas, image: this.image });
    }
}
