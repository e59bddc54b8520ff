import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CALICO_NODE, buildCalicoNodeDaemonSet } from "../builders/calicoNode";
import { ETCD_ENDPOINTS_KEY, ETCD_FILES, buildCalicoConfig, buildEtcdSecret } from "../builders/etcdClient";
import { NODE_CERTS, TYPHA, TYPHA_CA } from "../builders/typha";
import { buildRbac, calicoNodeRules } from "../builders/workloadRbac";
import type { WorkloadDatastore } from "../builders/workloadTypes";
import type { Backend } from "../config/schema";
import { CALICO_VERSION, DEFAULT_REGISTRY, calicoImages } from "../versions";
import { certHashOutput, withCertHash } from "./certHash";
import type { Typha } from "./typha";

/** etcd client TLS material; all three stay Pulumi secrets. */
export interface EtcdClientTls {
    caCert: pulumi.Input<string>;
    cert: pulumi.Input<string>;
    key: pulumi.Input<string>;
}

export interface CalicoNodeArgs {
    /** calico/node image. Defaults to quay.io/calico/node at the pinned Calico version. */
    image?: string;
    /** Networking backend. Defaults to "bird". */
    backend?: Backend;
    /** IP_AUTODETECTION_METHOD. Defaults to "first-found". */
    ipAutodetectionMethod?: string;
    /** Enable IPv6 in Felix and autodetect an IPv6 address. Defaults to false. */
    ipv6?: boolean;
    /** Per-node podCIDR IPAM (host-local, Spiderpool): sets USE_POD_CIDR. Defaults to false. */
    usePodCidr?: boolean;
    /** Pod MTU, also used for the tunnel devices. Defaults to 1500. */
    mtu?: number;
    /** Datastore Felix and confd use. Defaults to the Kubernetes API. */
    datastore?: WorkloadDatastore;
    /** etcd client TLS; required with the etcd datastore. Defaults to none. */
    etcdTls?: EtcdClientTls;
    /** Typha to connect through with mutual TLS; the DaemonSet waits for it to be ready. Defaults to none (Felix talks to the datastore directly). */
    typha?: Typha;
    /** Something the DaemonSet waits for, e.g. the Job that writes the IP pools to etcd. Defaults to none. */
    waitFor?: pulumi.Input<pulumi.Resource>;
    /** Per-host dataplane cleanups (CniHost.dataplane): on destroy they run once the DaemonSet is gone. */
    hostCleanups?: pulumi.Resource[];
}

/** calico/node on every node: RBAC, the DaemonSet and, with etcd, the client Secret and ConfigMap. */
export class CalicoNode extends pulumi.ComponentResource {
    public readonly daemonSet: k8s.apps.v1.DaemonSet;
    public readonly image: pulumi.Output<string>;
    public readonly ipAutodetectionMethod: pulumi.Output<string>;
    /** Hash of the etcd client certs (undefined on Kubernetes), for kube-controllers' pod template. */
    public readonly etcdCertHash?: pulumi.Output<string>;
    /** What kube-controllers needs before it starts with etcd: the client Secret and ConfigMap. */
    public readonly etcdObjects: pulumi.Resource[] = [];

    constructor(name: string, args: CalicoNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        // Registered inputs land in state: the etcd client material goes in as a secret. waitFor stays out:
        // it may wait on this component's own etcd Secret, and inputs are resolved before registration.
        super("calico:index:CalicoNode", name, { ...args, etcdTls: args.etcdTls && pulumi.secret(args.etcdTls), waitFor: undefined }, opts);
        const image = args.image ?? calicoImages(CALICO_VERSION, DEFAULT_REGISTRY).node;
        const backend = args.backend ?? "bird";
        const ipAutodetectionMethod = args.ipAutodetectionMethod ?? "first-found";
        const ipv6 = args.ipv6 ?? false;
        const usePodCidr = args.usePodCidr ?? false;
        const mtu = args.mtu ?? 1500;
        const datastore = args.datastore ?? { type: "kubernetes" };
        const typha = args.typha;
        if (datastore.type === "etcd" && typha) throw new Error("CalicoNode: Typha is not used with the etcd datastore");
        const parent = { parent: this };

        const rbac = buildRbac(CALICO_NODE, calicoNodeRules(datastore.type));
        const sa = new k8s.core.v1.ServiceAccount(CALICO_NODE, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(CALICO_NODE, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(CALICO_NODE, rbac.clusterRoleBinding, { parent: this, dependsOn: [sa, role] });

        const material: Record<string, pulumi.Input<string>> = {};
        const dependsOn: pulumi.Resource[] = [binding];
        if (typha) {
            material[TYPHA_CA.files.ca] = typha.caCertPem;
            material[NODE_CERTS.files.cert] = typha.nodeCertPem;
            // The provider waits for the Deployment's rollout, so Typha is ready before Felix dials it.
            dependsOn.push(typha.deployment, typha.caConfigMap, typha.nodeCertsSecret);
        }
        if (datastore.type === "etcd") {
            const tls = args.etcdTls;
            if (!tls) throw new Error("CalicoNode: the etcd datastore needs etcdTls (calico:etcdCaCert, etcdCert, etcdKey)");
            const cm = buildCalicoConfig(datastore.endpoints);
            const s = buildEtcdSecret({ ca: tls.caCert, cert: tls.cert, key: tls.key });
            const configMap = new k8s.core.v1.ConfigMap(cm.metadata.name, cm, parent);
            const secret = new k8s.core.v1.Secret(s.metadata.name, { ...s, stringData: pulumi.secret(s.stringData) }, parent);
            this.etcdObjects.push(configMap, secret);
            dependsOn.push(configMap, secret);
            // Endpoints are read from the ConfigMap at start, so a change must roll the pods too.
            const etcdMaterial = {
                [ETCD_FILES.ca]: tls.caCert,
                [ETCD_FILES.cert]: tls.cert,
                [ETCD_ENDPOINTS_KEY]: cm.data[ETCD_ENDPOINTS_KEY],
            };
            Object.assign(material, etcdMaterial);
            this.etcdCertHash = certHashOutput(etcdMaterial);
        }

        const ds = buildCalicoNodeDaemonSet({
            image,
            backend,
            ipAutodetectionMethod,
            ipv6,
            usePodCidr,
            mtu,
            datastore,
            typhaServiceName: typha ? TYPHA : undefined,
            certHash: "",
            serviceAccountName: rbac.serviceAccount.metadata.name,
        });
        const template = withCertHash(ds.spec.template, certHashOutput(material));
        this.daemonSet = new k8s.apps.v1.DaemonSet(
            CALICO_NODE,
            { ...ds, spec: { ...ds.spec, template } },
            { parent: this, dependsOn: [...dependsOn, ...(args.hostCleanups ?? []), ...(args.waitFor ? [args.waitFor] : [])] },
        );

        this.image = pulumi.output(image);
        this.ipAutodetectionMethod = pulumi.output(ipAutodetectionMethod);
        this.registerOutputs({ image: this.image, ipAutodetectionMethod: this.ipAutodetectionMethod });
    }
}
