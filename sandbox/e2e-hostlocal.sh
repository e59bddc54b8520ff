#!/usr/bin/env bash
# The host-local IPAM style on real Calico (issue 13): its own stack `sandbox-hostlocal`, from a working copy
# of Pulumi.sandbox.yaml set up as Pulumi.hostlocal.yaml has it: `cni.ipam: host-local`, each node's
# Kubernetes podCIDR (the controller-manager's --allocate-node-cidrs, read from `kubectl get nodes`) as its
# `podCidr`, one unencapsulated pool over the cluster range. Checks: every conflist's IPAM is host-local on
# the node's podCIDR and calico-node advertises podCIDRs (USE_POD_CIDR); fresh pods, two per node, get
# distinct addresses inside their node's podCIDR from host-local (its allocation files on the node, no Calico
# IPAM handle); BIRD routes each node's podCIDR via that node; pods ping across every node pair and from
# every node to every remote pod; deleting the pods releases their addresses; destroy leaves nothing.
# Needs the cluster running and no other stack holding the Calico objects. Every wait is bounded; traffic
# only between the sandbox's namespaces.
# Ends with `e2e-hostlocal: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-hostlocal/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-hostlocal STYLE_TAG=e2e-hostlocal
source "$SANDBOX_DIR/e2e-style.sh"
source "$SANDBOX_DIR/e2e-calico.sh"
NS=kube-system
T0=$(date +%s)
HL_POOL_CIDR="$SANDBOX_POD_CIDR"
# host-local's state on a node: one file per address, named after it, holding the container id.
HL_DIR=var/lib/cni/networks/k8s-pod-network
hl_files() { find "$S/nodes/$1/$HL_DIR" -maxdepth 1 -type f -name '[0-9]*' -printf '%f\n' 2>/dev/null | sort -V | xargs; }

style_preconditions
# An interrupted run's allocations would count as leaks below; no pod of a host-local stack runs now.
for n in "${NODES[@]}"; do rm -rf "${S:?}/nodes/$n/$HL_DIR"; done
declare -A CIDR=()
bad=""
for n in "${NODES[@]}"; do
  CIDR[$n]=$($KUBECTL get node "$n" -o jsonpath='{.spec.podCIDR}')
  [[ -n "${CIDR[$n]}" ]] && in_cidr "${CIDR[$n]%/*}" "$HL_POOL_CIDR" || bad+="$n: podCIDR '${CIDR[$n]}'; "
done
[[ -z "$bad" ]] || { row "podCIDRs" FAIL "nodes without a podCIDR in $HL_POOL_CIDR (kube-controller-manager --allocate-node-cidrs): $bad"; finish; }
cidrs_json=$(for n in "${NODES[@]}"; do printf '%s\n%s\n' "$n" "${CIDR[$n]}"; done | jq -Rn '[inputs] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add')

# The calico/cni image (and the sandbox's image root of it) has no bandwidth plugin: off, as the daemonset
# delivery would need it on the hosts already; the check is about addresses, not traffic shaping.
style_prepare_stack '
    const cidr = JSON.parse(argv[0]);
    for (const x of c.get("calico:nodes").items) x.set("podCidr", cidr[x.get("name")]);
    c.set("calico:pools", [{ name: "hl-pods", cidr: argv[1], ipipMode: "Never", vxlanMode: "Never", natOutgoing: true }]);
    c.get("calico:cni").set("ipam", "host-local");
    c.get("calico:cni").set("bandwidth", false);' "$cidrs_json" "$HL_POOL_CIDR" \
  >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }

t0=$(date +%s)
if p up up --yes --skip-preview && timeout 320 $KUBECTL -n $NS rollout status ds/calico-node --timeout=300s >"$E/logs/rollout.log" 2>&1; then
  row "up" pass "pulumi up of $STACK in $(($(date +%s) - t0)) s (host-local, pool hl-pods $HL_POOL_CIDR unencapsulated, podCIDRs $(for n in "${NODES[@]}"; do printf '%s=%s ' "$n" "${CIDR[$n]}"; done | xargs)); calico-node rolled out"
else
  tail -30 "$E/logs/up.log"; row "up" FAIL "pulumi up failed or calico-node not Ready (see $E/logs/up.log)"
  p destroy destroy --yes --skip-preview --continue-on-error || true
  style_remove_stack; clean_trees; finish
fi

bad="" seen=""
for n in "${NODES[@]}"; do
  f="$S/nodes/$n/etc/cni/net.d/10-calico.conflist"
  ipam=$(jq -c '.plugins[] | select(.type == "calico") | .ipam' "$f" 2>/dev/null)
  # Calico's plugin replaces "usePodCidr" with the Node's spec.podCIDR at each ADD (host-local's own file below shows the result).
  [[ "$ipam" == '{"subnet":"usePodCidr","type":"host-local"}' || "$ipam" == '{"type":"host-local","subnet":"usePodCidr"}' ]] || bad+="$n: conflist ipam $ipam; "
  [[ -x "$S/nodes/$n/opt/cni/bin/host-local" ]] || bad+="$n: no /opt/cni/bin/host-local; "
  [[ "$($KUBECTL get node "$n" -o jsonpath='{.spec.podCIDR}')" == "${CIDR[$n]}" ]] || bad+="$n: Node podCIDR changed; "
  seen+="$n: $ipam on ${CIDR[$n]}; "
done
upc=$($KUBECTL -n $NS get ds calico-node -o json | jq -r '.spec.template.spec.containers[0].env[] | select(.name == "USE_POD_CIDR") | .value')
[[ "$upc" == true ]] || bad+="calico-node USE_POD_CIDR '$upc'; "
[[ -z "$bad" ]] && row "conflist" pass "${seen%; }; host-local binary on every node; calico-node USE_POD_CIDR=true" || row "conflist" FAIL "$bad"

check_ping "host-local" "${NODES[@]}"
# A second fresh pod on every node: two addresses each, from the node's own range.
for n in "${NODES[@]}"; do make_pod "second-$n" "$n"; done
wait_pods_ready -l app=pingtest || row "second pods" FAIL "not Ready: $($KUBECTL -n $PT_NS get pods --no-headers 2>&1 | awk '{print $1, $3}' | xargs)"
bad="" seen="" all=""
for n in "${NODES[@]}"; do
  for pod in "pingtest-$n" "second-$n"; do
    ip_=$(pod_ip $PT_NS "$pod"); all+="$ip_ "
    in_cidr "$ip_" "${CIDR[$n]}" 2>/dev/null || bad+="$pod: '$ip_' outside $n's podCIDR ${CIDR[$n]}; "
    # sbx-kubelet's CNI container id is "sbx" + the pod UID without dashes (toolchain/kubelet/network.go).
    cid="sbx$(pod_uid $PT_NS "$pod" | tr -d -)"
    [[ "$(head -1 "$S/nodes/$n/$HL_DIR/$ip_" 2>/dev/null | tr -d "\r")" == "$cid" ]] || bad+="$pod: host-local's $HL_DIR/$ip_ on $n does not hold $cid; "
    seen+="$pod=$ip_ "
  done
  seen+="(files on $n: $(hl_files "$n")); "
done
dups=$(tr ' ' '\n' <<<"$all" | grep . | sort | uniq -d | xargs)
[[ -z "$dups" ]] || bad+="addresses handed out twice: $dups; "
handles=$($KUBECTL get ipamhandles.crd.projectcalico.org -o name 2>/dev/null | grep -c 'k8s-pod-network')
[[ "$handles" == 0 ]] || bad+="$handles Calico IPAM handles for pods (calico-ipam was used); "
[[ -z "$bad" ]] && row "addresses" pass "every pod inside its node's podCIDR, none twice: ${seen%; }; no Calico IPAM handle for any pod" \
  || row "addresses" FAIL "$bad"

bad="" seen=""
for a in "${NODES[@]}"; do
  for b in "${NODES[@]}"; do
    [[ $a == "$b" ]] && continue
    ip -n "$a" route show proto bird | qgrep -E "^${CIDR[$b]} via $(node_ip "$b") " || bad+="$a: no BIRD route ${CIDR[$b]} via $(node_ip "$b") ($(ip -n "$a" route show proto bird | xargs)); "
    r=$(ping_from "$a" "$(pod_ip $PT_NS "second-$b")" 5)
    [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] || bad+="node $a -> second-$b: $r; "
    seen+="$a->second-$b "
  done
done
[[ -z "$bad" ]] && row "routes and node-to-pod" pass "every node routes every other node's podCIDR via that node (BIRD); node-to-pod pings 0% loss: $(xargs <<<"$seen")" \
  || row "routes and node-to-pod" FAIL "$bad"

# The test pods' addresses come back with their CNI DEL; kube-controllers (on the pod network) keeps its own.
kc_ip=$($KUBECTL -n $NS get pod -l k8s-app=calico-kube-controllers -o jsonpath='{.items[0].status.podIP}')
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1
left="" ; for n in "${NODES[@]}"; do for f in $(hl_files "$n"); do [[ "$f" == "$kc_ip" ]] || left+="$n: $f; "; done; done
[[ -z "$left" ]] && row "release" pass "deleting the pods released their host-local addresses: only kube-controllers' $kc_ip is still allocated" \
  || row "release" FAIL "addresses still allocated after the pods were deleted: $left"
if p destroy destroy --yes --skip-preview; then
  left=""; for _ in $(seq 1 30); do left=""; for n in "${NODES[@]}"; do f=$(hl_files "$n"); [[ -z "$f" ]] || left+="$n: $f; "; done; [[ -z "$left" ]] && break; sleep 1; done
  if out=$(calico_leftovers 2>&1) && [[ -z "$left" ]]; then row "destroy" pass "kube-controllers' address released too (no host-local allocation left); no Calico process, interface, route, iptables rule, nft table or ipset left"
  else row "destroy" FAIL "$out host-local addresses still allocated: ${left:-none}"; fi
else
  row "destroy" FAIL "pulumi destroy failed (see $E/logs/destroy.log)"
fi
style_remove_stack
clean_trees
for n in "${NODES[@]}"; do rm -rf "${S:?}/nodes/$n/$HL_DIR"; done
echo "e2e-hostlocal: $(($(date +%s) - T0)) s"
finish
