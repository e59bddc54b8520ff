import { resolveConfig } from "../components/config/resolve";
import { Mutate, TEST_KEY_PEM, fakeEnv, labRaw, labSecrets, problemsOf } from "./fixtures";

describe("the lab config", () => {
    test("is valid and gets defaults", () => {
        const v = resolveConfig(labRaw(), labSecrets(), fakeEnv);
        expect(v.ok).toBe(true);
        if (!v.ok) return;
        expect(v.config.pools[0]).toMatchObject({
            blockSize: 26,
            ipipMode: "Never",
            vxlanMode: "Never",
            natOutgoing: true,
            nodeSelector: "all()",
        });
        expect(v.config.images.node).toBe("quay.io/calico/node:v3.32.1");
        expect(v.config.mtu).toBe(1500);
        expect(v.config.cniBinaries.map((b) => b.name)).toEqual(["calico", "calico-ipam", "host-local", "loopback", "portmap"]);
    });
});

// Each case: what to break, and the exact message it must produce.
const cases: [string, Mutate, string | string[]][] = [
    [
        "malformed pod CIDR",
        (r) => (r.cluster.podCidr = "10.244.0.0/33"),
        'calico:cluster.podCidr = "10.244.0.0/33": is not a CIDR; write it as address/prefix, e.g. 10.244.0.0/16.',
    ],
    [
        "host bits in a pool CIDR",
        (r) => (r.pools[0].cidr = "10.244.1.0/18"),
        'calico:pools[ipv4-ippool-1].cidr = "10.244.1.0/18": has host bits set; use the network address 10.244.0.0/18.',
    ],
    [
        "malformed pool CIDR",
        (r) => (r.pools[0].cidr = "banana"),
        'calico:pools[ipv4-ippool-1].cidr = "banana": is not a CIDR; write it as address/prefix, e.g. 10.244.0.0/16.',
    ],
    [
        "pool outside the pod CIDR",
        (r) => (r.pools[1].cidr = "10.245.0.0/19"),
        'calico:pools[ipv4-ippool-2].cidr = "10.245.0.0/19": is outside cluster.podCidr 10.244.0.0/16; pick a range inside it.',
    ],
    [
        "overlapping pools",
        (r) => (r.pools[1].cidr = "10.244.32.0/19"),
        'calico:pools[ipv4-ippool-2].cidr = "10.244.32.0/19": overlaps pools[ipv4-ippool-1].cidr 10.244.0.0/18; pools must not share addresses.',
    ],
    [
        "blockSize below 20",
        (r) => (r.pools[0].blockSize = 19),
        "calico:pools[ipv4-ippool-1].blockSize = 19: must be 20-32 for an ipv4 pool; 26 is the usual choice.",
    ],
    [
        "blockSize above 32",
        (r) => (r.pools[0].blockSize = 33),
        "calico:pools[ipv4-ippool-1].blockSize = 33: must be 20-32 for an ipv4 pool; 26 is the usual choice.",
    ],
    [
        "pool smaller than a block",
        (r) => (r.pools[1].cidr = "10.244.192.0/27"),
        'calico:pools[ipv4-ippool-2].cidr = "10.244.192.0/27": is smaller than one /26 block; widen the pool or raise blockSize to at least 27.',
    ],
    [
        "IPIP and VXLAN both on",
        (r) => Object.assign(r.pools[0], { ipipMode: "Always", vxlanMode: "CrossSubnet" }),
        'calico:pools[ipv4-ippool-1].ipipMode = "Always": IPIP and VXLAN (vxlanMode CrossSubnet) are both on; set one of them to Never.',
    ],
    [
        "duplicate pool names",
        (r) => (r.pools[1].name = "ipv4-ippool-1"),
        'calico:pools = "ipv4-ippool-1": pool name "ipv4-ippool-1" is used 2 times; give each pool its own name.',
    ],
    [
        "duplicate node names",
        (r) => (r.nodes[2].name = "cka001"),
        'calico:nodes = "cka001": node name "cka001" is listed 2 times; list each node once.',
    ],
    ["no nodes", (r) => (r.nodes = []), "calico:nodes = []: no nodes; list every Kubernetes node with its name and SSH address."],
    [
        "empty SSH address",
        (r) => (r.nodes[1].address = ""),
        'calico:nodes[cka002].address = "": is empty; give the IP or host name the program reaches this node at over SSH.',
    ],
    [
        "unknown ipipMode",
        (r) => (r.pools[0].ipipMode = "Sometimes"),
        'calico:pools[ipv4-ippool-1].ipipMode = "Sometimes": is not one of Always, CrossSubnet, Never; use one of them.',
    ],
    [
        "unknown backend",
        (r) => (r.calicoNode = { backend: "gobgp" }),
        'calico:calicoNode.backend = "gobgp": is not one of bird, vxlan, none; use one of them.',
    ],
    [
        "unknown key",
        (r) => (r.cni.mtuu = 1400),
        "calico:cni.mtuu = 1400: is not a known key; check its spelling against the config reference (docs/configuration.md).",
    ],
    [
        "two unknown keys, each with its value",
        (r) => {
            r.cni.deliver = "daemonset";
            r.cni.mtuu = 1400;
        },
        [
            'calico:cni.deliver = "daemonset": is not a known key; check its spelling against the config reference (docs/configuration.md).',
            "calico:cni.mtuu = 1400: is not a known key; check its spelling against the config reference (docs/configuration.md).",
        ],
    ],
    [
        "unknown top-level key",
        (r) => (r.typhaa = { enabled: false }),
        'calico:typhaa = {"enabled":false}: is not a known key; check its spelling against the config reference (docs/configuration.md).',
    ],
    [
        "missing CA certificate",
        (r) => delete r.cluster.caCert,
        "calico:cluster.caCert = (unset): the cluster CA is missing; set cluster.caCert (PEM of /etc/kubernetes/pki/ca.crt) and the secret calico:clusterCaKey, or set cluster.caFromNode to read both over SSH.",
    ],
    [
        "missing CA key",
        (_r, s) => delete s.clusterCaKey,
        "calico:clusterCaKey = (unset): the cluster CA key is missing; run `pulumi config set --secret calico:clusterCaKey < /etc/kubernetes/pki/ca.key`, or set cluster.caFromNode.",
    ],
    [
        "CA from an unknown node",
        (r, s) => {
            delete r.cluster.caCert;
            delete s.clusterCaKey;
            r.cluster.caFromNode = "cka009";
        },
        'calico:cluster.caFromNode = "cka009": names no node in calico:nodes; name the control-plane node that holds /etc/kubernetes/pki/ca.key.',
    ],
    [
        "mtu too low",
        (r) => (r.cni.mtu = 500),
        "calico:cni.mtu = 500: is out of range; use 576-9000, or leave it unset to derive it from cluster.networkMtu and the encapsulation.",
    ],
    [
        "mtu too high",
        (r) => (r.cni.mtu = 9500),
        "calico:cni.mtu = 9500: is out of range; use 576-9000, or leave it unset to derive it from cluster.networkMtu and the encapsulation.",
    ],
    [
        "api server not https",
        (r) => (r.cluster.apiServer = "http://x:6443"),
        'calico:cluster.apiServer = "http://x:6443": is not an https URL; give the API server URL the nodes reach, e.g. https://10.0.0.10:6443.',
    ],
    [
        "no SSH key and no agent",
        (_r, s) => delete s.sshPrivateKey,
        labRaw().nodes.map(
            (n) =>
                `calico:sshPrivateKey = (unset): node ${n.name} has no SSH key; set one with \`pulumi config set --secret calico:sshPrivateKey < key\`, add it to calico:sshPrivateKeys, or set calico:ssh.useAgent true.`,
        ),
    ],
    [
        "bad sha256",
        (r) => (r.cni.downloads = { portmap: { url: "https://example.com/cni.tgz", sha256: "abc", archiveMember: "./portmap" } }),
        'calico:cni.downloads.portmap.sha256 = "abc": is not a sha256; give the 64 lower-case hex digits of `sha256sum` of the file.',
    ],
    [
        "IPIP without bird",
        (r) => {
            r.pools[0].ipipMode = "Always";
            r.calicoNode = { backend: "vxlan" };
        },
        'calico:pools[ipv4-ippool-1].ipipMode = "Always": IPIP needs the bird backend (calicoNode.backend is vxlan); set calicoNode.backend to bird or use vxlanMode.',
    ],
    [
        "bad autodetection method",
        (r) => (r.calicoNode = { ipAutodetectionMethod: "interface" }),
        'calico:calicoNode.ipAutodetectionMethod = "interface": interface needs an argument after "="; use first-found, kubernetes-internal-ip, can-reach=<ip or host>, interface=<regex>[,<regex>], skip-interface=<regex>[,<regex>] or cidr=<cidr>[,<cidr>].',
    ],
    [
        "node podCIDR outside the pod CIDR",
        (r) => (r.nodes[0].podCidr = "192.168.0.0/24"),
        'calico:nodes[cka001].podCidr = "192.168.0.0/24": is outside cluster.podCidr 10.244.0.0/16; use the podCIDR Kubernetes gave this node.',
    ],
    ["rsa bits", (r) => (r.pki = { rsaBits: 1000 }), "calico:pki.rsaBits = 1000: use 2048, 3072 or 4096."],
    [
        "more Typha replicas than nodes",
        (r) => (r.typha = { replicas: 4 }),
        "calico:typha.replicas = 4: is more than the 3 nodes, and each replica needs a node of its own; use at most 3.",
    ],
    [
        "version tag",
        (r) => (r.calicoVersion = "3.32.1"),
        'calico:calicoVersion = "3.32.1": is not a v3.32.x patch release; this program\'s RBAC, env and CRD handling are written for Calico v3.32, so use v3.32.1 or another v3.32.x.',
    ],
    [
        "a version the program doesn't know",
        (r) => (r.calicoVersion = "v3.99.0"),
        'calico:calicoVersion = "v3.99.0": is not a v3.32.x patch release; this program\'s RBAC, env and CRD handling are written for Calico v3.32, so use v3.32.1 or another v3.32.x.',
    ],
    [
        "a pre-release of the pinned minor",
        (r) => (r.calicoVersion = "v3.32.0-0.dev"),
        'calico:calicoVersion = "v3.32.0-0.dev": is not a v3.32.x patch release; this program\'s RBAC, env and CRD handling are written for Calico v3.32, so use v3.32.1 or another v3.32.x.',
    ],
    [
        "malformed pool selector",
        (r) => (r.pools[0].nodeSelector = "all("),
        'calico:pools[ipv4-ippool-1].nodeSelector = "all(": is not a Calico selector (expected ==, !=, in, not in, contains, starts with or ends with at character 4, not "("); write e.g. all(), has(zone) or zone == "a".',
    ],
    [
        "pool selector with an unquoted value",
        (r) => (r.pools[0].nodeSelector = "zone == a"),
        'calico:pools[ipv4-ippool-1].nodeSelector = "zone == a": is not a Calico selector (expected a quoted value at character 9, not "a"); write e.g. all(), has(zone) or zone == "a".',
    ],
    [
        "pool selector cut short",
        (r) => (r.pools[0].nodeSelector = "has(zone) &&"),
        'calico:pools[ipv4-ippool-1].nodeSelector = "has(zone) &&": is not a Calico selector (expected all(), has(label), a label comparison, ! or ( at the end); write e.g. all(), has(zone) or zone == "a".',
    ],
    [
        "pool selector with a stray character",
        (r) => (r.pools[0].nodeSelector = "zone == 'a' ; x"),
        'calico:pools[ipv4-ippool-1].nodeSelector = "zone == \'a\' ; x": is not a Calico selector (unexpected ";" at character 13); write e.g. all(), has(zone) or zone == "a".',
    ],
    [
        "two nodes at one SSH address and port",
        (r) => (r.nodes[2].address = r.nodes[0].address),
        'calico:nodes[cka003].address = "172.16.0.11": with port 22 is also the SSH address of nodes[cka001]; give each node the address of its own host.',
    ],
    [
        "two nodes at one SSH address, one port set to the default",
        (r) => {
            r.nodes[1].address = r.nodes[0].address;
            r.nodes[1].port = 22;
        },
        'calico:nodes[cka002].address = "172.16.0.11": with port 22 is also the SSH address of nodes[cka001]; give each node the address of its own host.',
    ],
];

// Selectors Calico accepts: none of these is refused.
const goodSelectors = [
    "all()",
    "global()",
    "has(zone)",
    "!has(route-reflector)",
    "zone == 'a'",
    'zone != "a"',
    "zone in {'a', 'b'}",
    "zone not in {}",
    "kubernetes.io/hostname starts with 'cka' && !(rack ends with '9' || rack contains 'x')",
    "   ",
];

describe("validation", () => {
    test.each(cases)("%s", (_name, mutate, messages) => {
        expect(problemsOf(mutate)).toEqual([messages].flat());
    });

    describe("the SSH agent", () => {
        const agentOnly: Mutate = (r, s) => {
            delete s.sshPrivateKey;
            r.ssh = { ...r.ssh, useAgent: true };
        };
        const noAgent = { ...fakeEnv, sshAuthSock: undefined };

        test("useAgent without SSH_AUTH_SOCK: one problem naming the nodes without a key", () => {
            expect(
                problemsOf(
                    (r, s) => {
                        agentOnly(r, s);
                        s.sshPrivateKeys = { cka001: TEST_KEY_PEM };
                    },
                    { env: noAgent },
                ),
            ).toEqual([
                'calico:ssh.useAgent = true: SSH_AUTH_SOCK is not set where pulumi runs, so cka002, cka003 (no SSH key) cannot authenticate; start an agent holding the key in that shell (`eval "$(ssh-agent)"; ssh-add <key>`), or set one with `pulumi config set --secret calico:sshPrivateKey < key`.',
            ]);
        });

        test("useAgent with SSH_AUTH_SOCK, or with a key for every node, or when verify reads the config: no problem", () => {
            expect(problemsOf(agentOnly)).toEqual([]);
            expect(problemsOf((r) => (r.ssh = { ...r.ssh, useAgent: true }), { env: noAgent })).toEqual([]);
            expect(problemsOf(agentOnly, { env: { ...noAgent, secretValuesHidden: true } })).toEqual([]);
        });
    });

    test.each(goodSelectors)("accepts the selector %j", (selector) => {
        expect(problemsOf((r) => (r.pools[0].nodeSelector = selector))).toEqual([]);
    });

    test("two nodes on one address but different SSH ports are two hosts", () => {
        expect(
            problemsOf((r) => {
                r.nodes[1].address = r.nodes[0].address;
                r.nodes[1].port = 2222;
            }),
        ).toEqual([]);
    });

    test("reports every problem at once", () => {
        const all = problemsOf((r) => {
            r.cluster.podCidr = "nope";
            r.nodes[1].address = "";
            r.pools[0].blockSize = 40;
            r.cni.mtu = 100;
        });
        expect(all.map((p) => p.slice(0, p.indexOf(" = ")))).toEqual([
            "calico:cluster.podCidr",
            "calico:pools[ipv4-ippool-1].blockSize",
            "calico:nodes[cka002].address",
            "calico:cni.mtu",
        ]);
    });

    test("a secret set in plaintext is refused and never echoed", () => {
        const msgs = problemsOf(() => undefined, { env: { ...fakeEnv, plaintextSecretKeys: ["sshPrivateKey"] } });
        expect(msgs).toEqual([
            "calico:sshPrivateKey = <secret>: is stored in plaintext; set it again with `pulumi config set --secret calico:sshPrivateKey`.",
        ]);
        expect(msgs.join()).not.toContain(TEST_KEY_PEM.slice(40, 80));
    });

    test("a missing local binary names the file", () => {
        const msgs = problemsOf(() => undefined, {
            env: { ...fakeEnv, fileSha256: (p) => (p.endsWith("/portmap") ? undefined : "0".repeat(64)) },
        });
        expect(msgs).toEqual([
            'calico:cni.localBinDir = "./cni-bin": has no file portmap (./cni-bin/portmap); put the binary there or add cni.downloads.portmap.',
        ]);
    });

    test("a missing CRD file is named before anything is registered, with the binaries' missing file", () => {
        const msgs = problemsOf((r: any) => (r.datastore = { crdsFile: "../shared/crds.yaml" }), {
            env: { ...fakeEnv, fileSha256: (p) => (p.endsWith("crds.yaml") || p.endsWith("/portmap") ? undefined : "0".repeat(64)) },
        });
        expect(msgs).toEqual([
            'calico:cni.localBinDir = "./cni-bin": has no file portmap (./cni-bin/portmap); put the binary there or add cni.downloads.portmap.',
            "calico:datastore.crdsFile = \"../shared/crds.yaml\": does not exist (a relative path is from the project directory); give the path of Calico's crds.yaml, or remove it to apply the release's CRDs.",
        ]);
        expect(problemsOf((r: any) => (r.datastore = { crdsFile: "../shared/crds.yaml" }))).toEqual([]);
    });

    test.each([
        [[{ ipipMode: "Never" }], 1500],
        [[{ ipipMode: "Always" }], 1480],
        [[{ vxlanMode: "Always" }], 1450],
    ])("pod MTU derives from the encapsulation %j", (modes, mtu) => {
        const raw: any = labRaw();
        raw.pools = [{ name: "p", cidr: "10.244.0.0/18", ...modes[0] }];
        const v = resolveConfig(raw, labSecrets(), fakeEnv);
        expect(v.ok && v.config.mtu).toBe(mtu);
    });
});
