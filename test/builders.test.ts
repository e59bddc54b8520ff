import * as fs from "fs";
import { parse, parseAllDocuments } from "yaml";
import { buildCalicoctlConfig } from "../components/builders/calicoctl";
import { cniClusterRoleRules } from "../components/builders/cniRbac";
import { buildConflist, renderConflist } from "../components/builders/conflist";
import { buildIpPool } from "../components/builders/ippool";
import { stableJson } from "../components/builders/json";
import fc from "fast-check";
import { clientKubeconfigHead, clientKubeconfigParts, renderClientKubeconfig } from "../components/builders/kubeconfig";
import { installedFiles } from "../components/builders/installCni";
import { cniKubeconfigPath, conflistPath } from "../components/facts/names";
import { calicoImages } from "../components/versions";
import { calicoCrdValidator } from "./crdSchema";
import { REFERENCE, resolvedConfig } from "./fixtures";

const base = {
    nodeName: "cka002",
    mtu: 1440,
    logLevel: "info",
    kubeconfigPath: "/etc/cni/net.d/calico-kubeconfig",
    ipam: "calico-ipam" as const,
    ipv6: false,
    bandwidth: false,
    datastore: { type: "kubernetes" as const },
};

describe("conflist", () => {
    test("carries every field the calico plugin and portmap need", () => {
        const c = JSON.parse(renderConflist(base));
        expect(c).toEqual({
            cniVersion: "0.3.1",
            name: "k8s-pod-network",
            plugins: [
                {
                    datastore_type: "kubernetes",
                    ipam: { type: "calico-ipam" },
                    kubernetes: { kubeconfig: "/etc/cni/net.d/calico-kubeconfig" },
                    log_file_path: "/var/log/calico/cni/cni.log",
                    log_level: "info",
                    mtu: 1440,
                    nodename: "cka002",
                    policy: { type: "k8s" },
                    type: "calico",
                },
                { capabilities: { portMappings: true }, snat: true, type: "portmap" },
            ],
        });
    });

    test("is byte-stable with sorted keys", () => {
        const text = renderConflist(base);
        expect(renderConflist({ ...base })).toBe(text);
        expect(text.indexOf('"cniVersion"')).toBeLessThan(text.indexOf('"name"'));
    });

    test.each([
        ["calico-ipam", { type: "calico-ipam" }],
        ["host-local", { type: "host-local", subnet: "usePodCidr" }],
        ["spiderpool", { type: "spiderpool" }],
    ] as const)("ipam %s", (ipam, section) => {
        expect((buildConflist({ ...base, ipam }).plugins as any[])[0].ipam).toEqual(section);
    });

    test("bandwidth adds the bandwidth plugin last", () => {
        const plugins = buildConflist({ ...base, bandwidth: true }).plugins as any[];
        expect(plugins.map((p) => p.type)).toEqual(["calico", "portmap", "bandwidth"]);
        expect(plugins[2].capabilities).toEqual({ bandwidth: true });
    });

    test("etcd datastore sets the etcd endpoints and client files", () => {
        const calico = (
            buildConflist({
                ...base,
                datastore: {
                    type: "etcd",
                    endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
                    caFile: "/a",
                    certFile: "/b",
                    keyFile: "/c",
                },
            }).plugins as any[]
        )[0];
        expect(calico).toMatchObject({
            datastore_type: "etcdv3",
            etcd_endpoints: "https://10.0.0.1:2379,https://10.0.0.2:2379",
            etcd_ca_cert_file: "/a",
            etcd_cert_file: "/b",
            etcd_key_file: "/c",
        });
    });
});

describe("kubeconfig", () => {
    test("embeds the CA, cert and key with context cni@kubernetes", () => {
        const kc = parse(
            renderClientKubeconfig({
                server: "https://api:6443",
                caPem: "CA",
                certPem: "CERT",
                keyPem: "KEY",
                user: "calico-cni",
                cluster: "kubernetes",
                context: "cni@kubernetes",
            }),
        );
        const b = (s: string) => Buffer.from(s, "base64").toString();
        expect(kc.kind).toBe("Config");
        expect(kc["current-context"]).toBe("cni@kubernetes");
        expect(kc.contexts).toEqual([{ name: "cni@kubernetes", context: { cluster: "kubernetes", user: "calico-cni" } }]);
        expect(kc.clusters[0].cluster.server).toBe("https://api:6443");
        expect(b(kc.clusters[0].cluster["certificate-authority-data"])).toBe("CA");
        expect(b(kc.users[0].user["client-certificate-data"])).toBe("CERT");
        expect(b(kc.users[0].user["client-key-data"])).toBe("KEY");
    });

    // PEM-like text of any length, so base64 padding and long lines are covered.
    const pem = fc.string({ minLength: 1, maxLength: 3000 }).map((s) => `-----BEGIN X-----\n${s}\n-----END X-----\n`);
    const names = { server: "https://api:6443", user: "calico-cni", cluster: "kubernetes", context: "cni@kubernetes" };

    test("splits into a head without the cert or key and a rest that starts at the cert: together, the whole file", () => {
        fc.assert(
            fc.property(pem, pem, pem, (caPem, certPem, keyPem) => {
                const o = { ...names, caPem, certPem, keyPem };
                const { head, rest } = clientKubeconfigParts(o);
                expect(head + rest).toBe(renderClientKubeconfig(o));
                expect(head).toBe(clientKubeconfigHead({ ...names, caPem }));
                expect(head.endsWith("client-certificate-data: ")).toBe(true);
                expect(rest).toBe(
                    `${Buffer.from(certPem).toString("base64")}\n      client-key-data: ${Buffer.from(keyPem).toString("base64")}\n`,
                );
            }),
            { numRuns: 50 },
        );
    });
});

describe("IPPool specs", () => {
    const validate = calicoCrdValidator("IPPool");

    test.each(resolvedConfig().pools.map((p) => [p.name, p]))("%s validates against the pinned IPPool CRD schema", (_n, pool) => {
        const obj = buildIpPool(pool);
        const ok = validate(obj);
        expect(validate.errors ?? []).toEqual([]);
        expect(ok).toBe(true);
        expect(obj).toMatchObject({ apiVersion: "crd.projectcalico.org/v1", kind: "IPPool", metadata: { name: pool.name } });
    });

    test("the schema check can fail", () => {
        const obj: any = buildIpPool(resolvedConfig().pools[0]);
        obj.spec.ipipMode = "Sometimes";
        expect(validate(obj)).toBe(false);
    });
});

describe("CNI RBAC", () => {
    // The reference manifest's calico-cni-plugin ClusterRole, as (group, resource, verb) triples.
    function triples(rules: any[]): string[] {
        return rules
            .flatMap((r) =>
                r.apiGroups.flatMap((g: string) => r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${g}/${res}/${v}`))),
            )
            .sort();
    }
    test("grants exactly what the pinned CNI plugin's role grants", () => {
        const docs = parseAllDocuments(fs.readFileSync(`${REFERENCE}/calico.yaml`, "utf8")).map((d) => d.toJS());
        const ref = docs.find((d) => d?.kind === "ClusterRole" && d.metadata.name === "calico-cni-plugin");
        expect(triples(cniClusterRoleRules())).toEqual(triples(ref.rules));
    });
});

describe("calicoctl config", () => {
    test("kubernetes datastore", () => {
        expect(buildCalicoctlConfig({ type: "kubernetes", kubeconfigPath: "/etc/kubernetes/admin.conf" })).toEqual({
            apiVersion: "projectcalico.org/v3",
            kind: "CalicoAPIConfig",
            metadata: {},
            spec: { datastoreType: "kubernetes", kubeconfig: "/etc/kubernetes/admin.conf" },
        });
    });
});

describe("versions", () => {
    test("a mirror keeps the image paths", () => {
        expect(calicoImages("v3.32.1", "docker.m.daocloud.io")).toEqual({
            node: "docker.m.daocloud.io/calico/node:v3.32.1",
            typha: "docker.m.daocloud.io/calico/typha:v3.32.1",
            "kube-controllers": "docker.m.daocloud.io/calico/kube-controllers:v3.32.1",
            cni: "docker.m.daocloud.io/calico/cni:v3.32.1",
            ctl: "docker.m.daocloud.io/calico/ctl:v3.32.1",
        });
    });
    test("stableJson sorts nested keys and drops undefined", () => {
        expect(stableJson({ b: 1, a: { d: 2, c: undefined, b: [{ z: 1, y: 2 }] } }, 0)).toBe('{"a":{"b":[{"y":2,"z":1}],"d":2},"b":1}\n');
    });
});

test("the CNI files' paths under cni.confDir, one helper for every writer", () => {
    expect(conflistPath("/etc/cni/net.d")).toBe("/etc/cni/net.d/10-calico.conflist");
    expect(cniKubeconfigPath("/etc/cni/net.d")).toBe("/etc/cni/net.d/calico-kubeconfig");
    // install-cni (daemonset delivery) writes the same two files the SSH install does.
    expect(installedFiles({ binDir: "/opt/cni/bin", confDir: "/srv/cni", binaries: [] })).toEqual([
        conflistPath("/srv/cni"),
        cniKubeconfigPath("/srv/cni"),
    ]);
});
