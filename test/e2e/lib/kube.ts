import * as k8s from "@kubernetes/client-node";
import { NS } from "./env";
import { waitFor } from "./proc";

/** The HTTP status of a client-node error (404 for NotFound), or undefined. */
export function statusOf(e: unknown): number | undefined {
    const x = e as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
    const c = x.code ?? x.statusCode ?? x.response?.statusCode;
    return typeof c === "number" ? c : undefined;
}
const isGone = (e: unknown): boolean =>
    statusOf(e) === 404 || /Unrecognized API version and kind|no matches for kind|not found/i.test((e as Error).message ?? "");

export type Obj = k8s.KubernetesObject & Record<string, unknown>;
export interface ObjectRef {
    apiVersion: string;
    kind: string;
    namespace?: string;
    name: string;
}
export const refText = (r: ObjectRef): string => `${r.kind} ${r.namespace ? `${r.namespace}/` : ""}${r.name}`;

/** The sandbox cluster through @kubernetes/client-node, as the admin (KUBECONFIG) or any other kubeconfig. */
export class Kube {
    readonly kc: k8s.KubeConfig;
    readonly core: k8s.CoreV1Api;
    readonly apps: k8s.AppsV1Api;
    readonly objects: k8s.KubernetesObjectApi;
    readonly authz: k8s.AuthorizationV1Api;
    readonly authn: k8s.AuthenticationV1Api;

    constructor(kubeconfigFile?: string) {
        this.kc = new k8s.KubeConfig();
        if (kubeconfigFile) this.kc.loadFromFile(kubeconfigFile);
        else this.kc.loadFromDefault();
        this.core = this.kc.makeApiClient(k8s.CoreV1Api);
        this.apps = this.kc.makeApiClient(k8s.AppsV1Api);
        this.objects = k8s.KubernetesObjectApi.makeApiClient(this.kc);
        this.authz = this.kc.makeApiClient(k8s.AuthorizationV1Api);
        this.authn = this.kc.makeApiClient(k8s.AuthenticationV1Api);
    }

    /** The object, or undefined when it (or its kind) is gone. */
    async get(ref: ObjectRef): Promise<Obj | undefined> {
        try {
            const spec = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } };
            return (await this.objects.read(spec as k8s.KubernetesObject & { metadata: { name: string } })) as Obj;
        } catch (e) {
            if (isGone(e)) return undefined;
            throw e;
        }
    }
    async mustGet(ref: ObjectRef): Promise<Obj> {
        const o = await this.get(ref);
        if (!o) throw new Error(`${refText(ref)} not found`);
        return o;
    }
    /** Server-side apply of one object (field manager e2e), as `kubectl apply --server-side` does. */
    async apply(obj: object): Promise<Obj> {
        return (await this.objects.patch(
            obj as k8s.KubernetesObject,
            undefined,
            undefined,
            "e2e",
            true,
            k8s.PatchStrategy.ServerSideApply,
        )) as Obj;
    }
    async delete(ref: ObjectRef): Promise<void> {
        try {
            await this.objects.delete({
                apiVersion: ref.apiVersion,
                kind: ref.kind,
                metadata: { name: ref.name, namespace: ref.namespace },
            });
        } catch (e) {
            if (!isGone(e)) throw e;
        }
    }
    async waitGone(ref: ObjectRef, timeoutS = 60): Promise<void> {
        await waitFor(`${refText(ref)} to be gone`, timeoutS, async () => (await this.get(ref)) === undefined);
    }

    async configMapKey(namespace: string, name: string, key: string): Promise<string | undefined> {
        return (await this.core.readNamespacedConfigMap({ namespace, name })).data?.[key];
    }
    /** One key of a Secret, decoded. */
    async secretKey(namespace: string, name: string, key: string): Promise<string | undefined> {
        const v = (await this.core.readNamespacedSecret({ namespace, name })).data?.[key];
        return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
    }
    async nodeAddress(node: string): Promise<string> {
        const n = await this.core.readNode({ name: node });
        const a = n.status?.addresses?.find((x) => x.type === "InternalIP")?.address;
        if (!a) throw new Error(`node ${node} has no InternalIP`);
        return a;
    }

    /** Waits as `kubectl rollout status` does: the latest generation observed, every replica updated and available. */
    async rollout(kind: "Deployment" | "DaemonSet", name: string, timeoutS = 300, namespace = NS): Promise<string> {
        return waitFor(
            `${kind} ${namespace}/${name} to roll out`,
            timeoutS,
            async () => {
                if (kind === "Deployment") {
                    const d = await this.apps.readNamespacedDeployment({ name, namespace });
                    const s = d.status ?? {};
                    const want = d.spec?.replicas ?? 1;
                    const done =
                        (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
                        (s.updatedReplicas ?? 0) === want &&
                        (s.replicas ?? 0) === want &&
                        (s.availableReplicas ?? 0) === want;
                    return done ? `${s.readyReplicas ?? 0}/${want}` : undefined;
                }
                const ds = await this.apps.readNamespacedDaemonSet({ name, namespace });
                const s = ds.status;
                const done =
                    !!s &&
                    (s.observedGeneration ?? 0) >= (ds.metadata?.generation ?? 0) &&
                    (s.updatedNumberScheduled ?? 0) === s.desiredNumberScheduled &&
                    (s.numberAvailable ?? 0) === s.desiredNumberScheduled;
                return done ? `${s!.numberReady}/${s!.desiredNumberScheduled}` : undefined;
            },
            2000,
        );
    }

    async pods(namespace: string, labelSelector?: string, fieldSelector?: string): Promise<k8s.V1Pod[]> {
        return (await this.core.listNamespacedPod({ namespace, labelSelector, fieldSelector })).items;
    }
    async pod(namespace: string, name: string): Promise<k8s.V1Pod> {
        return this.core.readNamespacedPod({ namespace, name });
    }

    async ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
        try {
            await this.core.createNamespace({ body: { metadata: { name, labels } } });
        } catch (e) {
            if (statusOf(e) !== 409) throw e;
        }
    }
    /** Deletes the namespace and waits until it is gone (its pods' CNI DEL done). */
    async deleteNamespace(name: string, timeoutS = 120): Promise<void> {
        try {
            await this.core.deleteNamespace({ name });
        } catch (e) {
            if (statusOf(e) === 404) return;
            throw e;
        }
        await this.waitGone({ apiVersion: "v1", kind: "Namespace", name }, timeoutS);
    }
    async deletePod(namespace: string, name: string, timeoutS = 60): Promise<void> {
        await this.delete({ apiVersion: "v1", kind: "Pod", namespace, name });
        await this.waitGone({ apiVersion: "v1", kind: "Pod", namespace, name }, timeoutS);
    }
    /** Waits until every named pod is Ready; returns them. */
    async podsReady(namespace: string, names: readonly string[], timeoutS = 120): Promise<k8s.V1Pod[]> {
        return waitFor(
            `pods ${names.join(", ")} in ${namespace} to be Ready`,
            timeoutS,
            async () => {
                const pods = await Promise.all(names.map((n) => this.pod(namespace, n)));
                const ready = pods.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
                return ready ? pods : undefined;
            },
            1000,
        );
    }

    /** `kubectl auth can-i --as system:serviceaccount:<ns>:<sa>`: impersonation adds the ServiceAccount's groups, so does this review. */
    async serviceAccountCan(sa: string, saNamespace: string, attrs: k8s.V1ResourceAttributes): Promise<boolean> {
        const r = await this.authz.createSubjectAccessReview({
            body: {
                spec: {
                    user: `system:serviceaccount:${saNamespace}:${sa}`,
                    groups: ["system:serviceaccounts", `system:serviceaccounts:${saNamespace}`, "system:authenticated"],
                    resourceAttributes: attrs,
                },
            },
        });
        return r.status?.allowed === true;
    }
    /** `kubectl auth can-i` as this client's own identity. */
    async selfCan(attrs: k8s.V1ResourceAttributes): Promise<boolean> {
        const r = await this.authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: attrs } } });
        return r.status?.allowed === true;
    }
    /** `kubectl auth whoami`. */
    async whoami(): Promise<string> {
        const r = await this.authn.createSelfSubjectReview({ body: {} });
        return r.status?.userInfo?.username ?? "";
    }
}

/** The pod's network namespace, as sbx-kubelet names it. */
export const podNetns = (pod: k8s.V1Pod): string => `sbxpod-${(pod.metadata?.uid ?? "").slice(0, 13)}`;
export const podIp = (pod: k8s.V1Pod): string => pod.status?.podIP ?? "";
export const podIps = (pod: k8s.V1Pod): string[] => (pod.status?.podIPs ?? []).map((p) => p.ip);

/** The lab's pingtest: one sleeping pod per node, not a calico/* image (sbx-kubelet runs Debian's userland). */
export const PT_NS = "pingtest";
export function pingtestPod(name: string, node: string, annotations: Record<string, string> = {}): object {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: PT_NS, labels: { app: "pingtest" }, annotations },
        spec: {
            nodeSelector: { "kubernetes.io/hostname": node },
            terminationGracePeriodSeconds: 1,
            containers: [{ name: "pingtest", image: "busybox", command: ["sleep", "infinity"] }],
        },
    };
}
/** Fresh pingtest pods `pingtest-<node>` on each node (a CNI ADD with the current files), Ready. */
export async function pingtestPods(kube: Kube, nodes: readonly string[], fresh = true): Promise<Map<string, k8s.V1Pod>> {
    if (fresh) await kube.deleteNamespace(PT_NS, 90);
    await kube.ensureNamespace(PT_NS);
    for (const n of nodes) await kube.apply(pingtestPod(`pingtest-${n}`, n));
    const pods = await kube.podsReady(
        PT_NS,
        nodes.map((n) => `pingtest-${n}`),
        120,
    );
    return new Map(nodes.map((n, i) => [n, pods[i]!]));
}
