import * as pulumi from "@pulumi/pulumi";
import type { InstallCniParams } from "../builders/installCni";
import type { CalicoConfig } from "../config/types";
import type { CalicoImage } from "../versions";
import { after } from "./after";
import { CalicoNode } from "./calicoNode";
import type { ClientDatastore } from "./etcdClient";
import { KubeControllers } from "./kubeControllers";
import type { CalicoPki } from "./pki";
import { servicesEndpoint } from "./servicesEndpoint";
import { TYPHA_COMPONENT, Typha } from "./typha";

/** Stack outputs of the workloads: Typha service and replicas, images in use, IP autodetection method. */
export interface WorkloadOutputs {
    /** Empty without Typha. */
    typhaServiceName: pulumi.Input<string>;
    /** 0 without Typha. */
    typhaReplicas: pulumi.Input<number>;
    images: Partial<Record<CalicoImage, string>>;
    ipAutodetectionMethod: string;
}

export interface Workloads {
    typha?: Typha;
    calicoNode: CalicoNode;
    kubeControllers?: KubeControllers;
    outputs: WorkloadOutputs;
}

export interface WorkloadDeps {
    /** The CRDs (Kubernetes datastore): every workload reads Calico resources at start. */
    crds: pulumi.Input<pulumi.Resource[]>;
    /** The CNI plugin on the hosts: kube-controllers is the first pod that needs pod networking. */
    cni: pulumi.Resource[];
    /** `cni.delivery: daemonset`: calico-node's install-cni init container. */
    installCni?: InstallCniParams;
    /** The Kubernetes API, or etcd with the client Secret and ConfigMap calico-node and kube-controllers mount. */
    datastore: ClientDatastore;
    /** The pools calico-node must find at start, or it would create Calico's default pool: IpPools, or the calicoctl Job. */
    pools: pulumi.Resource;
    /** See CalicoNodeArgs.hostInputs: the destroy order of calico-node and the hosts' cleanup. */
    hostInputs: pulumi.Resource[];
}

/**
 * The Calico control plane of part 2, in order: Typha (Kubernetes datastore only), calico/node once
 * Typha is ready, then kube-controllers once nodes network pods. Kept out of components/calico.ts so the
 * top level only wires it in.
 */
export function calicoWorkloads(parent: pulumi.Resource, cfg: CalicoConfig, pki: CalicoPki, deps: WorkloadDeps): Workloads {
    const afterCrds = { parent, ...after(deps.crds) };
    const endpoint = cfg.calicoNode.dataplane === "bpf" ? servicesEndpoint(cfg.cluster.apiServer, afterCrds) : undefined;
    // Typha runs only on the Kubernetes datastore; config/derive.ts decides `enabled` with that.
    const typha = cfg.typha.enabled
        ? new Typha(
              TYPHA_COMPONENT,
              {
                  tls: pki.typha,
                  image: cfg.images.typha,
                  replicas: cfg.typha.replicas,
                  tolerateControlPlane: cfg.typha.tolerateControlPlane,
                  usePodCidr: cfg.usePodCidr,
                  metricsPort: cfg.typha.metricsPort,
                  servicesEndpoint: endpoint,
              },
              afterCrds,
          )
        : undefined;
    const calicoNode = new CalicoNode(
        "calico-node",
        {
            image: cfg.images.node,
            backend: cfg.calicoNode.backend,
            ipAutodetectionMethod: cfg.calicoNode.ipAutodetectionMethod,
            ipv6: cfg.calicoNode.ipv6,
            ipv6AutodetectionMethod: cfg.calicoNode.ipv6AutodetectionMethod,
            dataplane: { dataplane: cfg.calicoNode.dataplane, kubeProxy: cfg.calicoNode.kubeProxy },
            usePodCidr: cfg.usePodCidr,
            mtu: cfg.mtu,
            datastore:
                deps.datastore.type === "etcd"
                    ? deps.datastore
                    : { type: "kubernetes", typha: typha ? { service: typha, tls: pki.node } : undefined },
            installCni: deps.installCni,
            servicesEndpoint: endpoint,
            waitFor: deps.pools,
            hostInputs: deps.hostInputs,
        },
        afterCrds,
    );
    const etcdObjects = deps.datastore.type === "etcd" ? deps.datastore.client.objects : [];
    const kubeControllers = cfg.kubeControllers.enabled
        ? new KubeControllers(
              "kube-controllers",
              { image: cfg.images["kube-controllers"], datastore: deps.datastore, servicesEndpoint: endpoint },
              { parent, ...after(pulumi.output(deps.crds).apply((crds) => [...crds, ...deps.cni, calicoNode.daemonSet, ...etcdObjects])) },
          )
        : undefined;

    return {
        typha,
        calicoNode,
        kubeControllers,
        outputs: {
            typhaServiceName: typha ? typha.serviceName : "",
            typhaReplicas: typha ? typha.replicas : 0,
            images: {
                node: cfg.images.node,
                ...(typha ? { typha: cfg.images.typha } : {}),
                ...(kubeControllers ? { "kube-controllers": cfg.images["kube-controllers"] } : {}),
            },
            ipAutodetectionMethod: cfg.calicoNode.ipAutodetectionMethod,
        },
    };
}
