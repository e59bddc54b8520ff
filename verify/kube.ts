import * as k8s from "@kubernetes/client-node";
import type { KEvent, KNode, KPod } from "./facts";
import { statusOf } from "./kubeApi";

/**
 * The thin I/O layer: the few Kubernetes calls verify makes, through @kubernetes/client-node with the
 * user's kubeconfig (KUBECONFIG, else ~/.kube/config; every auth method the library supports).
 */
export class Kube {
    private readonly core: k8s.CoreV1Api;
    private readonly custom: k8s.CustomObjectsApi;
    private readonly net: k8s.NetworkingV1Api;
    readonly context: string;

    constructor() {
        const kc = new k8s.KubeConfig();
        kc.loadFromDefault();
        this.context = kc.getCurrentContext();
        this.core = kc.makeApiClient(k8s.CoreV1Api);
        this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
        this.net = kc.makeApiClient(k8s.NetworkingV1Api);
    }

    async nodes(): Promise<KNode[]> {
        return (await this.core.listNode()).items as KNode[];
    }

    async pods(namespace: string | undefined, labelSelector?: string): Promise<KPod[]> {
        const list = namespace
            ? await this.core.listNamespacedPod({ namespace, labelSelector })
            : await this.core.listPodForAllNamespaces({ labelSelector });
        return list.items as KPod[];
    }

    async events(namespace: string): Promise<KEvent[]> {
        const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.kind=Pod" });
        return list.items.map((e) => ({
            involvedObject: { kind: e.involvedObject.kind, name: e.involvedObject.name, namespace: e.involvedObject.namespace },
            type: e.type,
            reason: e.reason,
            message: e.message,
            time: new Date((e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0) as string | number | Date).toISOString(),
        }));
    }

    async configMapKey(namespace: string, name: string, key: string): Promise<string | undefined> {
        return (await this.core.readNamespacedConfigMap({ namespace, name })).data?.[key];
    }

    /** One key of a Secret, decoded; verify reads certificates only, never keys. */
    async secretKey(namespace: string, name: string, key: string): Promise<string | undefined> {
        const v = (await this.core.readNamespacedSecret({ namespace, name })).data?.[key];
        return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
    }

    async listCluster(group: string, version: string, plural: string): Promise<Record<string, unknown>[]> {
        const r = (await this.custom.listClusterCustomObject({ group, version, plural })) as { items?: Record<string, unknown>[] };
        return r.items ?? [];
    }

    async listNamespaced(group: string, version: string, namespace: string, plural: string): Promise<Record<string, unknown>[]> {
        const r = (await this.custom.listNamespacedCustomObject({ group, version, namespace, plural })) as {
            items?: Record<string, unknown>[];
        };
        return r.items ?? [];
    }

    async createCluster(group: string, version: string, plural: string, body: object): Promise<void> {
        await this.custom.createClusterCustomObject({ group, version, plural, body });
    }

    async deleteCluster(group: string, version: string, plural: string, name: string): Promise<void> {
        await ignoreNotFound(this.custom.deleteClusterCustomObject({ group, version, plural, name }));
    }

    async networkPolicies(namespace: string): Promise<k8s.V1NetworkPolicy[]> {
        return (await this.net.listNamespacedNetworkPolicy({ namespace })).items;
    }

    /** Creates the namespace unless it exists; true when this call created it. */
    async ensureNamespace(name: string, labels: Record<string, string>): Promise<boolean> {
        try {
            await this.core.readNamespace({ name });
            return false;
        } catch (e) {
            if (statusOf(e) !== 404) throw e;
        }
        await this.core.createNamespace({ body: { metadata: { name, labels } } });
        return true;
    }

    async deleteNamespace(name: string): Promise<void> {
        await ignoreNotFound(this.core.deleteNamespace({ name }));
    }

    async createPod(namespace: string, body: object): Promise<void> {
        await this.core.createNamespacedPod({ namespace, body: body as k8s.V1Pod });
    }

    async deletePods(namespace: string, labelSelector: string): Promise<void> {
        await ignoreNotFound(this.core.deleteCollectionNamespacedPod({ namespace, labelSelector, gracePeriodSeconds: 0 }));
    }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try {
        await p;
    } catch (e) {
        if (statusOf(e) !== 404) throw e;
    }
}
