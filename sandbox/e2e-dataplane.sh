#!/usr/bin/env bash
# The host preflight and the nftables dataplane on real Calico (issue 15): its own stack `sandbox-nft`,
# from a working copy of Pulumi.sandbox.yaml with `calicoNode.dataplane: nftables`,
# `cni.preflightBgpPeers: true` and each node's `internalAddress` (its address on the sandbox bridge).
#   1. planted problems, one `up`: sbx-node-1 has another CNI's `05-flannel.conflist`, sbx-node-2 has
#      net.ipv4.ip_forward=0, sbx-node-3 drops TCP 179 (iptables in its namespace), and a process named
#      NetworkManager runs (this machine's /proc is every node's, so every node sees it). The `up` fails;
#      each node's install names each of its problems with the fix, and no node got a CNI file.
#   2. fixed (the conflist moved away, forwarding on, the filter gone, `cni.manageNetworkManager: true`
#      while the fake NetworkManager still runs): the next `up` succeeds, every node has the conflist and
#      the NetworkManager rule.
#   3. nftables: the FelixConfiguration has nftablesMode Enabled, each node's namespace has Calico's nft table
#      and no `cali` iptables rule; fresh pods ping across every node pair; a deny-ingress NetworkPolicy
#      stops the ping and deleting it brings it back (so the policy is enforced by the nft rules).
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
  ip netns exec "$N3" iptables -D INPUT -p tcp --dport 179 -j DROP 2>/dev/null || true
}
stop_fake_nm() { [[ -z "$FAKE_NM_PID" ]] || { kill "$FAKE_NM_PID" 2>/dev/null; wait "$FAKE_NM_PID" 2>/dev/null; FAKE_NM_PID=; }; }
trap 'stop_fake_nm; restore' EXIT

style_preconditions
style_prepare_stack '
    c.set("calico:calicoNode", { dataplane: "nftables" });
    const cni = c.get("calico:cni"); cni.set("preflightBgpPeers", true);
    for (const n of c.get("calico:nodes").items) {
      const i = argv.indexOf(n.get("name"));
      n.set("internalAddress", argv[i + 1]);
    }' "$N1" "$(node_ip "$N1")" "$N2" "$(node_ip "$N2")" "$N3" "$(node_ip "$N3")" \
  >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }

# ----------------------------------------------------------------------------- 1. planted problems
mkdir -p "$(dirname "$FLANNEL")" "$FAKE_NM_DIR"
printf '{"cniVersion": "0.3.1", "name": "cbr0", "plugins": [{"type": "flannel"}]}\n' >"$FLANNEL"
ip netns exec "$N2" sysctl -qw net.ipv4.ip_forward=0
ip netns exec "$N3" iptables -I INPUT -p tcp --dport 179 -j DROP
cp /bin/sleep "$FAKE_NM_DIR/NetworkManager"
"$FAKE_NM_DIR/NetworkManager" 900 &
FAKE_NM_PID=$!

if p up-planted up --yes --skip-preview --continue-on-error; then
  row "planted: up fails" FAIL "pulumi up succeeded with a foreign conflist, forwarding off, TCP 179 dropped and NetworkManager running"
else
  L="$E/logs/up-planted.log"
  # want NODE PATTERN... : every pattern appears on a `preflight NODE:` line
  want() {
    local n="$1" pat miss=""; shift
    for pat in "$@"; do grep -E "preflight $n: .*$pat" "$L" >/dev/null || miss+="'$pat' "; done
    echo "$miss"
  }
  bad=""
  m=$(want "$N1" "05-flannel.conflist sorts before 10-calico.conflist.*fix: move it out" "NetworkManager runs and no unmanaged-devices rule covers.*calico:cni.manageNetworkManager" "node $N3 \\($(node_ip "$N3")\\) answers, but not on TCP 179"); [[ -z "$m" ]] || bad+="$N1 missing $m; "
  m=$(want "$N2" "net.ipv4.ip_forward is 0.*fix: sysctl -w net.ipv4.ip_forward=1" "NetworkManager runs" "node $N3 \\($(node_ip "$N3")\\) answers, but not on TCP 179"); [[ -z "$m" ]] || bad+="$N2 missing $m; "
  m=$(want "$N3" "NetworkManager runs"); [[ -z "$m" ]] || bad+="$N3 missing $m; "
  for n in "$N1" "$N2" "$N3"; do
    grep -q "preflight $n: nothing was written to this node" "$L" || bad+="$n: no 'nothing was written' line; "
    [[ ! -e "$S/nodes/$n/etc/cni/net.d/10-calico.conflist" && ! -e "$S/nodes/$n/opt/cni/bin/calico" ]] || bad+="$n: got CNI files; "
  done
  grep -E "preflight $N3: .*(flannel|ip_forward|TCP 179)" "$L" >/dev/null && bad+="$N3 blamed for another node's problem; "
  if [[ -z "$bad" ]]; then
    row "planted: every problem named" pass "up failed; $N1: foreign conflist + NetworkManager + TCP 179 to $N3; $N2: ip_forward 0 + NetworkManager + TCP 179 to $N3; $N3: NetworkManager only; no CNI file on any node. e.g. $(grep -m1 "preflight $N2: net.ipv4" "$L" | sed 's/^[^p]*preflight/preflight/' | cut -c1-160)"
  else
    row "planted: every problem named" FAIL "$bad (log $L)"
  fi
fi

# ------------------------------------------------------------------------------------------ 2. fixed
restore
style_config '
    c.set("calico:calicoNode", { dataplane: "nftables" });
    const cni = c.get("calico:cni"); cni.set("preflightBgpPeers", true); cni.set("manageNetworkManager", true);
    for (const n of c.get("calico:nodes").items) {
      const i = argv.indexOf(n.get("name"));
      n.set("internalAddress", argv[i + 1]);
    }' "$N1" "$(node_ip "$N1")" "$N2" "$(node_ip "$N2")" "$N3" "$(node_ip "$N3")" >>"$E/logs/stack-init.log" 2>&1
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
  mode=$($KUBECTL get felixconfigurations.crd.projectcalico.org default -o jsonpath='{.spec.nftablesMode}' 2>&1)
  [[ "$mode" == Enabled ]] || bad+="FelixConfiguration default nftablesMode is '$mode'; "
  for n in "${NODES[@]}"; do
    pid=$(proc_in_netns "$n" '^calico-node -felix') || { bad+="$n: no Felix; "; continue; }
    t=$(ip netns exec "$n" nft list tables 2>/dev/null | awk '$3 ~ /calico/ {print $2 "/" $3}' | xargs)
    [[ -n "$t" ]] || bad+="$n: no calico nft table; "
    tables+="$n: $t; "
    ipt=$( { ip netns exec "$n" iptables-legacy-save 2>/dev/null; ip netns exec "$n" iptables-nft-save 2>/dev/null; } | grep -c -- '-j cali-\|^:cali-' || true)
    [[ "$ipt" == 0 ]] || bad+="$n: $ipt cali iptables rules/chains; "
  done
  [[ -z "$bad" ]] && row "nftables: Felix programs nft" pass "FelixConfiguration nftablesMode Enabled; Felix on every node; nft tables ${tables% ; }; no cali iptables rule or chain (legacy, nft)" \
    || row "nftables: Felix programs nft" FAIL "$bad"
else
  row "nftables: Felix programs nft" FAIL "calico-node not rolled out: $(tail -3 "$E/logs/rollout.log" | xargs)"
fi
check_ping "nftables" "${NODES[@]}"

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
