import type { CalicoConfig } from "../config/types";
import { encapsulations } from "../config/mtu";
import { CONFLIST_FILE, PROJECT_SLUG } from "../facts/names";
import { shq } from "./hostScripts";

/**
 * The host checks that run on every node before any file of its install is written (the first part of
 * `<node>-cni-install`, see resources/cniHost.ts): read-only, every problem reported at once with the
 * node's name and the fix, and a non-zero exit that stops only this node's delivery.
 */

/** Calico's interfaces as NetworkManager names them (Calico's NetworkManager docs), with a name each glob matches. */
export const CALICO_INTERFACES = {
    workloads: { glob: "cali*", sample: "cali0123456789a" },
    ipip: { glob: "tunl*", sample: "tunl0" },
    vxlan: { glob: "vxlan.calico", sample: "vxlan.calico" },
    vxlanV6: { glob: "vxlan-v6.calico", sample: "vxlan-v6.calico" },
    wireguard: { glob: "wireguard.cali", sample: "wireguard.cali" },
    wireguardV6: { glob: "wg-v6.cali", sample: "wg-v6.cali" },
} as const;

/** Where `cni.manageNetworkManager` puts its rule (the path Calico's docs use). */
export const NETWORK_MANAGER_CONF = "/etc/NetworkManager/conf.d/calico.conf";

/** The rule for every Calico interface, so a later encapsulation change needs no new one. */
export function networkManagerConf(): string {
    const specs = Object.values(CALICO_INTERFACES).map((i) => `interface-name:${i.glob}`);
    return `# ${PROJECT_SLUG} (cni.manageNetworkManager): NetworkManager leaves Calico's interfaces alone (calico#3271).\n[keyfile]\nunmanaged-devices=${specs.join(";")}\n`;
}

/** After the install wrote the rule: NetworkManager reads its configuration again (newer nmcli, else a reload). */
export const NETWORK_MANAGER_RELOAD = `nmcli general reload conf >/dev/null 2>&1 || systemctl reload NetworkManager >/dev/null 2>&1 || true`;

/**
 * At most this many peers per node get the TCP 179 check. With more, a node checks the ones that follow
 * it by name (wrapping around), so each node is checked from this many others and a port closed on every
 * node, the usual case, is still found; the script and the state stay small at a thousand nodes.
 */
export const MAX_PREFLIGHT_PEERS = 16;

export interface PreflightPeer {
    name: string;
    /** Where this node reaches the peer's BGP port: its `internalAddress`, else its SSH `address`. */
    address: string;
}

/** The checks every node runs alike (its part of the staged install script, builders/hostBundle.ts). */
export interface PreflightChecks {
    confDir: string;
    ipv6: boolean;
    /** Calico interfaces in use, which NetworkManager must leave alone; empty when the program writes the rule. */
    interfaces: { glob: string; sample: string }[];
    bpf: boolean;
    kubeProxyRemoved: boolean;
    /** Whether each node checks TCP 179 to its BGP peers (bird backend and `cni.preflightBgpPeers`). */
    peerChecks: boolean;
}

/** One node's checks: the common ones, with its name and the peers it checks. */
export interface PreflightPlan extends PreflightChecks {
    node: string;
    /** Nodes this one peers with over BGP (bird backend), up to MAX_PREFLIGHT_PEERS; checked only with peerChecks. */
    peers: PreflightPeer[];
}

/** Whether a node has a BGP session with another: every pair in the mesh, else only through route reflectors. */
function peersWith(cfg: CalicoConfig, self: CalicoConfig["nodes"][number], other: CalicoConfig["nodes"][number]): boolean {
    if (other.name === self.name) return false;
    if (cfg.bgp.nodeToNodeMesh) return true;
    // Reflectors peer with everyone; the rest only with the reflectors.
    return self.routeReflectorClusterId !== undefined || other.routeReflectorClusterId !== undefined;
}

/** The checks every node of this config runs alike. */
export function preflightChecksPlan(cfg: CalicoConfig): PreflightChecks {
    const inUse = new Set<string>(["workloads", ...encapsulations(cfg)]);
    const interfaces = cfg.cni.manageNetworkManager
        ? []
        : Object.entries(CALICO_INTERFACES).flatMap(([k, v]) => (inUse.has(k) ? [{ ...v }] : []));
    return {
        confDir: cfg.cni.confDir,
        ipv6: cfg.calicoNode.ipv6,
        interfaces,
        bpf: cfg.calicoNode.dataplane === "bpf",
        kubeProxyRemoved: cfg.calicoNode.kubeProxy === "removed",
        // Opt-in (cni.preflightBgpPeers): a peer list in every install ties each node's resources to the others'.
        peerChecks: cfg.calicoNode.backend === "bird" && cfg.cni.preflightBgpPeers,
    };
}

export function preflightPlan(cfg: CalicoConfig, nodeName: string): PreflightPlan {
    const self = cfg.nodes.find((n) => n.name === nodeName);
    if (!self) throw new Error(`preflightPlan: no node ${nodeName}`);
    const checks = preflightChecksPlan(cfg);
    const peers: PreflightPeer[] = [];
    if (checks.peerChecks) {
        const own = new Set([self.address, self.internalAddress ?? self.address]);
        const seen = new Set<string>();
        // Nodes are sorted by name: start after this one, wrap around, stop at the cap (a thousand nodes
        // make a million steps at most, not a billion).
        const at = cfg.nodes.indexOf(self);
        for (let i = 1; i < cfg.nodes.length && peers.length < MAX_PREFLIGHT_PEERS; i++) {
            const n = cfg.nodes[(at + i) % cfg.nodes.length]!;
            if (!peersWith(cfg, self, n)) continue;
            const address = n.internalAddress ?? n.address;
            // One host per address (the sandbox's nodes share 127.0.0.1 for SSH), never this host itself, and
            // only plain host names and addresses (the script splits the list on spaces).
            if (own.has(address) || seen.has(address) || !/^[A-Za-z0-9.:%_-]+$/.test(address)) continue;
            seen.add(address);
            peers.push({ name: n.name, address });
        }
    }
    return { ...checks, node: self.name, peers };
}

/** A node's two arguments to the checks: its name, and its peers as `name=address` separated by spaces. */
export function preflightArgs(plan: PreflightPlan): { node: string; peers: string } {
    return { node: plan.node, peers: plan.peers.map((x) => `${x.name}=${x.address}`).join(" ") };
}

/** What tests point elsewhere: the root of /proc, /sys, /etc, /run and /usr, the two ports, the connect timeout. */
export interface PreflightOptions {
    root?: string;
    bgpPort?: number;
    kubeletPort?: number;
    timeoutSeconds?: number;
}

/**
 * The checks as a POSIX sh script that only reads, the same for every node: it takes the node's name
 * from `$node` and its peers from `$peers` (preflightArgs). Each problem is one stderr line,
 * `preflight <node>: <what is wrong>; fix: <what to do>`; the script exits 1 after the last check when
 * there was any. Checks that need a tool the host lacks are skipped with a warning, never failed.
 */
export function preflightChecks(plan: PreflightChecks, opts: PreflightOptions = {}): string {
    const r = opts.root ?? "";
    const bgp = opts.bgpPort ?? 179;
    const kubelet = opts.kubeletPort ?? 10250;
    const t = opts.timeoutSeconds ?? 3;
    const lines = [
        `n=$node r=${shq(r)} p=`,
        `bad() { p="$p$(printf '\\npreflight %s: %s' "$n" "$1")"; }`,
        // A process by name, from /proc: no pgrep needed.
        `runs() { for c in "$r"/proc/[0-9]*/comm; do x=; read -r x 2>/dev/null < "$c" || true; [ "$x" = "$1" ] && return 0; done; return 1; }`,
        // The container runtime uses the first file, in byte order, with one of libcni's extensions.
        `for f in ${shq(plan.confDir)}/*; do`,
        `  b=\${f##*/}`,
        `  case "$b" in *.conf | *.conflist | *.json) ;; *) continue ;; esac`,
        `  if [ "$b" != ${CONFLIST_FILE} ] && [ "$(printf '%s\\n' "$b" ${CONFLIST_FILE} | LC_ALL=C sort | head -n 1)" = "$b" ]; then`,
        `    bad "another CNI's config $f sorts before ${CONFLIST_FILE}, so the container runtime would use it; fix: move it out of ${plan.confDir} and remove the CNI that wrote it"`,
        `  fi`,
        `done`,
        `fwd() { v=$(cat "$r/proc/sys/net/$1" 2>/dev/null) || v=unreadable; if [ "$v" != 1 ]; then bad "$2 is $v, so the node would not forward pod traffic; fix: sysctl -w $2=1, and keep it in /etc/sysctl.d/"; fi; }`,
        `fwd ipv4/ip_forward net.ipv4.ip_forward`,
        ...(plan.ipv6 ? [`fwd ipv6/conf/all/forwarding net.ipv6.conf.all.forwarding`] : []),
    ];
    if (plan.interfaces.length > 0) {
        const want = plan.interfaces.map((i) => `${i.sample}=interface-name:${i.glob}`).join(" ");
        const rule = plan.interfaces.map((i) => `interface-name:${i.glob}`).join(";");
        lines.push(
            `if runs NetworkManager; then`,
            `  s=$(cat "$r"/etc/NetworkManager/NetworkManager.conf "$r"/etc/NetworkManager/conf.d/*.conf "$r"/run/NetworkManager/conf.d/*.conf "$r"/usr/lib/NetworkManager/conf.d/*.conf 2>/dev/null | sed -n 's/^[[:space:]]*unmanaged-devices[[:space:]]*+\\{0,1\\}=//p' | tr ';,' '  ')`,
            `  miss=`,
            `  set -f`,
            `  for w in ${want}; do`,
            `    ok=; for x in $s; do case "$x" in interface-name:*) g=\${x#interface-name:}; g=\${g#[=~]}; case "\${w%%=*}" in $g) ok=1 ;; esac ;; esac; done`,
            `    if [ -z "$ok" ]; then miss="$miss \${w#*=}"; fi`,
            `  done`,
            `  set +f`,
            `  if [ -n "$miss" ]; then bad "NetworkManager runs and no unmanaged-devices rule covers$miss, so it would take over Calico's interfaces (calico#3271); fix: put [keyfile] unmanaged-devices=${rule} in /etc/NetworkManager/conf.d/calico.conf and run nmcli general reload conf, or set calico:cni.manageNetworkManager true"; fi`,
            `fi`,
        );
    }
    if (plan.bpf) {
        lines.push(
            `if [ ! -d "$r/sys/fs/bpf" ]; then bad "/sys/fs/bpf is missing, so this kernel has no BPF file system for the eBPF dataplane; fix: boot a kernel with eBPF support (5.3 or later), or set calico:calicoNode.dataplane iptables"; fi`,
        );
        if (plan.kubeProxyRemoved) {
            lines.push(
                `if runs kube-proxy; then bad "kube-proxy runs here while calicoNode.kubeProxy is removed, so Felix would delete its rules as fast as it writes them; fix: turn kube-proxy off (docs/styles.md: kube-proxy and the eBPF dataplane), or set calico:calicoNode.kubeProxy running"; fi`,
            );
        }
    }
    if (plan.peerChecks) {
        lines.push(
            // Connected, or refused by the host (nothing listens yet): the path is open. A timeout or an
            // unreachable error is a filter, unless the host does not answer on its kubelet port or ping either.
            `reach() { o=$(LC_ALL=C timeout ${t} bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1) && return 0; case "$o" in *refused*) return 0 ;; esac; return 1; }`,
            `peer() {`,
            `  reach "\${1#*=}" ${bgp} && return 0`,
            `  if reach "\${1#*=}" ${kubelet} || { command -v ping >/dev/null 2>&1 && ping -c 1 -W 1 "\${1#*=}" >/dev/null 2>&1; }; then`,
            `    echo "Bnode \${1%%=*} (\${1#*=}) answers, but not on TCP ${bgp}, so BIRD cannot peer with it; fix: allow TCP ${bgp} between the nodes (firewall, security group)"`,
            `  else echo "Wnode \${1%%=*} (\${1#*=}) does not answer at all (down?), so TCP ${bgp} to it was not checked"; fi`,
            `}`,
            `if command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then`,
            `  set -f; o=$(for x in $peers; do peer "$x" & done; wait); set +f`,
            `  set -f; IFS='`,
            `'; for x in $o; do case "$x" in B*) bad "\${x#B}" ;; W*) echo "preflight $n: warning: \${x#W}" >&2 ;; esac; done; unset IFS; set +f`,
            `else echo "preflight $n: warning: no bash or timeout here, so TCP ${bgp} to the other nodes was not checked" >&2; fi`,
        );
    }
    lines.push(
        `if [ -n "$p" ]; then printf '%s\\n' "$p" | sed 1d >&2; echo "preflight $n: nothing was written to this node; fix the above and run pulumi up again" >&2; exit 1; fi`,
    );
    return lines.join("\n");
}
