import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { NODE_CERTS, TYPHA_CA, TYPHA_CERTS, buildPdb } from "../builders/pod";
import { buildCertSecret, buildTyphaCaConfigMap, buildTyphaDeployment, buildTyphaService } from "../builders/typha";
import { buildRbac, typhaRules } from "../builders/workloadRbac";
import { CALICO_NODE, TYPHA } from "../facts/names";
import { certHashOutput, withCertHash } from "./certHash";
import type { ServicesEndpoint } from "./servicesEndpoint";

export interface TyphaArgs {
    /** Typha CA certificate PEM, published in the `calico-typha-ca` ConfigMap. Required; no default. */
    caCertPem: pulumi.Input<string>;
    /** Typha server certificate PEM (CN calico-typha). Required; no default. */
    typhaCertPem: pulumi.Input<string>;
    /** Typha server key PEM; stored only as secret data. Required; no default. */
    typhaKeyPem: pulumi.Input<string>;
    /** calico/node client certificate PEM (CN calico-node). Required; no default. */
    nodeCertPem: pulumi.Input<string>;
    /** calico/node client key PEM; stored only as secret data. Required; no default. */
    nodeKeyPem: pulumi.Input<string>;
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
 * Typha with mutual TLS, as the hard way sets it up: CA ConfigMap, both TLS identities as Secrets,
 * its own RBAC, a host-network Deployment with one replica per node at most, a PDB and the Service.
 */
export class Typha extends pulumi.ComponentResource {
    public readonly serviceName: pulumi.Output<string>;
    public readonly replicas: pulumi.Output<number>;
    public readonly image: pulumi.Output<string>;
    /** calico-node's DaemonSet depends on these: Typha ready, and the node's TLS material published. */
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly caConfigMap: k8s.core.v1.ConfigMap;
    public readonly nodeCertsSecret: k8s.core.v1.Secret;
    /** Echoed for calico-node's pod template hash. */
    public readonly caCertPem: pulumi.Output<string>;
    public readonly nodeCertPem: pulumi.Output<string>;

    constructor(name: string, args: TyphaArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico): here they would put both TLS keys in this component's state.
        super("calico:index:Typha", name, {}, opts);
        const { image, replicas, tolerateControlPlane, usePodCidr, metricsPort } = args;
        const parent = { parent: this };

        const ca = buildTyphaCaConfigMap(args.caCertPem);
        this.caConfigMap = new k8s.core.v1.ConfigMap(TYPHA_CA.object, ca, parent);
        const secret = (m: typeof TYPHA_CERTS, app: string, cert: pulumi.Input<string>, key: pulumi.Input<string>) => {
            const s = buildCertSecret(m, app, cert, key);
            // The provider also marks data/stringData as secret outputs; wrapping the input keeps it secret in state too.
            return new k8s.core.v1.Secret(m.object, { ...s, stringData: pulumi.secret(s.stringData) }, parent);
        };
        const typhaCerts = secret(TYPHA_CERTS, TYPHA, args.typhaCertPem, args.typhaKeyPem);
        this.nodeCertsSecret = secret(NODE_CERTS, CALICO_NODE, args.nodeCertPem, args.nodeKeyPem);

        const rbac = buildRbac(TYPHA, typhaRules());
        const sa = new k8s.core.v1.ServiceAccount(TYPHA, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(TYPHA, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(TYPHA, rbac.clusterRoleBinding, { parent: this, dependsOn: [sa, role] });

        const ep = args.servicesEndpoint;
        const hash = certHashOutput({
            [TYPHA_CA.files.ca]: args.caCertPem,
            [TYPHA_CERTS.files.cert]: args.typhaCertPem,
            ...ep?.hashed,
        });
        const d = buildTyphaDeployment({
            image,
            replicas,
            certHash: "",
            tolerateControlPlane,
            usePodCidr,
            metricsPort,
            serviceAccountName: rbac.serviceAccount.metadata.name,
        });
        this.deployment = new k8s.apps.v1.Deployment(
            TYPHA,
            { ...d, spec: { ...d.spec, template: withCertHash(d.spec.template, hash) } },
            // Pods start only with their certs mounted and the permissions to sync.
            { parent: this, dependsOn: [this.caConfigMap, typhaCerts, binding, ...(ep ? [ep.configMap] : [])] },
        );
        new k8s.policy.v1.PodDisruptionBudget(TYPHA, buildPdb(TYPHA), parent);
        const service = new k8s.core.v1.Service(TYPHA, buildTyphaService(), parent);

        this.serviceName = service.metadata.name;
        this.replicas = pulumi.output(replicas);
        this.image = pulumi.output(image);
        this.caCertPem = pulumi.output(args.caCertPem);
        this.nodeCertPem = pulumi.output(args.nodeCertPem);
        this.registerOutputs({ serviceName: this.serviceName, replicas: this.replicas, image: this.image });
    }
}
