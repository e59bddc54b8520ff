import { find, recordOptions, recordedOpts, reset, settle, valueOf } from "./harness";
import { buildEtcdSecret } from "../components/builders/etcdClient";
import { buildKubeControllersDeployment, enabledControllers } from "../components/builders/kubeControllers";
import { CERT_HASH_ANNOTATION, podTemplateHash } from "../components/builders/podHash";
import { buildPdb } from "../components/builders/pod";
import { buildRbac, kubeControllersRules } from "../components/builders/workloadRbac";
import type { WorkloadDatastore } from "../components/builders/workloadTypes";
import { EtcdClient } from "../components/resources/etcdClient";
import { KubeControllers } from "../components/resources/kubeControllers";
import { envOf, referenceObject, referenceRules, ruleTuples, unresolvedEnvPaths } from "./workloadChecks";

const IMAGE = "quay.io/calico/kube-controllers:v3.32.1";
const kdd: WorkloadDatastore = { type: "kubernetes" };
const etcd: WorkloadDatastore = { type: "etcd", endpoints: ["https://10.0.0.1:2379"] };
const build = (datastore: WorkloadDatastore, certHash?: string) =>
    buildKubeControllersDeployment({ image: IMAGE, datastore, serviceAccountName: "calico-kube-controllers", certHash });

describe("kube-controllers on the Kubernetes datastore", () => {
    const d = build(kdd);
    const pod = d.spec.template.spec;

    test("runs the controllers v3.32.1 runs on the Kubernetes datastore", () => {
        expect(envOf(pod, "calico-kube-controllers")).toEqual({ DATASTORE_TYPE: "kubernetes", ENABLED_CONTROLLERS: "node,loadbalancer" });
        const ref = referenceObject("calico-typha.yaml", "Deployment", "calico-kube-controllers");
        const refEnv = Object.fromEntries(
            ref.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]),
        );
        expect(envOf(pod, "calico-kube-controllers")).toEqual(refEnv);
    });

    test("is a single Recreate replica, cluster-critical, with check-status probes, not on the host network", () => {
        expect(d.spec.replicas).toBe(1);
        expect(d.spec.strategy).toEqual({ type: "Recreate" });
        expect(pod.priorityClassName).toBe("system-cluster-critical");
        expect(pod.hostNetwork).toBeUndefined();
        expect(pod.volumes).toBeUndefined();
        const c = pod.containers[0]!;
        expect(c.image).toBe(IMAGE);
        expect(c.livenessProbe?.exec?.command).toEqual(["/usr/bin/check-status", "-l"]);
        expect(c.readinessProbe?.exec?.command).toEqual(["/usr/bin/check-status", "-r"]);
        expect(c.securityContext).toEqual({ runAsNonRoot: true });
        expect(d.spec.template.metadata.annotations).toBeUndefined();
    });

    test("tolerates the control plane like the reference", () => {
        const ref = referenceObject("calico-typha.yaml", "Deployment", "calico-kube-controllers").spec.template.spec.tolerations as {
            key: string;
        }[];
        expect(pod.tolerations.map((t) => t.key)).toEqual(ref.map((t) => t.key));
    });

    test("PDB selects the pods", () => {
        expect(buildPdb("calico-kube-controllers").spec).toEqual({
            maxUnavailable: 1,
            selector: { matchLabels: d.spec.template.metadata.labels },
        });
    });
});

describe("kube-controllers on etcd", () => {
    const d = build(etcd, "eh");
    const pod = d.spec.template.spec;
    const env = envOf(pod, "calico-kube-controllers");

    test("runs the policy, namespace, serviceaccount, workloadendpoint and node controllers", () => {
        expect(env.ENABLED_CONTROLLERS?.split(",")).toEqual(
            expect.arrayContaining(["policy", "namespace", "serviceaccount", "workloadendpoint", "node"]),
        );
        const ref = referenceObject("calico-etcd.yaml", "Deployment", "calico-kube-controllers").spec.template.spec.containers[0].env;
        expect(env.ENABLED_CONTROLLERS).toBe(ref.find((e: { name: string }) => e.name === "ENABLED_CONTROLLERS").value);
        expect(env.DATASTORE_TYPE).toBe("etcdv3");
    });

    test("mounts the etcd Secret (0440, non-root) on the host network and rolls with the certs", () => {
        expect(pod.hostNetwork).toBe(true);
        expect(pod.volumes).toEqual([{ name: "etcd-certs", secret: { secretName: "calico-etcd-secrets", defaultMode: 0o440 } }]);
        expect(unresolvedEnvPaths(pod, [buildEtcdSecret({ ca: "A", cert: "C", key: "K" })])).toEqual([]);
        expect(d.spec.template.metadata.annotations).toEqual({ [CERT_HASH_ANNOTATION]: "eh" });
    });
});

describe("kube-controllers RBAC", () => {
    test.each([
        ["kubernetes", "calico-typha.yaml"],
        ["etcd", "calico-etcd.yaml"],
    ] as const)("on %s grants exactly the v3.32.1 rules of %s", (datastore, file) => {
        expect(ruleTuples(kubeControllersRules(datastore))).toEqual(ruleTuples(referenceRules(file, "calico-kube-controllers")));
    });

    test("binds the role to the ServiceAccount the pods run as", () => {
        const rbac = buildRbac("calico-kube-controllers", kubeControllersRules("kubernetes"));
        expect(rbac.clusterRoleBinding.subjects.map((s) => s.name)).toEqual([rbac.serviceAccount.metadata.name]);
        expect(build(kdd).spec.template.spec.serviceAccountName).toBe(rbac.serviceAccount.metadata.name);
    });

    test("controllers per datastore", () => {
        expect(enabledControllers("kubernetes")).toEqual(["node", "loadbalancer"]);
        expect(enabledControllers("etcd")).toEqual(["policy", "namespace", "serviceaccount", "workloadendpoint", "node", "loadbalancer"]);
    });
});

describe("KubeControllers component under mocks", () => {
    test("creates RBAC, the Deployment after its binding, and the PDB", async () => {
        reset();
        const kc = new KubeControllers("kube-controllers", { image: IMAGE, datastore: kdd }, { transformations: [recordOptions] });
        await settle();
        const dep = find("kubernetes:apps/v1:Deployment", "calico-kube-controllers").inputs;
        expect(dep.spec.template.spec.containers[0].image).toBe(IMAGE);
        find("kubernetes:policy/v1:PodDisruptionBudget", "calico-kube-controllers");
        find("kubernetes:core/v1:ServiceAccount", "calico-kube-controllers");
        expect(find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "calico-kube-controllers").inputs.rules).toEqual(
            kubeControllersRules("kubernetes"),
        );
        expect(recordedOpts.find((o) => o.type === "kubernetes:apps/v1:Deployment")?.dependsOn).toEqual(["calico-kube-controllers"]);
        expect(await valueOf(kc.enabledControllers)).toEqual(["node", "loadbalancer"]);
    });

    test("with etcd, carries its EtcdClient's cert hash", async () => {
        reset();
        const client = new EtcdClient(
            "etcd-client",
            { endpoints: ["https://10.0.0.1:2379"], tls: { caCert: "ECA", cert: "EC", key: "EK" } },
            { transformations: [recordOptions] },
        );
        new KubeControllers(
            "kube-controllers",
            { image: IMAGE, datastore: { type: "etcd", endpoints: ["https://10.0.0.1:2379"], client } },
            { transformations: [recordOptions] },
        );
        await settle();
        const dep = find("kubernetes:apps/v1:Deployment", "calico-kube-controllers").inputs;
        expect(dep.spec.template.metadata.annotations).toEqual({
            [CERT_HASH_ANNOTATION]: podTemplateHash({ "etcd-ca": "ECA", "etcd-cert": "EC", etcd_endpoints: "https://10.0.0.1:2379" }),
        });
        expect(find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "calico-kube-controllers").inputs.rules).toEqual(
            kubeControllersRules("etcd"),
        );
    });
});
