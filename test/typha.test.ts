import { find, plain, recordOptions, recorded, recordedOpts, reset, settle, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { buildCalicoNodeDaemonSet } from "../components/builders/calicoNode";
import { CERT_SPECS } from "../components/builders/certs";
import { NODE_CLIENT_CN, TYPHA_SERVER_CN } from "../components/facts/names";
import { CERT_HASH_ANNOTATION, podTemplateHash } from "../components/builders/podHash";
import {
    TYPHA_HEALTH_PORT,
    TYPHA_PORT,
    buildCertSecret,
    buildTyphaCaConfigMap,
    buildTyphaDeployment,
    buildTyphaService,
} from "../components/builders/typha";
import { NODE_CERTS, TYPHA_CERTS, buildPdb } from "../components/builders/pod";
import { buildRbac, calicoNodeRules, typhaRules } from "../components/builders/workloadRbac";
import { Typha, type TyphaArgs } from "../components/resources/typha";
import { envOf, referenceObject, ruleTuples, unresolvedEnvPaths } from "./workloadChecks";

const IMAGE = "quay.io/calico/typha:v3.32.1";
const params = {
    image: IMAGE,
    replicas: 2,
    certHash: "abc",
    tolerateControlPlane: false,
    usePodCidr: false,
    serviceAccountName: "calico-typha",
    metricsPort: 9093,
};
const deployment = buildTyphaDeployment(params);
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const env = envOf(pod, "calico-typha");

describe("Typha Deployment", () => {
    test("runs on the host network on port 5473 with health on 9098", () => {
        expect(pod.hostNetwork).toBe(true);
        expect(container.ports).toEqual([{ name: "calico-typha", containerPort: 5473, protocol: "TCP" }]);
        expect(container.livenessProbe?.httpGet).toEqual({ path: "/liveness", port: 9098, host: "localhost" });
        expect(container.readinessProbe?.httpGet).toEqual({ path: "/readiness", port: 9098, host: "localhost" });
        expect(env.TYPHA_HEALTHPORT).toBe(String(TYPHA_HEALTH_PORT));
    });

    test("serves mutual TLS from the mounted files and accepts only calico-node", () => {
        expect(env).toMatchObject({
            TYPHA_CAFILE: "/calico-typha-ca/typhaca.crt",
            TYPHA_CLIENTCN: "calico-node",
            TYPHA_SERVERCERTFILE: "/calico-typha-certs/typha.crt",
            TYPHA_SERVERKEYFILE: "/calico-typha-certs/typha.key",
        });
    });

    test("uses the Kubernetes datastore, rebalances connections and logs to the screen only", () => {
        expect(env).toMatchObject({
            TYPHA_DATASTORETYPE: "kubernetes",
            TYPHA_CONNECTIONREBALANCINGMODE: "kubernetes",
            TYPHA_LOGFILEPATH: "none",
            TYPHA_LOGSEVERITYSYS: "none",
            TYPHA_LOGSEVERITYSCREEN: "info",
        });
        expect(env.TYPHA_SHUTDOWNTIMEOUTSECS).toBe(String(pod.terminationGracePeriodSeconds));
    });

    test("is cluster-critical and tolerates CriticalAddonsOnly", () => {
        expect(pod.priorityClassName).toBe("system-cluster-critical");
        expect(pod.tolerations).toContainEqual({ key: "CriticalAddonsOnly", operator: "Exists" });
        expect(pod.tolerations.some((t) => t.key === "node-role.kubernetes.io/control-plane")).toBe(false);
    });

    test("tolerates the taints of nodes without pod networking: calico-node waits for Typha", () => {
        // A reinstall finds every node tainted network-unavailable by the old calico-node's preStop hook.
        expect(pod.tolerations).toEqual([
            { key: "CriticalAddonsOnly", operator: "Exists" },
            { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" },
            { key: "node.kubernetes.io/network-unavailable", operator: "Exists", effect: "NoSchedule" },
        ]);
    });

    test("tolerates the control-plane taint only when asked", () => {
        const t = buildTyphaDeployment({ ...params, tolerateControlPlane: true }).spec.template.spec.tolerations;
        expect(t).toContainEqual({ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" });
    });

    test("never puts two replicas on one host (host port 5473)", () => {
        expect(pod.affinity?.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
            { labelSelector: { matchLabels: { "k8s-app": "calico-typha" } }, topologyKey: "kubernetes.io/hostname" },
        ]);
    });

    test("has the replicas, image and cert hash it was given", () => {
        expect(deployment.spec.replicas).toBe(2);
        expect(container.image).toBe(IMAGE);
        expect(deployment.spec.template.metadata.annotations?.[CERT_HASH_ANNOTATION]).toBe("abc");
        expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    });

    test("keeps the reference's rollout and security settings", () => {
        const ref = referenceObject("calico-typha.yaml", "Deployment", "calico-typha");
        expect(deployment.spec.strategy).toEqual(ref.spec.strategy);
        expect(pod.securityContext).toEqual(ref.spec.template.spec.securityContext);
        expect(container.securityContext).toEqual(ref.spec.template.spec.containers[0].securityContext);
        expect(pod.terminationGracePeriodSeconds).toBe(ref.spec.template.spec.terminationGracePeriodSeconds);
    });
});

describe("Typha Service, PDB and published certs", () => {
    test("Service targets the container port by name", () => {
        const svc = buildTyphaService();
        expect(svc.spec.ports).toEqual([
            { name: "calico-typha", port: TYPHA_PORT, protocol: "TCP", targetPort: container.ports![0]!.name },
        ]);
        expect(svc.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    });

    test("PDB allows one voluntary disruption", () => {
        const pdb = buildPdb("calico-typha");
        expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
    });

    test("ConfigMap calico-typha-ca and Secrets calico-typha-certs / calico-node-certs live in kube-system", () => {
        const cm = buildTyphaCaConfigMap("CA");
        expect(cm.metadata).toMatchObject({ name: "calico-typha-ca", namespace: "kube-system" });
        expect(cm.data).toEqual({ "typhaca.crt": "CA" });
        expect(buildCertSecret(TYPHA_CERTS, "calico-typha", "C", "K")).toMatchObject({
            metadata: { name: "calico-typha-certs", namespace: "kube-system" },
            stringData: { "typha.crt": "C", "typha.key": "K" },
        });
        expect(buildCertSecret(NODE_CERTS, "calico-node", "C", "K").stringData).toEqual({ "calico-node.crt": "C", "calico-node.key": "K" });
    });

    test("every file path in Typha's env is a key of the ConfigMap or Secret mounted there", () => {
        const published = [buildTyphaCaConfigMap("CA"), buildCertSecret(TYPHA_CERTS, "calico-typha", "C", "K")];
        expect(unresolvedEnvPaths(pod, published)).toEqual([]);
        // The check itself catches a mismatch.
        const broken = buildCertSecret({ ...TYPHA_CERTS, files: { cert: "tls.crt", key: "tls.key" } }, "calico-typha", "C", "K");
        expect(unresolvedEnvPaths(pod, [published[0]!, broken])).toHaveLength(2);
    });
});

describe("Typha and calico-node agree on the TLS identities", () => {
    const node = buildCalicoNodeDaemonSet({
        image: "n",
        backend: "bird",
        ipAutodetectionMethod: "first-found",
        ipv6: false,
        dataplane: { dataplane: "iptables", kubeProxy: "running" },
        mtu: 1440,
        datastore: { type: "kubernetes" },
        typhaServiceName: "calico-typha",
        certHash: "h",
        usePodCidr: false,
        serviceAccountName: "calico-node",
    });
    const nodeEnv = envOf(node.spec.template.spec, "calico-node");

    test("Prometheus metrics on the node's loopback at typha.metricsPort; none with 0", () => {
        expect(env).toMatchObject({
            TYPHA_PROMETHEUSMETRICSENABLED: "true",
            TYPHA_PROMETHEUSMETRICSHOST: "127.0.0.1",
            TYPHA_PROMETHEUSMETRICSPORT: "9093",
        });
        const off = envOf(buildTyphaDeployment({ ...params, metricsPort: 0 }).spec.template.spec, "calico-typha");
        expect(Object.keys(off).filter((k) => k.startsWith("TYPHA_PROMETHEUS"))).toEqual([]);
    });

    test("TYPHA_CLIENTCN is the node cert's CN and FELIX_TYPHACN the Typha cert's CN", () => {
        expect(env.TYPHA_CLIENTCN).toBe(NODE_CLIENT_CN);
        expect(env.TYPHA_CLIENTCN).toBe(CERT_SPECS.node.commonName);
        expect(nodeEnv.FELIX_TYPHACN).toBe(TYPHA_SERVER_CN);
        expect(nodeEnv.FELIX_TYPHACN).toBe(CERT_SPECS.typha.commonName);
    });

    test("both trust the same CA file", () => {
        expect(nodeEnv.FELIX_TYPHACAFILE).toBe(env.TYPHA_CAFILE);
        expect(nodeEnv.FELIX_TYPHAK8SSERVICENAME).toBe(buildTyphaService().metadata.name);
    });
});

describe("Typha RBAC", () => {
    const rbac = buildRbac("calico-typha", typhaRules());

    test("binds the role to the ServiceAccount the pods run as", () => {
        expect(rbac.clusterRoleBinding.subjects).toEqual([
            { kind: "ServiceAccount", name: rbac.serviceAccount.metadata.name, namespace: "kube-system" },
        ]);
        expect(rbac.clusterRoleBinding.roleRef.name).toBe(rbac.clusterRole.metadata.name);
        expect(pod.serviceAccountName).toBe(rbac.serviceAccount.metadata.name);
    });

    test("grants nothing calico-node's v3.32.1 role does not (upstream runs Typha as calico-node)", () => {
        const node = new Set(ruleTuples(calicoNodeRules("kubernetes")));
        expect(ruleTuples(typhaRules()).filter((t) => !node.has(t))).toEqual([]);
    });

    test("reads what Felix syncs: policy, pools, BGP and endpoints", () => {
        const tuples = ruleTuples(typhaRules());
        for (const t of [
            "crd.projectcalico.org|globalnetworkpolicies|watch|",
            "crd.projectcalico.org|ippools|list|",
            "|endpoints|get|",
            "discovery.k8s.io|endpointslices|watch|",
            // Typha's cache of Felix's syncer stays unready without it (seen with real Typha in the sandbox).
            "kubevirt.io|virtualmachineinstancemigrations|watch|",
        ]) {
            expect(tuples).toContain(t);
        }
        expect(tuples.some((t) => t.endsWith("|delete|"))).toBe(false);
    });
});

describe("pod template hash", () => {
    const material = (ca: string, cert: string) => podTemplateHash({ "typhaca.crt": ca, "typha.crt": cert });

    test("changes when a cert or the CA changes", () => {
        expect(material("CA1", "C1")).not.toBe(material("CA1", "C2"));
        expect(material("CA1", "C1")).not.toBe(material("CA2", "C1"));
    });

    test("is stable for the same material, whatever the key order", () => {
        expect(podTemplateHash({ a: "1", b: "2" })).toBe(podTemplateHash({ b: "2", a: "1" }));
    });

    test("an unrelated change (replicas, control-plane toleration) leaves the annotation alone", () => {
        const a = buildTyphaDeployment({ ...params, certHash: material("CA", "C") });
        const b = buildTyphaDeployment({ ...params, replicas: 5, tolerateControlPlane: true, certHash: material("CA", "C") });
        expect(b.spec.template.metadata.annotations).toEqual(a.spec.template.metadata.annotations);
    });
});

describe("Typha component under mocks", () => {
    const tls = (ca: string, cert: string, key: string) => ({
        caPem: pulumi.output(ca),
        certPem: pulumi.output(cert),
        keyPem: pulumi.secret(key),
    });
    const args: TyphaArgs = {
        tls: tls("CA1", "TC1", "TK1"),
        image: "quay.io/calico/typha:v3.32.1",
        replicas: 2,
        tolerateControlPlane: false,
        usePodCidr: false,
        metricsPort: 9093,
    };
    async function build(a: Partial<TyphaArgs> = {}): Promise<Typha> {
        reset();
        const t = new Typha("typha", { ...args, ...a }, { transformations: [recordOptions] });
        await settle();
        return t;
    }

    test("creates every object with the builders' specs", async () => {
        const t = await build();
        const d = find("kubernetes:apps/v1:Deployment", "calico-typha").inputs;
        expect(d.spec.replicas).toBe(2);
        expect(d.spec.template.spec.containers[0].image).toBe("quay.io/calico/typha:v3.32.1");
        for (const [type, name] of [
            ["kubernetes:core/v1:ConfigMap", "calico-typha-ca"],
            ["kubernetes:core/v1:Secret", "calico-typha-certs"],
            ["kubernetes:core/v1:ServiceAccount", "calico-typha"],
            ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "calico-typha"],
            ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "calico-typha"],
            ["kubernetes:policy/v1:PodDisruptionBudget", "calico-typha"],
            ["kubernetes:core/v1:Service", "calico-typha"],
        ]) {
            expect(find(type!, name!).inputs.metadata.name).toBe(name);
        }
        expect(await valueOf(t.serviceName)).toBe("calico-typha");
        expect(await valueOf(t.replicas)).toBe(2);
    });

    test("keeps key material secret and waits for certs and RBAC before the Deployment", async () => {
        await build();
        // calico-node's Secret is its own (calicoNode.test.ts).
        expect(recorded.filter((r) => r.name === "calico-node-certs")).toEqual([]);
        for (const name of ["calico-typha-certs"]) {
            const s = find("kubernetes:core/v1:Secret", name).inputs;
            expect(plain(s.stringData)).not.toBe(s.stringData);
            expect(recordedOpts.find((o) => o.name === name)?.additionalSecretOutputs).toEqual(
                expect.arrayContaining(["data", "stringData"]),
            );
        }
        expect(plain(find("kubernetes:core/v1:Secret", "calico-typha-certs").inputs.stringData)["typha.key"]).toBe("TK1");
        // Components register no inputs, so the keys are only in the Secrets.
        expect(find("calico:index:Typha", "typha").inputs).toEqual({});
        const deps = recordedOpts.find((o) => o.type === "kubernetes:apps/v1:Deployment")?.dependsOn;
        expect(deps).toEqual(expect.arrayContaining(["calico-typha-ca", "calico-typha-certs", "calico-typha"]));
    });

    test("a renewed server cert or CA rolls the pods; a new server key or replica count does not touch the hash", async () => {
        const hashOf = () =>
            find("kubernetes:apps/v1:Deployment", "calico-typha").inputs.spec.template.metadata.annotations[CERT_HASH_ANNOTATION];
        await build();
        const first = hashOf();
        expect(first).toBe(podTemplateHash({ "typhaca.crt": "CA1", "typha.crt": "TC1" }));
        await build({ tls: tls("CA1", "TC2", "TK1") });
        expect(hashOf()).not.toBe(first);
        await build({ tls: tls("CA2", "TC1", "TK1") });
        expect(hashOf()).not.toBe(first);
        await build({ replicas: 4, tls: tls("CA1", "TC1", "TK2") });
        expect(hashOf()).toBe(first);
    });

    test("takes the replica count it is given", async () => {
        const t = await build({ replicas: 5 });
        expect(await valueOf(t.replicas)).toBe(5);
        expect(find("kubernetes:apps/v1:Deployment", "calico-typha").inputs.spec.replicas).toBe(5);
    });
});
