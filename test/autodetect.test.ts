import { parseAutodetect } from "../components/config/autodetect";
import { formatProblem } from "../components/config/problems";
import { resolveConfig } from "../components/config/resolve";
import { fakeEnv, labRaw, labSecrets } from "./fixtures";

const USAGE =
    "use first-found, kubernetes-internal-ip, can-reach=<ip or host>, interface=<regex>[,<regex>], " +
    "skip-interface=<regex>[,<regex>] or cidr=<cidr>[,<cidr>]";

describe("IP autodetection methods calico/node supports", () => {
    test.each([
        ["first-found", { kind: "first-found" }],
        ["kubernetes-internal-ip", { kind: "kubernetes-internal-ip" }],
        ["can-reach=8.8.8.8", { kind: "can-reach", destination: "8.8.8.8" }],
        ["can-reach=2001:4860:4860::8888", { kind: "can-reach", destination: "2001:4860:4860::8888" }],
        ["can-reach=www.google.com", { kind: "can-reach", destination: "www.google.com" }],
        ["interface=eth0", { kind: "interface", patterns: ["eth0"] }],
        ["interface=eth.*,ens.*", { kind: "interface", patterns: ["eth.*", "ens.*"] }],
        ["skip-interface=docker.*, cni.*", { kind: "skip-interface", patterns: ["docker.*", "cni.*"] }],
        ["cidr=172.16.0.0/24", { kind: "cidr", cidrs: ["172.16.0.0/24"] }],
        ["cidr=172.16.0.0/24,fd00::/64", { kind: "cidr", cidrs: ["172.16.0.0/24", "fd00::/64"] }],
    ])("accepts %s", (text, method) => {
        expect(parseAutodetect(text)).toEqual({ ok: true, method });
    });

    test.each([
        ["firstfound", `unknown method "firstfound"; ${USAGE}`],
        ["", `unknown method ""; ${USAGE}`],
        ["first-found=eth0", 'first-found takes no argument; write just "first-found"'],
        ["kubernetes-internal-ip=x", 'kubernetes-internal-ip takes no argument; write just "kubernetes-internal-ip"'],
        ["can-reach", `can-reach needs an argument after "="; ${USAGE}`],
        ["can-reach=", `can-reach needs an argument after "="; ${USAGE}`],
        ["can-reach=not a host", 'can-reach needs an IP address or a host name, not "not a host"'],
        ["can-reach=-bad-.example", 'can-reach needs an IP address or a host name, not "-bad-.example"'],
        ["interface=eth[0", 'interface has an invalid regex "eth[0"; e.g. interface=eth.*'],
        ["interface=eth0,,ens3", 'interface has an empty regex in "eth0,,ens3"; remove the extra comma'],
        ["skip-interface=(", 'skip-interface has an invalid regex "("; e.g. interface=eth.*'],
        ["cidr=10.0.0.1/8", 'cidr entry "10.0.0.1/8" has host bits set; use the network address 10.0.0.0/8'],
        ["cidr=10.0.0.0", 'cidr entry "10.0.0.0" is not a CIDR; write it as address/prefix, e.g. 10.244.0.0/16'],
    ])("rejects %p: %s", (text, reason) => {
        expect(parseAutodetect(text)).toEqual({ ok: false, reason });
    });

    test("validation reports the key, the value and the reason", () => {
        const raw: any = labRaw();
        raw.calicoNode = { ipAutodetectionMethod: "interface=eth[0" };
        const v = resolveConfig(raw, labSecrets(), fakeEnv);
        expect(v.ok).toBe(false);
        if (v.ok) return;
        expect(v.problems.map(formatProblem)).toEqual([
            'calico:calicoNode.ipAutodetectionMethod = "interface=eth[0": interface has an invalid regex "eth[0"; e.g. interface=eth.*.',
        ]);
    });
});
