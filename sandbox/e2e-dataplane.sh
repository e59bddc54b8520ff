#!/usr/bin/env bash
# The host preflight, dual-stack and the nftables dataplane on real Calico (issue 15): its own stack
# `sandbox-nft`, from a working copy of Pulumi.sandbox.yaml as Pulumi.dualstack.yaml has it:
# `calicoNode: {dataplane: nftables, ipv6: true, ipv6AutodetectionMethod: cidr=<the bridge's /64>}`,
# `cluster.podCidrV6` with pool `ipv6-ippool-1`, plus `cni.preflightBgpPeers: true` and each node's
# `internalAddress` (its address on the sandbox bridge).
#   1. planted problems: sbx-node-1 has another CNI's `05-flannel.conflist`, sbx-node-2 has IPv4 and IPv6
#      forwarding off, sbx-node-3 drops TCP 179 (iptables in its namespace). The `up` fails for nodes 1
#      and 2, naming each of their problems with the fix, and writes nothing to them; node 3, with no
#      problem of its own, installs. Then, all fixed but a process named NetworkManager running (this
#      machine's /proc is every node's): nodes 1 and 2, whose installs run again, refuse without the
#      unmanaged-devices rule.
#   2. fixed (the conflist moved away, forwarding on, the filter gone, `cni.manageNetworkManager: true`
#      while the fake NetworkManager still runs): the next `up` succeeds, every node has the conflist and
#      the NetworkManager rule.
#   3. nftables: every Felix runs with FELIX_NFTABLESMODE=Enabled, each node's namespace has Calico's nft
#      tables (ip and ip6) and no `cali` iptables rule; dual-stack: BIRD and BIRD6 each have an
#      Established session with every other node, every fresh pod has an IPv4 address in ipv4-ippool-1
#      and an IPv6 one in ipv6-ippool-1, and every pod pings every other node's pod over both families;
#      a deny-ingress NetworkPolicy stops the ping and deleting it brings it back (so the nft rules
#      enforce it).
#   4. destroy leaves no Calico process, interface, route, iptables rule, nft table or ipset.
# Needs the cluster running and no other stack holding the Calico objects (e2e.sh runs it after its
# destroy). Every wait is bounded; traffic only to 127.0.0.1 and the sandbox's namespaces.
# Ends with `e2e-dataplane: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-nft/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-nft STYLE_TAG=e2e-dataplane
source "$SANDBOX_DIR/e2e-style.sh"
source "$SANDBOX_DIR/e2e-calico.sh"
NS=kube-system

N1="${NODES[0]}" N2="${NODES[1]}" N3="${NODES[2]}"
FLANNEL="$S/nodes/$N1/etc/cni/net.d/05-flannel.conflist"
FAKE_NM_DIR="$E/fake-nm"
FAKE_NM_PID=
restore() {
  rm -f "$FLANNEL"
  ip netns exec "$N2" sysctl -qw net.ipv4.ip_forward=1 2>/dev/null || true
  ip netns exec "$N2" sysctl -qw net.ipv6.conf.all.forwarding=1 2>/dev/null || true
  ip netns exec "$N3" iptables -D INPUT -p tcp --dport 179 -j DROP 2>/dev/null || true
}
stop_fake_nm() { [[ -z "$FAKE_NM_PID" ]] || { kill "$FAKE_NM_PID" 2>/dev/null; wait "$FAKE_NM_PID" 2>/dev/null; FAKE_NM_PID=; }; }
trap 'stop_fake_nm; restore' EXIT

style_preconditions
# The stack's config edits (see above); dp_args MANAGE_NM gives their arguments (cni.manageNetworkManager).
DP_JS='
    c.set("calico:calicoNode", { dataplane: "nftables", ipv6: true, ipv6AutodetectionMethod: "cidr=" + argv[1] });
    c.get("calico:cluster").set("podCidrV6", "fd00:10:244::/56");
    c.get("calico:pools").add(d.createNode({ name: "ipv6-ippool-1", cidr: "fd00:10:244::/64", blockSize: 122,
      ipipMode: "Never", vxlanMode: "Never", natOutgoing: true }));
    const cni = c.get("calico:cni");
    cni.set("preflightBgpPeers", true);
    cni.set("manageNetworkManager", argv[0] === "true");
    for (const n of c.get("calico:nodes").items) {
      const i = argv.indexOf(n.get("name"));
      n.set("internalAddress", argv[i + 1]);
    }'
dp_args() { echo "$1" "$SANDBOX_NODE_NET6::/64" "$N1" "$(node_ip "$N1")" "$N2" "$(node_ip "$N2")" "$N3" "$(node_ip "$N3")"; }
# shellcheck disable=SC2046
style_prepare_stack "$DP_JS" $(dp_args false) >"$E/logs/stack-init.log" 2>&1 \
  || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }

# ----------------------------------------------------------------------------- 1. planted problems
# want LOG NODE PATTERN... : every pattern appears on a `preflight NODE:` line of LOG; prints the missing ones
want() {
  local l="$1" n="$2" pat miss=""; shift 2
  for pat in "$@"; do grep -E "preflight $n: .*$pat" "$l" >/dev/null || miss+="'$pat' "; done
  echo "$miss"
}
has_files() { [[ -e "$S/nodes/$1/etc/cni/net.d/10-calico.conflist" || -e "$S/nodes/$1/opt/cni/bin/calico" ]]; }
# 1a. sbx-node-1 has another CNI's conflist; sbx-node-2 has both forwardings off; sbx-node-3 drops TCP 179,
# which is the other nodes' problem (their check of it), not its own: it installs while they fail.
mkdir -p "$(dirname "$FLANNEL")" "$FAKE_NM_DIR"
printf '{"cniVersion": "0.3.1", "name": "cbr0", "plugins": [{"type": "flannel"}]}\n' >"$FLANNEL"
ip netns exec "$N2" sysctl -qw net.ipv4.ip_forward=0
ip netns exec "$N2" sysctl -qw net.ipv6.conf.all.forwarding=0
ip netns exec "$N3" iptables -I INPUT -p tcp --dport 179 -j DROP
if p up-planted up --yes --skip-preview --continue-on-error; then
  row "planted: up fails" FAIL "pulumi up succeeded with a foreign conflist, forwarding off (IPv4, IPv6) and TCP 179 dropped"
else
  L="$E/logs/up-planted.log" bad=""
  m=$(want "$L" "$N1" "05-flannel.conflist sorts before 10-calico.conflist.*fix: move it out" "node $N3 \\($(node_ip "$N3")\\) answers, but not on TCP 179"); [[ -z "$m" ]] || bad+="$N1 missing $m; "
  m=$(want "$L" "$N2" "net.ipv4.ip_forward is 0.*fix: sysctl -w net.ipv4.ip_forward=1" "net.ipv6.conf.all.forwarding is 0.*fix: sysctl -w net.ipv6.conf.all.forwarding=1" "node $N3 \\($(node_ip "$N3")\\) answers, but not on TCP 179"); [[ -z "$m" ]] || bad+="$N2 missing $m; "
  for n in "$N1" "$N2"; do
    grep -q "preflight $n: nothing was written to this node" "$L" || bad+="$n: no 'nothing was written' line; "
    has_files "$n" && bad+="$n: got CNI files; "
  done
  grep -q "preflight $N3: " "$L" && bad+="$N3 reported: $(grep -m1 "preflight $N3: " "$L" | cut -c1-120); "
  has_files "$N3" || bad+="$N3 (no problem of its own) got no CNI files; "
  if [[ -z "$bad" ]]; then
    row "planted: each node's problems named, the others go on" pass "up failed for $N1 (foreign conflist, TCP 179 to $N3) and $N2 (IPv4 and IPv6 forwarding 0, TCP 179 to $N3), nothing written to them; $N3 reported nothing and got its files. e.g. $(grep -m1 "preflight $N2: net.ipv4" "$L" | sed 's/^[^p]*preflight/preflight/' | cut -c1-160)"
  else
    row "planted: each node's problems named, the others go on" FAIL "$bad (log $L)"
  fi
fi
# 1b. fixed, but a process named NetworkManager runs (this machine's /proc is every node's): the installs
# that run again (nodes 1 and 2; node 3's is unchanged and installed) must refuse without the rule.
restore
cp /bin/sleep "$FAKE_NM_DIR/NetworkManager"
"$FAKE_NM_DIR/NetworkManager" 900 &
FAKE_NM_PID=$!
if p up-nm up --yes --skip-preview --continue-on-error; then
  row "planted: NetworkManager" FAIL "pulumi up succeeded with NetworkManager running and no rule for Calico's interfaces"
else
  L="$E/logs/up-nm.log" bad=""
  for n in "$N1" "$N2"; do
    m=$(want "$L" "$n" "NetworkManager runs and no unmanaged-devices rule covers.*calico:cni.manageNetworkManager"); [[ -z "$m" ]] || bad+="$n missing $m; "
    has_files "$n" && bad+="$n: got CNI files; "
  done
  [[ -z "$bad" ]] && row "planted: NetworkManager" pass "$N1 and $N2 refused, nothing written: $(grep -m1 "preflight $N1: NetworkManager" "$L" | sed 's/^[^p]*preflight/preflight/' | cut -c1-200)" \
    || row "planted: NetworkManager" FAIL "$bad (log $L)"
fi

# ------------------------------------------------------------------------------------------ 2. fixed
restore
# shellcheck disable=SC2046
style_config "$DP_JS" $(dp_args true) >>"$E/logs/stack-init.log" 2>&1 \
  || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not rewrite stack $STACK"; finish; }
if p up-fixed up --yes --skip-preview; then
  bad=""
  for n in "${NODES[@]}"; do
    [[ -s "$S/nodes/$n/etc/cni/net.d/10-calico.conflist" ]] || bad+="$n: no conflist; "
    grep -q '^unmanaged-devices=interface-name:cali\*' "$S/nodes/$n/etc/NetworkManager/conf.d/calico.conf" 2>/dev/null || bad+="$n: no NetworkManager rule; "
  done
  [[ -z "$bad" ]] && row "fixed: up converges" pass "after the fixes (and cni.manageNetworkManager with NetworkManager still running) one up installs every node; conflist and /etc/NetworkManager/conf.d/calico.conf on each" \
    || row "fixed: up converges" FAIL "$bad"
else
  tail -20 "$E/logs/up-fixed.log"; row "fixed: up converges" FAIL "pulumi up failed after the fixes (see $E/logs/up-fixed.log)"
  p destroy destroy --yes --skip-preview --continue-on-error || true
  finish
fi
stop_fake_nm

# ------------------------------------------------------------------------------------------ 3. nftables
if timeout 320 $KUBECTL -n $NS rollout status ds/calico-node --timeout=300s >"$E/logs/rollout.log" 2>&1; then
  bad="" tables=""
  for n in "${NODES[@]}"; do
    pid=$(proc_in_netns "$n" '^calico-node -felix') || { bad+="$n: no Felix; "; continue; }
    # The program sets the mode as env (ranked above the datastore), not in the FelixConfiguration.
    tr '\0' '\n' <"/proc/$pid/environ" | qgrep -x 'FELIX_NFTABLESMODE=Enabled' || bad+="$n: Felix without FELIX_NFTABLESMODE=Enabled; "
    t=$(ip netns exec "$n" nft list tables 2>/dev/null | awk '$3 ~ /calico/ {print $2 "/" $3}' | xargs)
    [[ "$t" == *"ip/calico"* && "$t" == *"ip6/calico"* ]] || bad+="$n: nft tables '$t', want ip and ip6 calico; "
    tables+="$n: $t; "
    ipt=$( { ip netns exec "$n" iptables-legacy-save 2>/dev/null; ip netns exec "$n" iptables-nft-save 2>/dev/null; } | grep -c -- '-j cali-\|^:cali-' || true)
    [[ "$ipt" == 0 ]] || bad+="$n: $ipt cali iptables rules/chains; "
  done
  [[ -z "$bad" ]] && row "nftables: Felix programs nft" pass "Felix with FELIX_NFTABLESMODE=Enabled on every node; nft tables ${tables% ; }; no cali iptables rule or chain (legacy, nft)" \
    || row "nftables: Felix programs nft" FAIL "$bad"
else
  row "nftables: Felix programs nft" FAIL "calico-node not rolled out: $(tail -3 "$E/logs/rollout.log" | xargs)"
fi

# BGP over both families: BIRD and BIRD6 each Established with every other node.
bad="" est="" want_est=$(( ${#NODES[@]} - 1 ))
for n in "${NODES[@]}"; do
  for c in bird bird6; do
    sock="$S/nodes/$n/var/run/calico/$c.ctl"
    timeout 90 bash -c "until [[ \$(birdc -s '$sock' show protocols 2>/dev/null | grep -c Established) -ge $want_est ]]; do sleep 2; done" \
      || bad+="$n: $c has fewer than $want_est Established sessions ($(birdc -s "$sock" show protocols 2>&1 | awk 'NR>2 {print $1 ":" $6}' | xargs)); "
    est+="$n/$c=$(birdc -s "$sock" show protocols 2>/dev/null | grep -c Established) "
  done
done
[[ -z "$bad" ]] && row "dual-stack: BGP both families" pass "Established sessions per node: ${est% }" || row "dual-stack: BGP both families" FAIL "$bad"

check_ping "nftables, IPv4" "${NODES[@]}"
# The same pods: an IPv6 address each from ipv6-ippool-1, and ping -6 across every pair.
bad="" pairs=0 addrs=""
declare -A ip6=() pns=()
for n in "${NODES[@]}"; do
  ips=$($KUBECTL -n $PT_NS get pod "pingtest-$n" -o jsonpath='{range .status.podIPs[*]}{.ip}{" "}{end}')
  v4=$(tr ' ' '\n' <<<"$ips" | grep -m1 '\.' || true); v6=$(tr ' ' '\n' <<<"$ips" | grep -m1 ':' || true)
  { [[ -n "$v4" ]] && in_cidr "$v4" "$POOL1_CIDR"; } || bad+="pingtest-$n: IPv4 '$v4' not in $POOL1_CIDR; "
  { [[ -n "$v6" ]] && in_cidr "$v6" fd00:10:244::/64; } || bad+="pingtest-$n: IPv6 '$v6' not in fd00:10:244::/64; "
  ip6[$n]=$v6; pns[$n]=$(pod_netns $PT_NS "pingtest-$n"); addrs+="$n=$v4,$v6 "
done
for a in "${NODES[@]}"; do for b in "${NODES[@]}"; do
  [[ $a == "$b" || -z "${ip6[$b]}" ]] && continue
  r=$(ping_from "${pns[$a]}" "${ip6[$b]}" 5); pairs=$((pairs + 1))
  [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] || bad+="pingtest-$a -> pingtest-$b (${ip6[$b]}): $r; "
done; done
if [[ -z "$bad" ]]; then row "dual-stack: pods ping -6" pass "every pod has both families (${addrs% }); $pairs pod pairs ping over IPv6 with 0% loss"
else row "dual-stack: pods ping -6" FAIL "$bad"; fi

# A deny-ingress policy on the pod of sbx-node-2 stops pings to it; deleting it restores them.
a_ns=$(pod_netns $PT_NS "pingtest-$N1") b_ip=$(pod_ip $PT_NS "pingtest-$N2")
$KUBECTL -n $PT_NS apply -f - >/dev/null <<EOP
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-$N2"},
 "spec": {"podSelector": {"matchLabels": {"app": "pingtest"}}, "policyTypes": ["Ingress"]}}
EOP
blocked=""
for i in $(seq 1 30); do r=$(ping_from "$a_ns" "$b_ip" 2); [[ "$(awk '{print $2}' <<<"$r")" == 0 ]] && { blocked=$i; break; }; sleep 1; done
$KUBECTL -n $PT_NS delete networkpolicy "deny-$N2" >/dev/null
back=""
for i in $(seq 1 30); do r=$(ping_from "$a_ns" "$b_ip" 2); [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] && { back=$i; break; }; sleep 1; done
nftrules=$(ip netns exec "$N2" nft list ruleset 2>/dev/null | grep -c 'cali-pi-\|cali-tw-' || true)
if [[ -n "$blocked" && -n "$back" ]]; then
  row "nftables: NetworkPolicy enforced" pass "deny-ingress policy: ping $N1 -> $N2 pod ($b_ip) stopped within ${blocked} tries; deleted: back within ${back} tries"
else
  row "nftables: NetworkPolicy enforced" FAIL "blocked=${blocked:-never} restored=${back:-never} (nft policy lines on $N2 at the end: $nftrules)"
fi
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1

# ------------------------------------------------------------------------------------------ 4. destroy
if p destroy destroy --yes --skip-preview; then
  nm_left=$(ls "$S"/nodes/*/etc/NetworkManager/conf.d/calico.conf 2>/dev/null | wc -l)
  if out=$(calico_leftovers 2>&1) && [[ $nm_left == 0 ]]; then
    row "destroy" pass "no Calico process, interface, route, iptables rule, nft table or ipset left in any node's namespace; no NetworkManager rule left"
  else row "destroy" FAIL "$out; NetworkManager rules left: $nm_left"; fi
else
  row "destroy" FAIL "pulumi destroy failed (see $E/logs/destroy.log)"
fi
style_remove_stack
finish
