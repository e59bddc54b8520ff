import { createHash } from "crypto";
import { stringify } from "yaml";
import type { PoolConfig } from "../config/schema";
import { BgpSettings, RouteReflector, buildBgpConfiguration, buildBgpPeers } from "./bgp";
import { FelixSettings, buildFelixConfiguration } from "./felixSettings";
import { CALICO_V3_API_VERSION, calicoDatastoreName } from "../facts/names";
import { ETCD_MOUNT, etcdEnv, etcdVolume } from "./etcdClient";
import { buildIpPool } from "./ippool";
import { sortKeys } from "./json";
import { ANY_NO_SCHEDULE, CRITICAL_ADDONS_ONLY, LINUX_NODES, container, fileIn, literal, workloadMeta } from "./pod";
import type { ConfigMapOf, Container, ObjectMeta, Toleration, Volume } from "./workloadTypes";

/**
 * Calico's own resources on the etcd datastore. There are no CRDs there: Calico reads IP pools, BGP and
 * Felix settings from etcd, so they go in as `projectcalico.org/v3` documents applied by calicoctl in a
 * Job. The documents are the same objects builders/ippool.ts and builders/bgp.ts make for the
 * Kubernetes datastore, with the v3 API version.
 */

export const RESOURCES_CONFIGMAP = "calico-resources";
export const RESOURCES_KEY = "resources.yaml";
export const RESOURCES_DIR = "/calico-resources";
export const RESOURCES_VOLUME = "calico-resources";
export const CALICOCTL_JOB = "calicoctl-apply";
/**
 * calico/ctl has no shell: every step is calicoctl itself. The v3.32.1 image has it at /usr/bin/calicoctl
 * (calicoctl/Dockerfile); older images' /calicoctl is gone, and a Job naming it fails to start.
 */
export const CALICOCTL_BIN = "/usr/bin/calicoctl";
/** Stack output holding every IPPool and BGPPeer name this stack has applied; the next run prunes from it. */
export const APPLIED_OUTPUT = "calicoctlApplied";

export interface CalicoResourceInputs {
    pools: PoolConfig[];
    /** BGP settings with the external peers. */
    bgp: BgpSettings;
    reflectors: RouteReflector[];
    felix: FelixSettings;
}

/** IPPool and BGPPeer names by kind: what this stack owns in etcd. */
export interface AppliedNames {
    ipPools: string[];
    bgpPeers: string[];
}

/** The v3 form of a v1 custom resource: same metadata and spec; the server-side-apply annotations only mean something to Kubernetes. */
function toV3(crd: Record<string, unknown>): Record<string, unknown> {
    const meta = crd.metadata as ObjectMeta;
    return { ...crd, apiVersion: CALICO_V3_API_VERSION, metadata: { name: meta.name, labels: meta.labels } };
}

/**
 * The documents, in the order calicoctl applies them: pools, then peers, then the BGPConfiguration, so a
 * mesh switched off in the same change goes off after its replacement peers exist (as on Kubernetes).
 * The BGPConfiguration is always there, so turning the mesh back on by removing config takes effect; the
 * FelixConfiguration only when a knob is set.
 */
export function calicoResourceDocuments(inp: CalicoResourceInputs): Record<string, unknown>[] {
    // Code-unit order, not the locale's: the bytes feed the Job's name.
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const pools = [...inp.pools].sort((a, b) => byName(a.name, b.name)).map((p) => toV3(buildIpPool(p)));
    const peers = Object.entries(buildBgpPeers(inp.bgp.peers, inp.reflectors))
        .sort(([a], [b]) => byName(a, b))
        .map(([, p]) => toV3(p));
    const felix = buildFelixConfiguration(inp.felix);
    return [...pools, ...peers, toV3(buildBgpConfiguration(inp.bgp)), ...(felix ? [toV3(felix)] : [])];
}

/** One YAML stream, keys sorted, so the same config always gives the same bytes (and the same Job name). */
export function renderResourceStream(docs: Record<string, unknown>[]): string {
    return docs.map((d) => stringify(sortKeys(d))).join("---\n");
}

export function appliedNames(docs: Record<string, unknown>[]): AppliedNames {
    const named = (kind: string) =>
        docs
            .filter((d) => d.kind === kind)
            .map((d) => (d.metadata as ObjectMeta).name)
            .sort();
    return { ipPools: named("IPPool"), bgpPeers: named("BGPPeer") };
}

/** Reads a previous run's output defensively: a stack without it (first run) prunes nothing. */
export function asAppliedNames(value: unknown): AppliedNames {
    const v = (value ?? {}) as Partial<Record<keyof AppliedNames, unknown>>;
    const names = (x: unknown) => (Array.isArray(x) ? x.filter((n): n is string => typeof n === "string") : []);
    return { ipPools: names(v.ipPools), bgpPeers: names(v.bgpPeers) };
}

/** What this stack applied before and config no longer has: the Job deletes these after applying. */
export function pruneTargets(previous: AppliedNames, current: AppliedNames): AppliedNames {
    const gone = (was: string[], now: string[]) => [...new Set(was)].filter((n) => !now.includes(n)).sort();
    return { ipPools: gone(previous.ipPools, current.ipPools), bgpPeers: gone(previous.bgpPeers, current.bgpPeers) };
}

/**
 * The names to record for the next run: everything ever applied, not only what is configured now. A run
 * right after a removal then computes the same prune list, so its Job is unchanged and `preview` quiet.
 */
export function nextApplied(previous: AppliedNames, current: AppliedNames): AppliedNames {
    const union = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();
    return { ipPools: union(previous.ipPools, current.ipPools), bgpPeers: union(previous.bgpPeers, current.bgpPeers) };
}

/** Short hash of what the Job does; part of its name, so a change runs a new Job and `preview` shows it. */
export function contentHash(stream: string, prune: AppliedNames): string {
    return createHash("sha256")
        .update(stream)
        .update("\0")
        .update(JSON.stringify(sortKeys(prune)))
        .digest("hex")
        .slice(0, 10);
}

export function buildResourcesConfigMap(stream: string): ConfigMapOf<string> {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: workloadMeta(RESOURCES_CONFIGMAP, CALICOCTL_JOB),
        data: { [RESOURCES_KEY]: stream },
    };
}

export interface Job {
    apiVersion: "batch/v1";
    kind: "Job";
    metadata: ObjectMeta;
    spec: {
        backoffLimit: number;
        template: {
            metadata: { labels: Record<string, string> };
            spec: {
                restartPolicy: "Never" | "OnFailure";
                hostNetwork: boolean;
                nodeSelector: Record<string, string>;
                tolerations: Toleration[];
                automountServiceAccountToken: boolean;
                priorityClassName: string;
                initContainers: Container[];
                containers: Container[];
                volumes: Volume[];
            };
        };
    };
}

export interface CalicoctlJobParams {
    /** calico/ctl image. */
    image: string;
    /** contentHash of the stream and the prune list. */
    hash: string;
    prune: AppliedNames;
}

/** During an upgrade the Job runs before calico-node records the new version in ClusterInformation. */
const ALLOW_MISMATCH = "--allow-version-mismatch";

function step(name: string, image: string, args: string[]): Container {
    return container({
        name,
        image,
        command: [CALICOCTL_BIN, ...args],
        env: [literal("DATASTORE_TYPE", calicoDatastoreName("etcd")), ...etcdEnv()],
        volumeMounts: [ETCD_MOUNT, { name: RESOURCES_VOLUME, mountPath: RESOURCES_DIR, readOnly: true }],
    });
}

/**
 * Apply the stream, then delete what this stack applied before and no longer configures. The steps run
 * in order (init containers, the last one as the Job's container). No TTL: the finished Job stays, so
 * Pulumi keeps tracking it and reruns it only when its name (the content hash) changes.
 */
export function buildCalicoctlJob(p: CalicoctlJobParams): Job {
    const labels = { "k8s-app": CALICOCTL_JOB };
    const steps: Container[] = [step("apply", p.image, ["apply", "-f", fileIn(RESOURCES_DIR, RESOURCES_KEY), ALLOW_MISMATCH])];
    if (p.prune.bgpPeers.length > 0) {
        steps.push(step("prune-bgppeers", p.image, ["delete", "bgppeer", ...p.prune.bgpPeers, "--skip-not-exists", ALLOW_MISMATCH]));
    }
    if (p.prune.ipPools.length > 0) {
        steps.push(step("prune-ippools", p.image, ["delete", "ippool", ...p.prune.ipPools, "--skip-not-exists", ALLOW_MISMATCH]));
    }
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: workloadMeta(`${CALICOCTL_JOB}-${p.hash}`, CALICOCTL_JOB),
        spec: {
            backoffLimit: 4,
            template: {
                metadata: { labels },
                spec: {
                    restartPolicy: "Never",
                    // It runs before calico-node, when no node has pod networking yet: host network, and
                    // tolerate the not-ready taint those nodes carry.
                    hostNetwork: true,
                    nodeSelector: { ...LINUX_NODES },
                    tolerations: [ANY_NO_SCHEDULE, CRITICAL_ADDONS_ONLY],
                    // calicoctl talks to etcd only.
                    automountServiceAccountToken: false,
                    priorityClassName: "system-cluster-critical",
                    initContainers: steps.slice(0, -1),
                    containers: steps.slice(-1),
                    volumes: [etcdVolume(0o400), { name: RESOURCES_VOLUME, configMap: { name: RESOURCES_CONFIGMAP } }],
                },
            },
        },
    };
}
