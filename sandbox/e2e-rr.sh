#!/usr/bin/env bash
# The route-reflector end-to-end check (issue 5): its own stack `sandbox-rr` on the sandbox cluster, from a
# working copy of Pulumi.sandbox.yaml ($S/stack-rr/Pulumi.sandbox-rr.yaml; the committed file is never
# touched) with sbx-node-1 as route reflector (cluster ID 244.0.0.1), the mesh off and the service range
# advertised. Checks the live BGPConfiguration, the two BGPPeers, the node label and annotation, that the
# BGPConfiguration patch is created after both BGPPeers (sequence numbers in the engine's events from `up --json`), and
# that destroy removes the marks and the peers. Needs the cluster running and no other stack holding the
# Calico objects (e2e.sh runs it after its destroy). Every wait is bounded; traffic only to 127.0.0.1.
# Ends with `e2e-rr: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-rr/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-rr STYLE_TAG=e2e-rr
source "$SANDBOX_DIR/e2e-style.sh"

RR_NODE="${NODES[0]}"
CLUSTER_ID=244.0.0.1
ANN='projectcalico.org/RouteReflectorClusterID'

style_preconditions
style_prepare_stack '
    const n = c.get("calico:nodes").items.find((x) => x.get("name") === argv[0]);
    if (!n) { console.error("no node " + argv[0]); process.exit(1); }
    n.set("routeReflectorClusterId", argv[1]);
    c.set("calico:calicoNode", { backend: "bird" });
    c.set("calico:bgp", { nodeToNodeMesh: false, serviceClusterIPs: ["10.96.0.0/12"] });' "$RR_NODE" "$CLUSTER_ID" \
  >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }

# ---------------------------------------------------------------------------------------------- up
ev() { jq -rR --arg s "${2:-}" "fromjson? | select(type == \"object\") | $1" "$E/logs/up.log" 2>/dev/null; }
# `up --json` streams the engine's events, one JSON object a line, each with its sequence number.
if p up up --yes --skip-preview --json; then
  row "up" pass "pulumi up of $STACK: $(ev 'select(.resOutputsEvent.metadata.op == "create") | 1' | wc -l) resources created"
else
  tail -30 "$E/logs/up.log"; row "up" FAIL "pulumi up failed (see $E/logs/up.log)"
  p destroy destroy --yes --skip-preview --continue-on-error || true
  finish
fi

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
