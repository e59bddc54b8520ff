#!/usr/bin/env bash
# The VXLAN install style on real Calico (issue 13): its own stack `sandbox-vxlan`, from a working copy of
# Pulumi.sandbox.yaml with both pools `vxlanMode: Always` and `calicoNode.backend: vxlan`. Checks that
# every node's conflist has the pod MTU = the network MTU (1500) minus VXLAN's 50 bytes, that each node has
# `vxlan.calico` with that MTU and no BIRD runs anywhere, that fresh pods get that MTU on eth0 and ping
# across every node pair through `vxlan.calico` (the node's route to a remote pod's block), and that destroy
# leaves nothing of Calico behind. Needs the cluster running and no other stack holding the Calico objects
# (e2e.sh runs it after its destroy). Every wait is bounded; traffic only to the sandbox's namespaces.
# Ends with `e2e-vxlan: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-vxlan/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-vxlan STYLE_TAG=e2e-vxlan
source "$SANDBOX_DIR/e2e-style.sh"
source "$SANDBOX_DIR/e2e-calico.sh"
NS=kube-system
WANT_MTU=1450

style_preconditions
style_prepare_stack '
    for (const p of c.get("calico:pools").items) p.set("vxlanMode", "Always");
    c.set("calico:calicoNode", { backend: "vxlan" });' \
  >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }

if p up up --yes --skip-preview && timeout 320 $KUBECTL -n $NS rollout status ds/calico-node --timeout=300s >"$E/logs/rollout.log" 2>&1; then
  row "up" pass "pulumi up of $STACK (VXLAN pools, backend vxlan); calico-node rolled out"
else
  tail -30 "$E/logs/up.log"; row "up" FAIL "pulumi up failed or calico-node not Ready (see $E/logs/up.log)"
  p destroy destroy --yes --skip-preview --continue-on-error || true
  finish
fi

bad="" seen=""
for n in "${NODES[@]}"; do
  m=$(jq -r '.plugins[] | select(.type == "calico") | .mtu' "$S/nodes/$n/etc/cni/net.d/10-calico.conflist" 2>/dev/null)
  [[ "$m" == "$WANT_MTU" ]] || bad+="$n: conflist mtu '$m'; "
  vm=$(ip -n "$n" -o link show vxlan.calico 2>/dev/null | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
  [[ "$vm" == "$WANT_MTU" ]] || bad+="$n: vxlan.calico mtu '${vm:-no interface}'; "
  b=$(proc_in_netns "$n" '^bird( |$)|^bird6( |$)' || true)
  [[ -z "$b" ]] || bad+="$n: a BIRD process runs (pid $b); "
  seen+="$n: conflist $m, vxlan.calico $vm; "
done
[[ -z "$bad" ]] && row "MTU and no BIRD" pass "pod MTU 1500 - 50 = $WANT_MTU: ${seen%; }; no bird or bird6 process in any node" \
  || row "MTU and no BIRD" FAIL "$bad"

check_ping "vxlan" "${NODES[@]}"
bad="" routes=""
for n in "${NODES[@]}"; do
  pm=$(ip netns exec "$(pod_netns $PT_NS "pingtest-$n")" cat /sys/class/net/eth0/mtu 2>/dev/null)
  [[ "$pm" == "$WANT_MTU" ]] || bad+="pingtest-$n: eth0 mtu '$pm'; "
done
for a in "${NODES[@]}"; do for b in "${NODES[@]}"; do
  [[ $a == "$b" ]] && continue
  dev=$(ip -n "$a" route get "$(pod_ip $PT_NS "pingtest-$b")" 2>/dev/null | grep -o 'dev [^ ]*' | cut -d' ' -f2)
  [[ "$dev" == vxlan.calico ]] || bad+="$a -> pingtest-$b: route via '${dev:-none}'; "
done; done
[[ -z "$bad" ]] && row "through vxlan.calico" pass "every pod's eth0 MTU $WANT_MTU; every node routes every other node's pod via vxlan.calico" \
  || row "through vxlan.calico" FAIL "$bad"
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1

if p destroy destroy --yes --skip-preview; then
  if out=$(calico_leftovers 2>&1); then row "destroy" pass "no Calico process, interface (vxlan.calico too), route, iptables rule, nft table or ipset left"
  else row "destroy" FAIL "$out"; fi
else
  row "destroy" FAIL "pulumi destroy failed (see $E/logs/destroy.log)"
fi
style_remove_stack
clean_trees
finish
