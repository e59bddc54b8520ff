import * as pulumi from "@pulumi/pulumi";
import type { WorkloadDatastore } from "../builders/workloadTypes";
import type { CalicoConfig } from "../config/types";
import { after } from "./after";
import { CalicoNode } from "./calicoNode";
import { KubeControllers } from "./kubeControllers";
import type { CalicoPki } from "./pki";
import { Typha } from "./typha";

export interface Workloads {
    typha?: Typha;
    calicoNode: CalicoNode;
    kubeControllers?: KubeControllers;
    /** Stack outputs: Typha service and replicas, images in use, IP autodetection method. */
    outputs: Record<string, pulumi.Input<unknown>>;
}

export interface WorkloadDeps {
    /** The CRDs (Kubernetes datastore): every workload reads Calico resources at start. */
    crds: pulumi.Input<pulumi.Resource[]>;
    /** The CNI plugin on the hosts: kube-controllers is the first pod that needs pod networking. */
    cni: pulumi.Resource[];
    /** Per-host dataplane cleanups, which calico-node's DaemonSet depends on (see CniHost.dataplane). */
    hostCleanups: pulumi.Resource[];
    /** What calico-node waits for besides those: with etcd, the Job that writes the pools (resources/calicoctlApply.ts). */
    calicoNodeWaitsFor?: pulumi.Input<pulumi.Resource>;
}

/**
 * The Calico control plane of part 2, in order: Typha (Kubernetes datastore only), calico/node once
 * Typha is ready, then kube-controllers once nodes network pods. Kept out of components/calico.ts so the
 * top level only wires it in.
 */
export function calicoWorkloads(parent: pulumi.Resource, cfg: CalicoConfig, pki: CalicoPki, deps: WorkloadDeps): Workloads {
    const datastore: WorkloadDatastore =
        cfg.datastore.type === "etcd" ? { type: "etcd", endpoints: cfg.datastore.etcdEndpoints } : { type: "kubernetes" };
    const afterCrds = { parent, ...after(deps.crds) };
    // IPAM that hands out each node's Kubernetes podCIDR: BGP must advertise those, as the operator does.
    const usePodCidr = cfg.cni.ipam !== "calico-ipam";
    // Zero replicas would leave Felix dialling a Service without endpoints: treat it as Typha off.
    const typhaOn = datastore.type === "kubernetes" && cfg.typha.enabled && cfg.typha.replicas !== 0;
    const typha = typhaOn
        ? new Typha(
              "typha",
              {
                  caCertPem: pki.typhaCaCertPem,
                  typhaCertPem: pki.typhaCertPem,
                  typhaKeyPem: pki.typhaKeyPem,
                  nodeCertPem: pki.nodeCertPem,
                  nodeKeyPem: pki.nodeKeyPem,
                  image: cfg.images.typha,
                  nodeCount: cfg.nodes.length,
                  replicas: cfg.typha.replicas,
                  tolerateControlPlane: cfg.typha.tolerateControlPlane,
                  usePodCidr,
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
            usePodCidr,
            mtu: cfg.mtu,
            datastore,
            etcdTls: cfg.secrets.etcd,
            typha,
            waitFor: deps.calicoNodeWaitsFor,
            hostCleanups: deps.hostCleanups,
        },
        afterCrds,
    );
    const kubeControllers = cfg.kubeControllers.enabled
        ? new KubeControllers(
              "kube-controllers",
              { image: cfg.images["kube-controllers"], datastore, etcdCertHash: calicoNode.etcdCertHash },
              {
                  parent,
                  ...after(
                      pulumi.output(deps.crds).apply((crds) => [...crds, ...deps.cni, calicoNode.daemonSet, ...calicoNode.etcdObjects]),
                  ),
              },
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
