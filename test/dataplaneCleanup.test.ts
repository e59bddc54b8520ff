import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { dataplaneCleanupScript } from "../components/builders/dataplaneCleanup";
import { asRoot } from "../components/builders/hostScripts";

// The script runs for real in a local shell, with the host's network tools replaced by stubs on PATH
// that replay a host's state and log what they were asked to do. On real namespaces it runs in the
// sandbox e2e (check 10: nothing of Calico left after destroy).

let dir: string;
let bin: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "calico-dataplane-"));
    bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function stub(name: string, body: string): void {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${dir}/calls"\n${body}\n`, { mode: 0o755 });
}

const LEGACY_DUMP = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":cali-INPUT - [0:0]",
    '-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
    "-A cali-INPUT -j ACCEPT",
    "COMMIT",
].join("\n");

/** A host with Calico's leftovers in iptables-legacy, nft, ipsets, links and routes. */
function stubHost(): void {
    stub("iptables-legacy-save", `cat <<'EOF'\n${LEGACY_DUMP}\nEOF`);
    stub("iptables-legacy-restore", `cat > "${dir}/restored-legacy"`);
    stub("iptables-nft-save", `printf '*filter\\n:INPUT ACCEPT [0:0]\\nCOMMIT\\n'`);
    stub("iptables-nft-restore", `cat > "${dir}/restored-nft"`);
    stub(
        "nft",
        `[ "$1" = list ] && printf 'table ip filter\\ntable ip calico\\ntable ip6 calico\\ntable arp calico-arp\\ntable ip calico-other\\n'; true`,
    );
    stub("ipset", `[ "$1" = list ] && printf 'cali40all-ipam-pools\\nkube-other\\ncali40masq-ipam-pools\\n'; true`);
    stub(
        "ip",
        `if [ "$1" = -o ]; then printf '1: lo: <LOOPBACK>\\n2: eth0@if9: <UP>\\n3: cali12ab34cd56e@if2: <UP>\\n4: tunl0@NONE: <NOARP>\\n5: vxlan.calico: <UP>\\n6: calibr: <UP>\\n'; fi`,
    );
}

function run(script: string): string {
    return execFileSync("/bin/sh", ["-c", asRoot(script, "root")], {
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin` },
        stdio: ["ignore", "pipe", "pipe"],
    });
}

const calls = (): string[] => fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");

async function freePort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
}

test("removes Calico's rules, nft tables, ipsets, links, routes and state, and nothing else", async () => {
    stubHost();
    const state = [path.join(dir, "var-lib-calico"), path.join(dir, "var-run-calico")];
    for (const d of state) fs.mkdirSync(d);
    fs.mkdirSync(path.join(dir, "var-log-calico"));
    run(dataplaneCleanupScript({ felixHealthPort: await freePort(), waitSeconds: 1, stateDirs: state }));

    // iptables-legacy rewritten without Calico's chain, jump and rules; the user's rule kept. The nft
    // flavour had nothing of Calico's, so it was not rewritten.
    expect(fs.readFileSync(path.join(dir, "restored-legacy"), "utf8")).toBe(
        ["*filter", ":INPUT ACCEPT [0:0]", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT", "COMMIT", ""].join("\n"),
    );
    expect(fs.existsSync(path.join(dir, "restored-nft"))).toBe(false);
    expect(calls().filter((c) => !c.startsWith("iptables") && !c.startsWith("nft list") && !c.startsWith("ipset list"))).toEqual([
        "nft delete table ip calico",
        "nft delete table ip6 calico",
        "nft delete table arp calico-arp",
        "ipset destroy cali40all-ipam-pools",
        "ipset destroy cali40masq-ipam-pools",
        "ip -o link show",
        "ip link delete cali12ab34cd56e",
        "ip addr flush dev tunl0",
        "ip link set tunl0 down",
        "ip link delete vxlan.calico",
        "ip -4 route flush table all proto bird",
        "ip -6 route flush table all proto bird",
        "ip -4 route flush table all proto 80",
        "ip -6 route flush table all proto 80",
    ]);
    expect(state.map((d) => fs.existsSync(d))).toEqual([false, false]);
    expect(fs.existsSync(path.join(dir, "var-log-calico"))).toBe(true);
});

test("leaves everything in place while Felix still answers on its health port", async () => {
    stubHost();
    const felix = net.createServer((c) => c.end());
    await new Promise<void>((r) => felix.listen(0, "127.0.0.1", r));
    const port = (felix.address() as net.AddressInfo).port;
    const state = path.join(dir, "var-lib-calico");
    fs.mkdirSync(state);
    try {
        const out = execFileSync(
            "/bin/sh",
            ["-c", `${asRoot(dataplaneCleanupScript({ felixHealthPort: port, waitSeconds: 1, stateDirs: [state] }), "root")} 2>&1`],
            { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin` } },
        );
        expect(out).toBe(
            `calico-node still runs on this host (Felix answers on 127.0.0.1:${port}): left its dataplane in place; drain and delete the node, then clean up\n`,
        );
    } finally {
        await new Promise((r) => felix.close(r));
    }
    expect(fs.existsSync(path.join(dir, "calls"))).toBe(false);
    expect(fs.existsSync(state)).toBe(true);
});
