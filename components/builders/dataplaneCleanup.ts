import { shq } from "./hostScripts";

/**
 * What calico-node leaves in a host's network after it stops: Felix's iptables/nftables rules and
 * ipsets, the workload and tunnel interfaces, and the routes BIRD and Felix programmed. Removing a
 * host from Calico (destroy, or a node removed from config after it was drained and deleted) runs
 * this once calico-node is gone, as kubespray's reset does; on a host where calico-node still runs,
 * Felix would only put it all back.
 */

/** Felix's health endpoint (FELIX_HEALTHPORT, whose default the program keeps): open while calico-node runs. */
export const FELIX_HEALTH_PORT = 9099;
/** How long to wait for calico-node's pods to finish terminating. */
const STOP_WAIT_SECONDS = 20;

/** Calico's own names: chains `cali-*`, rule comments `cali:<hash>`, sets `cali40*`/`cali60*`, workload veths `cali` + 11 hex digits. */
const CALICO_RULE = "cali-|cali:";
const CALICO_LINKS = "^(cali[0-9a-f]{11}$|tunl0$|vxlan\\.calico$|vxlan-v6\\.calico$|wireguard\\.cali$|wg-v6\\.cali$)";
/** Route protocols: `bird` (BIRD's routes and the IPAM blocks' blackholes) and 80 (Felix's VXLAN routes). */
const ROUTE_PROTOS = ["bird", "80"];
/** calico-node's state on the host (nodename, BIRD sockets); a stale nodename misnames a re-installed node. */
const STATE_DIRS = ["/var/lib/calico", "/var/run/calico"];

/** Calico facts the script relies on; tests point them elsewhere. */
export interface CleanupOptions {
    felixHealthPort?: number;
    waitSeconds?: number;
    stateDirs?: string[];
}

/**
 * The cleanup as a POSIX sh script. Each step tolerates a tool the host lacks (no nft, no IPv6), so
 * one script serves iptables-legacy, iptables-nft and nftables hosts.
 */
export function dataplaneCleanupScript(opts: CleanupOptions = {}): string {
    const port = opts.felixHealthPort ?? FELIX_HEALTH_PORT;
    const wait = opts.waitSeconds ?? STOP_WAIT_SECONDS;
    const stateDirs = opts.stateDirs ?? STATE_DIRS;
    return [
        // calico-node still running here (a node taken out of config before it was drained and deleted, or
        // pods still terminating): wait a little, then leave the dataplane to it rather than break it.
        `i=0`,
        `while command -v bash >/dev/null 2>&1 && bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null; do`,
        `  i=$((i + 1))`,
        `  if [ "$i" -gt ${wait} ]; then`,
        `    echo "calico-node still runs on this host (Felix answers on 127.0.0.1:${port}): left its dataplane in place; drain and delete the node, then clean up" >&2`,
        `    exit 0`,
        `  fi`,
        `  sleep 1`,
        `done`,
        // Every table of each iptables flavour, rewritten without Calico's chains and rules (atomic per table).
        `for ipt in iptables-legacy ip6tables-legacy iptables-nft ip6tables-nft; do`,
        `  command -v "$ipt-save" >/dev/null 2>&1 || continue`,
        `  dump=$("$ipt-save" 2>/dev/null) || continue`,
        `  printf '%s\\n' "$dump" | grep -Eq '${CALICO_RULE}' || continue`,
        `  printf '%s\\n' "$dump" | grep -Ev '${CALICO_RULE}' | "$ipt-restore"`,
        `done`,
        // Calico's nftables mode keeps everything in tables named calico; the ARP anti-spoofing table
        // calico-arp exists in iptables mode too.
        `if command -v nft >/dev/null 2>&1; then`,
        `  nft list tables 2>/dev/null | while read -r _ family name; do`,
        `    case "$name" in calico | calico-arp) nft delete table "$family" "$name" ;; esac`,
        `  done`,
        `fi`,
        `if command -v ipset >/dev/null 2>&1; then`,
        `  for s in $(ipset list -n 2>/dev/null | grep '^cali' || true); do ipset destroy "$s"; done`,
        `fi`,
        // tunl0 is the kernel's fallback tunnel and cannot be deleted: down it and drop Calico's address.
        `for dev in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '${CALICO_LINKS}' || true); do`,
        `  if [ "$dev" = tunl0 ]; then ip addr flush dev tunl0; ip link set tunl0 down; else ip link delete "$dev"; fi`,
        `done`,
        ...ROUTE_PROTOS.flatMap((p) => [
            `ip -4 route flush table all proto ${p} 2>/dev/null || true`,
            `ip -6 route flush table all proto ${p} 2>/dev/null || true`,
        ]),
        `rm -rf ${stateDirs.map(shq).join(" ")}`,
    ].join("\n");
}
