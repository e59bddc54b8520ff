import * as calico from "./checks/calico";
import { destroyCleanCheck, pingCheck } from "./checks/common";
import * as dataplane from "./checks/dataplane";
import * as day2 from "./checks/day2";
import * as ds from "./checks/ds";
import * as etcd from "./checks/etcd";
import * as hostlocal from "./checks/hostlocal";
import * as install from "./checks/install";
import * as rr from "./checks/rr";
import * as verify from "./checks/verify";
import * as vxlan from "./checks/vxlan";
import type { Style } from "./lib/types";

/**
 * The install styles the e2e runs, in run order: each its own stack from a working copy of a committed
 * stack file (Pulumi.sandbox.yaml unless `base` says otherwise) with the style's edits, and the checks
 * that apply to it, in order. Adding a style is one row here, plus any new checks.
 */
export const STYLES: Style[] = [
    {
        name: "install",
        stack: "sandbox",
        title: "the committed sandbox stack's whole lifecycle, on real Calico",
        checks: [
            install.upFromScratch,
            install.nodeFiles,
            install.cniIdentity,
            install.workloadTls,
            install.noChanges,
            calico.calicoNodeReady,
            calico.bgpMesh,
            calico.podNetwork,
            install.enablePool,
            calico.secondPool,
            // With all three nodes, before one is removed.
            install.sshFault,
            install.removeNode,
            install.stateSecrets,
            install.destroyAll,
        ],
    },
    {
        name: "rr",
        stack: "sandbox-rr",
        title: "route reflectors under the traffic probe: mesh -> reflector in -> mesh off",
        config: (c) => c.set("calicoNode", { backend: "bird" }),
        checks: rr.checks,
    },
    {
        name: "ds",
        stack: "sandbox-ds",
        title: "cni.delivery: ssh -> daemonset -> a node in no config joins -> ssh",
        checks: ds.checks,
        cleanup: ds.cleanup,
    },
    {
        name: "verify",
        stack: "sandbox-verify",
        title: "npm run verify: healthy, then broken three ways",
        checks: verify.checks,
    },
    {
        name: "nft",
        stack: "sandbox-nft",
        title: "host preflight, then dual-stack on the nftables dataplane",
        setup: dataplane.setup,
        config: dataplane.config,
        checks: dataplane.checks,
        cleanup: dataplane.cleanup,
    },
    {
        name: "vxlan",
        stack: "sandbox-vxlan",
        title: "VXLAN pools and backend",
        config: (c) => {
            for (const p of c.get("pools") as { name: string }[]) c.item("pools", p.name).set("vxlanMode", "Always");
            c.set("calicoNode", { backend: "vxlan" });
        },
        checks: [vxlan.up, vxlan.mtuNoBird, pingCheck(), vxlan.throughVxlan, destroyCleanCheck()],
    },
    {
        name: "etcd",
        stack: "sandbox-etcd",
        title: "the etcd datastore, on a TLS-only etcd of its own",
        setup: etcd.setup,
        config: (c, shared) => c.set("datastore", { type: "etcd", etcdEndpoints: [shared.get("etcdUrl") as string] }),
        checks: etcd.checks,
        cleanup: etcd.cleanup,
    },
    {
        name: "hostlocal",
        stack: "sandbox-hostlocal",
        title: "host-local IPAM on the nodes' podCIDRs",
        setup: hostlocal.setup,
        config: hostlocal.config,
        checks: hostlocal.checks,
        cleanup: hostlocal.cleanup,
    },
    {
        // Last: it deletes and re-creates a Node object.
        name: "day2",
        stack: "sandbox-day2",
        title: "day-2 changes under the traffic probe",
        checks: day2.checks,
    },
];
