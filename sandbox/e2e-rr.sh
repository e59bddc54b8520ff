#!/usr/bin/env bash
# The route-reflector end-to-end check (issues 5 and 13): its own stack `sandbox-rr` on the sandbox cluster,
# from a working copy of Pulumi.sandbox.yaml ($S/stack-rr/Pulumi.sandbox-rr.yaml; the committed file is
# never touched). First the full mesh (the committed config, bird backend), pods on every node and the
# traffic probe (sandbox/probe.sh) between them; then, in one `up`, sbx-node-1 becomes the route reflector
# (cluster ID 244.0.0.1), the mesh goes off and the service range is advertised. The probe must lose no
# packet across that update. Checks the live BGPConfiguration, the two BGPPeers, the node label and
# annotation, that the BGPConfiguration patch is created after both BGPPeers (sequence numbers in the
# engine's events from `up --json`), that the reflector's BIRD has a session with every other node and the
# others only with the reflector, that fresh pods ping across nodes, and that destroy removes the marks and
# the peers. Needs the cluster running and no other stack holding the
# Calico objects (e2e.sh runs it after its destroy). Every wait is bounded; traffic only to 127.0.0.1.
# Ends with `e2e-rr: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-rr/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-rr STYLE_TAG=e2e-rr
source "$SANDBOX_DIR/e2e-style.sh"
source "$SANDBOX_DIR/e2e-calico.sh"
source "$SANDBOX_DIR/probe.sh"
NS=kube-system
trap probe_stop_all EXIT

RR_NODE="${NODES[0]}"
CLUSTER_ID=244.0.0.1
ANN='projectcalico.org/RouteReflectorClusterID'

style_preconditions
RR_JS='
    const n = c.get("calico:nodes").items.find((x) => x.get("name") === argv[0]);
    if (!n) { console.error("no node " + argv[0]); process.exit(1); }
    n.set("routeReflectorClusterId", argv[1]);
    c.set("calico:calicoNode", { backend: "bird" });
    c.set("calico:bgp", { nodeToNodeMesh: false, serviceClusterIPs: ["10.96.0.0/12"] });'
style_prepare_stack 'c.set("calico:calicoNode", { backend: "bird" });' \
  >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }

# ------------------------------------------------------------------------------------ the mesh, with traffic
ev() { jq -rR --arg s "${2:-}" "fromjson? | select(type == \"object\") | $1" "$E/logs/up.log" 2>/dev/null; }
if p up-mesh up --yes --skip-preview && timeout 320 $KUBECTL -n $NS rollout status ds/calico-node --timeout=300s >"$E/logs/rollout-mesh.log" 2>&1; then
  row "mesh: up" pass "pulumi up of $STACK with the full mesh; calico-node rolled out"
else
  tail -30 "$E/logs/up-mesh.log"; row "mesh: up" FAIL "pulumi up with the mesh failed, or calico-node not Ready (see $E/logs/up-mesh.log)"
  p destroy destroy --yes --skip-preview --continue-on-error || true
  finish
fi
check_ping "mesh" "${NODES[@]}"
# The probe: each pod to the next node's pod, and sbx-node-1 (the future reflector) to sbx-node-3's pod.
pairs=()
for i in "${!NODES[@]}"; do
  a=${NODES[$i]} b=${NODES[$(((i + 1) % ${#NODES[@]}))]}
  pairs+=("$(pod_netns $PT_NS "pingtest-$a")" "$(pod_ip $PT_NS "pingtest-$b")")
done
pairs+=("${NODES[0]}" "$(pod_ip $PT_NS "pingtest-${NODES[2]}")")
probe_start rr-switch "${pairs[@]}" >"$E/logs/probe-start.log" 2>&1 || { cat "$E/logs/probe-start.log"; row "probe" FAIL "the probe did not start"; }

# -------------------------------------------------------------------- one up: reflector in, mesh off
style_config "$RR_JS" "$RR_NODE" "$CLUSTER_ID" >>"$E/logs/stack-init.log" 2>&1 \
  || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not rewrite stack $STACK"; finish; }
# `up --json` streams the engine's events, one JSON object a line, each with its sequence number.
if p up up --yes --skip-preview --json; then
  row "up: reflector in, mesh off" pass "one pulumi up of $STACK: $(ev 'select(.resOutputsEvent.metadata.op == "create") | 1' | wc -l) resources created, $(ev 'select(.resOutputsEvent.metadata.op == "update") | 1' | wc -l) updated"
else
  tail -30 "$E/logs/up.log"; row "up: reflector in, mesh off" FAIL "pulumi up failed (see $E/logs/up.log)"
  p destroy destroy --yes --skip-preview --continue-on-error || true
  finish
fi

# BIRD sessions: the reflector with every other node, every other node with the reflector only.
rr_ip=$(node_ip "$RR_NODE")
sessions() { birdc -s "$S/nodes/$1/var/run/calico/bird.ctl" show protocols all 2>/dev/null \
  | awk '/^[A-Za-z0-9_]+ +BGP/ {st = $6} /Neighbor address:/ {print $3, st}'; }
want_ok() { # NODE : prints the Established neighbours; returns 0 when they are the expected set
  local est; est=$(sessions "$1" | awk '$2 == "Established" {print $1}' | sort | xargs)
  echo "$est"
  if [[ $1 == "$RR_NODE" ]]; then
    local want m; want=$(for m in "${NODES[@]}"; do [[ $m == "$RR_NODE" ]] || node_ip "$m"; done | sort | xargs)
    [[ "$est" == "$want" ]]
  else
    [[ "$est" == "$rr_ip" ]]
  fi
}
bad="" got=""
for n in "${NODES[@]}"; do
  deadline=$((SECONDS + 120))
  until want_ok "$n" >/dev/null || ((SECONDS > deadline)); do sleep 2; done
  want_ok "$n" >/dev/null || bad+="$n: Established with '$(want_ok "$n")' (all: $(sessions "$n" | xargs)); "
  got+="$n: $(want_ok "$n"); "
done
sleep 5
probe_stop rr-switch | tee "$E/logs/probe-rr-switch.txt"
if probe_check rr-switch 0 1000 >"$E/logs/probe-check.txt" 2>&1; then
  row "probe: mesh off, reflector in" pass "$(grep '^probe rr-switch:' "$E/logs/probe-rr-switch.txt" | tail -1)"
else
  row "probe: mesh off, reflector in" FAIL "$(cat "$E/logs/probe-check.txt" | xargs | cut -c1-600)"
fi
if [[ -z "$bad" ]]; then row "BIRD through the reflector" pass "Established neighbours: ${got% ; }"
else row "BIRD through the reflector" FAIL "$bad"; fi
check_ping "through the reflector" "${NODES[@]}"
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1

# BGPConfiguration
bc=$($KUBECTL get bgpconfigurations.crd.projectcalico.org default -o json 2>"$E/logs/bgpconfig.err")
if jq -e '.spec.nodeToNodeMeshEnabled == false and .spec.asNumber == 64512
    and ([.spec.serviceClusterIPs[]?.cidr] == ["10.96.0.0/12"])' <<<"${bc:-null}" >/dev/null 2>&1; then
  row "BGPConfiguration" pass "default: nodeToNodeMeshEnabled=false asNumber=64512 serviceClusterIPs=10.96.0.0/12"
else
  row "BGPConfiguration" FAIL "default spec: $(jq -c '.spec' <<<"${bc:-null}" 2>/dev/null || cat "$E/logs/bgpconfig.err")"
fi

# BGPPeers
peer_ok() { # NAME NODESELECTOR PEERSELECTOR
  local j
  j=$($KUBECTL get bgppeers.crd.projectcalico.org "$1" -o json 2>/dev/null) || { echo "missing"; return 1; }
  jq -e --arg n "$2" --arg p "$3" '.spec.nodeSelector == $n and .spec.peerSelector == $p' <<<"$j" >/dev/null \
    || { jq -c '.spec' <<<"$j"; return 1; }
}
if o1=$(peer_ok route-reflector-mesh 'has(route-reflector)' 'has(route-reflector)') \
   && o2=$(peer_ok peer-with-route-reflectors '!has(route-reflector)' 'has(route-reflector)'); then
  row "BGPPeers" pass "route-reflector-mesh has(route-reflector)->has(route-reflector); peer-with-route-reflectors !has(route-reflector)->has(route-reflector)"
else
  row "BGPPeers" FAIL "route-reflector-mesh: ${o1:-?}; peer-with-route-reflectors: ${o2:-?}"
fi

# Node marks
marks() { $KUBECTL get node "$1" -o json | jq -r --arg a "$ANN" '"\(.metadata.labels["route-reflector"] // "-") \(.metadata.annotations[$a] // "-")"'; }
bad=""
for n in "${NODES[@]}"; do
  m=$(marks "$n" 2>/dev/null || echo "error error")
  if [[ $n == "$RR_NODE" ]]; then [[ "$m" == "true $CLUSTER_ID" ]] || bad+="$n: label/annotation '$m'; "
  else [[ "$m" == "- -" ]] || bad+="$n (not a reflector): '$m'; "; fi
done
if [[ -z "$bad" ]]; then row "node marks" pass "$RR_NODE route-reflector=true, $ANN=$CLUSTER_ID; ${NODES[*]:1} unmarked"
else row "node marks" FAIL "$bad"; fi

# Ordering: the BGPConfiguration patch's create finishes after both BGPPeers' creates (event sequence numbers).
seq_of() { # URN-suffix -> sequence of its resOutputsEvent with op create
  ev 'select(.resOutputsEvent != null) | select(.resOutputsEvent.metadata.op == "create")
    | select(.resOutputsEvent.metadata.urn | endswith("::" + $s)) | .sequence' "$1" | head -1
}
s_mesh=$(seq_of bgppeer-route-reflector-mesh); s_peer=$(seq_of bgppeer-peer-with-route-reflectors)
s_conf=$(seq_of bgpconfiguration-default); s_node=$(seq_of "$RR_NODE-route-reflector")
# the BGPConfiguration's step must also start after the peers finished
s_conf_pre=$(ev 'select(.resourcePreEvent != null) | select(.resourcePreEvent.metadata.op == "create")
    | select(.resourcePreEvent.metadata.urn | endswith("::" + $s)) | .sequence' bgpconfiguration-default | head -1)
if [[ -n "$s_mesh" && -n "$s_peer" && -n "$s_node" && -n "$s_conf" && -n "$s_conf_pre" ]] \
   && ((s_conf > s_mesh && s_conf > s_peer && s_conf_pre > s_mesh && s_conf_pre > s_peer && s_conf_pre > s_node)); then
  row "mesh off after peers" pass "engine events (up --json): BGPPeer creates done at #$s_mesh, #$s_peer (node mark #$s_node); BGPConfiguration patch create starts #$s_conf_pre, done #$s_conf"
else
  row "mesh off after peers" FAIL "event sequence: peers ${s_mesh:-?}/${s_peer:-?}, node mark ${s_node:-?}, BGPConfiguration start ${s_conf_pre:-?} done ${s_conf:-?}"
fi

# ---------------------------------------------------------------------------------------------- destroy
if p destroy destroy --yes --skip-preview; then
  row "destroy" pass "pulumi destroy of $STACK"
else
  tail -20 "$E/logs/destroy.log"; row "destroy" FAIL "pulumi destroy failed (see $E/logs/destroy.log)"
fi
bad=""
for n in "${NODES[@]}"; do
  m=$(marks "$n" 2>/dev/null || echo "error error")
  [[ "$m" == "- -" ]] || bad+="$n: '$m'; "
done
for pr in route-reflector-mesh peer-with-route-reflectors; do
  out=$($KUBECTL get bgppeers.crd.projectcalico.org "$pr" -o name 2>&1) && bad+="BGPPeer $pr still there; "
  [[ -z "$out" ]] || grep -qiE 'NotFound|not found|no matches for kind|doesn.t have a resource type' <<<"$out" || bad+="BGPPeer $pr: $out; "
done
if [[ -z "$bad" ]]; then row "after destroy" pass "no route-reflector label or $ANN annotation on any node; both BGPPeers gone"
else row "after destroy" FAIL "$bad"; fi

style_remove_stack
clean_trees
finish
