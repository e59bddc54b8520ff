#!/usr/bin/env bash
# The etcd datastore style on real Calico (issue 13): a second etcd of Calico's own (calico-etcd.sh: TLS
# only, client certificates of its own CA, on the bridge address in the sandbox's bridge namespace), and
# the stack `sandbox-etcd` from a working copy of Pulumi.sandbox.yaml with `datastore: {type: etcd}` and its
# endpoint, the client CA, certificate and key set as Pulumi secrets from files (as Pulumi.etcd.yaml says).
# Checks: the etcd refuses plain HTTP, no certificate and a certificate of another CA; no CRD and no Typha;
# the program's Secret, ConfigMap and host files carry the material; calico-node and kube-controllers hold
# connections to etcd and wrote their objects there (Calico Nodes, kns.* profiles); the calicoctl-apply
# Job ran calicoctl and the pools in etcd are the configured ones; pods ping across every node pair, their
# workload endpoints and IPAM handles are in etcd (the CNI plugin's, through the host files), Felix routes
# them; a pool removed from config is deleted from etcd by the next up's Job; destroy leaves nothing; the
# etcd is stopped at the end, whatever happens. Needs the cluster running and no other stack holding the
# Calico objects. Every wait is bounded; traffic only between the sandbox's namespaces.
# Ends with `e2e-etcd: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-etcd/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-etcd STYLE_TAG=e2e-etcd
source "$SANDBOX_DIR/e2e-style.sh"
source "$SANDBOX_DIR/e2e-calico.sh"
NS=kube-system
T0=$(date +%s)
EP="$S/calico-etcd/pki"
EURL="$("$SANDBOX_DIR/calico-etcd.sh" endpoint)"
EADDR="${EURL#https://}"
trap '"$SANDBOX_DIR/calico-etcd.sh" stop >/dev/null 2>&1' EXIT

# ectl ARGS : calicoctl against Calico's etcd, from the bridge namespace, with Calico's client certificate
ectl() {
  timeout 30 ip netns exec "$SANDBOX_NET_NS" env DATASTORE_TYPE=etcdv3 ETCD_ENDPOINTS="$EURL" ETCD_CA_CERT_FILE="$EP/ca.crt" \
    ETCD_CERT_FILE="$EP/calico.crt" ETCD_KEY_FILE="$EP/calico.key" "$TOOLBIN/calicoctl" "$@"
}
# ecurl ARGS : curl to the etcd from the bridge namespace (certificate options are the caller's)
ecurl() { timeout 15 ip netns exec "$SANDBOX_NET_NS" curl -sS --max-time 10 "$@"; }
# ekeys PREFIX : how many keys etcd holds under PREFIX (its v3 gateway, read straight from etcd)
ekeys() {
  local body
  body=$(python3 -c 'import sys, base64, json; p = sys.argv[1].encode()
print(json.dumps({"key": base64.b64encode(p).decode(), "range_end": base64.b64encode(p[:-1] + bytes([p[-1] + 1])).decode(), "count_only": True}))' "$1")
  ecurl --cacert "$EP/ca.crt" --cert "$EP/calico.crt" --key "$EP/calico.key" "$EURL/v3/kv/range" -d "$body" | jq -r '.count // "0"'
}
cfg_set() { (cd "$REPO" && timeout 60 pulumi config set --non-interactive --stack "$STACK" --config-file "$STACK_CFG" "$@"); }
# etcd_config JS : the working copy with the etcd datastore (+ JS), then the three secrets from their files
etcd_config() {
  style_config 'c.set("calico:datastore", { type: "etcd", etcdEndpoints: [argv[0]] });'"${1:-}" "$EURL" || return 1
  cfg_set --secret calico:etcdCaCert <"$EP/ca.crt" && cfg_set --secret calico:etcdCert <"$EP/calico.crt" \
    && cfg_set --secret calico:etcdKey <"$EP/calico.key"
}
# The configured pools, one line each, in the form etcd_pools prints (from the working copy).
config_pools() {
  node -e 'const y = require(process.argv[1]); const c = y.parse(require("fs").readFileSync(process.argv[2], "utf8")).config;
    for (const p of c["calico:pools"]) console.log(`${p.name} ${p.cidr} disabled=${!!p.disabled} ipip=${p.ipipMode} vxlan=${p.vxlanMode} nat=${!!p.natOutgoing}`);' \
    "$REPO/node_modules/yaml" "$STACK_CFG" | sort
}
etcd_pools() {
  ectl get ippools -o json | jq -r '(.items // [.])[] | "\(.metadata.name) \(.spec.cidr) disabled=\(.spec.disabled // false) ipip=\(.spec.ipipMode) vxlan=\(.spec.vxlanMode) nat=\(.spec.natOutgoing // false)"' | sort
}
the_job() { $KUBECTL -n $NS get jobs -o json | jq -r '[.items[] | select(.metadata.name | startswith("calicoctl-apply-")) | .metadata.name] | join(" ")'; }
# job_log JOB CONTAINER : that container's log, as sbx-kubelet wrote it on the node that ran the Job's pod
job_log() {
  local pod; pod=$($KUBECTL -n $NS get pods -l "job-name=$1" -o jsonpath='{.items[0].metadata.name}')
  cat "$S"/kubelet/*/logs/"${NS}_${pod}_$2.log" 2>/dev/null
}
# established NODE PROCESS : the node's namespace holds a TCP connection from PROCESS to the etcd
established() { ip netns exec "$1" ss -Htnp state established dst "$EADDR" 2>/dev/null | qgrep "((\"$2\""; }

style_preconditions

# ------------------------------------------------------------------------------------------- the etcd
if "$SANDBOX_DIR/calico-etcd.sh" start >"$E/logs/calico-etcd.log" 2>&1; then
  h=$(ecurl --cacert "$EP/ca.crt" --cert "$EP/calico.crt" --key "$EP/calico.key" "$EURL/health")
  v=$(ecurl --cacert "$EP/ca.crt" --cert "$EP/calico.crt" --key "$EP/calico.key" "$EURL/version" | jq -r .etcdserver)
  bad="" elog="$S/logs/calico-etcd.log" off=$(wc -l <"$S/logs/calico-etcd.log")
  ecurl --cacert "$EP/ca.crt" "$EURL/health" >"$E/logs/no-cert.log" 2>&1 && bad+="answered a client without a certificate; "
  ecurl --cacert "$EP/ca.crt" --cert "$S/pki/admin.crt" --key "$S/pki/admin.key" "$EURL/health" >"$E/logs/other-ca.log" 2>&1 \
    && bad+="answered the cluster CA's admin certificate; "
  grep -q '"health":"true"' <(ecurl "http://$EADDR/health" 2>&1) && bad+="answered plain http; "
  lst=$(ip netns exec "$SANDBOX_NET_NS" ss -Hltn | awk '{print $4}' | grep -E ":($CALICO_ETCD_PORT|$CALICO_ETCD_PEER_PORT)\$" | sort | xargs)
  [[ "$lst" == "$SANDBOX_NODE_NET.1:$CALICO_ETCD_PORT $SANDBOX_NODE_NET.1:$CALICO_ETCD_PEER_PORT" ]] || bad+="listens on '$lst'; "
  ss -Hltn | qgrep -E ":($CALICO_ETCD_PORT|$CALICO_ETCD_PEER_PORT)\b" && bad+="a listener on this machine's own namespace; "
  sleep 1
  why=$(tail -n +"$((off + 1))" "$elog" | jq -r 'select(.msg == "rejected connection on client endpoint") | .error' 2>/dev/null | sort -u)
  for w in "client didn't provide a certificate" "certificate signed by unknown authority" "does not look like a TLS handshake"; do
    grep -qF "$w" <<<"$why" || bad+="etcd did not log a refusal '$w'; "
  done
  if [[ "$h" == *'"health":"true"'* && -z "$bad" ]]; then
    row "TLS-only etcd" pass "etcd $v at $EURL (client and peer TLS, own CA): healthy with Calico's client cert; refused (etcd's log) with no cert, with the cluster CA's admin cert, over plain http: $(paste -sd';' <<<"$why" | cut -c1-200); listens only in $SANDBOX_NET_NS ($lst)"
  else
    row "TLS-only etcd" FAIL "health '$h'; $bad"
  fi
else
  tail -5 "$E/logs/calico-etcd.log"; row "TLS-only etcd" FAIL "calico-etcd.sh start failed (see $E/logs/calico-etcd.log)"; finish
fi

# ------------------------------------------------------------------------------------------- install
{ style_prepare_stack '' && etcd_config; } \
  >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }
if grep -qE 'BEGIN|PRIVATE' "$STACK_CFG" || [[ $(grep -cE '^ +calico:etcd(CaCert|Cert|Key):$' "$STACK_CFG") != 3 || $(grep -c '^ *secure: ' "$STACK_CFG") -lt 3 ]]; then
  row "secrets" FAIL "the working copy does not hold the three etcd keys as secure values only: $(grep -nE 'etcd|BEGIN' "$STACK_CFG" | head -5 | xargs)"
else
  row "secrets" pass "calico:etcdCaCert, etcdCert, etcdKey set with \`pulumi config set --secret ... < file\`: encrypted in the stack file, no PEM in it"
fi
t0=$(date +%s)
if p up up --yes --skip-preview && timeout 320 $KUBECTL -n $NS rollout status ds/calico-node --timeout=300s >"$E/logs/rollout.log" 2>&1 \
  && timeout 200 $KUBECTL -n $NS rollout status deploy/calico-kube-controllers --timeout=180s >>"$E/logs/rollout.log" 2>&1; then
  row "up" pass "pulumi up of $STACK (etcd at $EURL) in $(($(date +%s) - t0)) s; calico-node and kube-controllers rolled out"
else
  tail -30 "$E/logs/up.log"; row "up" FAIL "pulumi up failed or calico-node/kube-controllers not Ready (see $E/logs/up.log, rollout.log)"
  $KUBECTL -n $NS get pods -o wide >"$E/logs/pods.txt" 2>&1
  p destroy destroy --yes --skip-preview --continue-on-error || true
  style_remove_stack; clean_trees; finish
fi
if sbx_pulumi_nocfg stack export | qgrep -E 'BEGIN (RSA |EC )?PRIVATE KEY'; then row "state" FAIL "the state holds a plaintext private key"
else row "state" pass "stack export (no --show-secrets): no plaintext private key"; fi

# ------------------------------------------------------------------------- the program's etcd objects
bad=""
crds=$($KUBECTL get crd -o name | grep -c projectcalico.org)
[[ $crds == 0 ]] || bad+="$crds Calico CRDs in the API server; "
$KUBECTL -n $NS get deploy calico-typha >/dev/null 2>&1 && bad+="a Typha Deployment; "
cm=$($KUBECTL -n $NS get cm calico-config -o jsonpath='{.data.etcd_endpoints}')
[[ "$cm" == "$EURL" ]] || bad+="calico-config etcd_endpoints '$cm'; "
# Compared without the final newline, which `pulumi config set` drops from a value read on stdin.
for kf in etcd-ca:ca.crt etcd-cert:calico.crt etcd-key:calico.key; do
  [[ "$($KUBECTL -n $NS get secret calico-etcd-secrets -o json | jq -r --arg k "${kf%%:*}" '.data[$k] // ""' | base64 -d)" == "$(cat "$EP/${kf#*:}")" ]] \
    || bad+="calico-etcd-secrets ${kf%%:*} is not $EP/${kf#*:}; "
done
for d in ds/calico-node deploy/calico-kube-controllers; do
  envs=$($KUBECTL -n $NS get "$d" -o json | jq -r '.spec.template.spec.containers[0].env[] | "\(.name)=\(.value // .valueFrom.configMapKeyRef.name + "/" + .valueFrom.configMapKeyRef.key)"' 2>/dev/null | grep '^ETCD_ENDPOINTS=' )
  [[ "$envs" == "ETCD_ENDPOINTS=calico-config/etcd_endpoints" ]] || bad+="$d ETCD_ENDPOINTS '$envs'; "
done
[[ $($KUBECTL -n $NS get ds calico-node -o json | jq -r '.spec.template.spec.containers[0].env[] | select(.name == "DATASTORE_TYPE") | .value') == etcdv3 ]] \
  || bad+="calico-node DATASTORE_TYPE is not etcdv3; "
for n in "${NODES[@]}"; do
  t="$S/nodes/$n/etc/cni/net.d"
  for kf in etcd-ca:ca.crt etcd-cert:calico.crt etcd-key:calico.key; do
    f="$t/calico-tls/${kf%%:*}"
    [[ "$(stat -c %a "$f" 2>/dev/null)" == 600 && "$(cat "$f")" == "$(cat "$EP/${kf#*:}")" ]] || bad+="$n: ${f#"$S/nodes/$n"} missing, not 0600 or not the material; "
  done
  got=$(jq -r '.plugins[] | select(.type == "calico") | "\(.datastore_type) \(.etcd_endpoints) \(.etcd_ca_cert_file) \(.etcd_cert_file) \(.etcd_key_file)"' "$t/10-calico.conflist" 2>/dev/null)
  want="etcdv3 $EURL /etc/cni/net.d/calico-tls/etcd-ca /etc/cni/net.d/calico-tls/etcd-cert /etc/cni/net.d/calico-tls/etcd-key"
  [[ "$got" == "$want" ]] || bad+="$n: conflist has '$got'; "
done
[[ -z "$bad" ]] && row "etcd objects" pass "no Calico CRD, no Typha; calico-config etcd_endpoints $EURL; calico-etcd-secrets = the CA, cert and key; calico-node and kube-controllers take ETCD_ENDPOINTS from calico-config, DATASTORE_TYPE etcdv3; every node: conflist etcdv3 with that endpoint and calico-tls/etcd-{ca,cert,key} 0600, the same bytes" \
  || row "etcd objects" FAIL "$bad"

# --------------------------------------------------------------------- the calicoctl-apply Job's run
job=$(the_job)
ndocs=$($KUBECTL -n $NS get cm calico-resources -o jsonpath='{.data.resources\.yaml}' | grep -c '^kind: ')
log=$(job_log "$job" apply)
if [[ "$job" == calicoctl-apply-* && "$($KUBECTL -n $NS get job "$job" -o jsonpath='{.status.succeeded}')" == 1 ]] \
  && grep -qE "Successfully applied $ndocs( '[A-Za-z]+')? resource" <<<"$log"; then
  row "calicoctl Job" pass "$job succeeded; its apply container (calico/ctl image root) logged: $(grep -m1 -oE 'Successfully applied.*' <<<"$log")"
else
  row "calicoctl Job" FAIL "job '$job' status '$($KUBECTL -n $NS get job "$job" -o jsonpath='{.status}' 2>&1 | cut -c1-200)'; apply log: $(tail -3 <<<"$log" | xargs | cut -c1-300)"
fi
want=$(config_pools) got=$(etcd_pools 2>"$E/logs/ectl.err")
if [[ -n "$want" && "$got" == "$want" ]]; then row "pools in etcd" pass "$(xargs <<<"${got//$'\n'/;}") (calicoctl get ippools against the TLS etcd = calico:pools; no default pool)"
else row "pools in etcd" FAIL "etcd has '$(xargs <<<"$got")', config '$(xargs <<<"$want")' $(head -2 "$E/logs/ectl.err" | xargs)"; fi

# ------------------------------------------------------------------ calico-node and kube-controllers
bad="" conns=""
enodes=$(ectl get nodes -o json 2>/dev/null | jq -r '(.items // [.])[] | "\(.metadata.name)=\(.spec.bgp.ipv4Address)"' | sort | xargs)
want=$(for n in "${NODES[@]}"; do echo "$n=$(node_ip "$n")/24"; done | sort | xargs)
[[ "$enodes" == "$want" ]] || bad+="Calico Nodes in etcd '$enodes', want '$want'; "
for n in "${NODES[@]}"; do
  ok_=0; for _ in $(seq 1 30); do established "$n" calico-node && { ok_=1; break; }; sleep 1; done
  [[ $ok_ == 1 ]] || bad+="$n: no connection from calico-node to $EADDR; "
  conns+="$n: $(ip netns exec "$n" ss -Htnp state established dst "$EADDR" | grep -c calico-node) calico-node; "
done
[[ -z "$bad" ]] && row "calico-node on etcd" pass "every calico-node Ready and connected to $EADDR (${conns%; }); its Calico Nodes in etcd: $enodes" \
  || row "calico-node on etcd" FAIL "$bad"

check_ping "etcd" "${NODES[@]}"
bad="" kc=""
kcnode=$($KUBECTL -n $NS get pod -l k8s-app=calico-kube-controllers -o jsonpath='{.items[0].spec.nodeName}')
# ss shows the command name, which the kernel cuts to 15 characters.
for _ in $(seq 1 30); do established "$kcnode" kube-controller && { kc=1; break; }; sleep 1; done
[[ -n "$kc" ]] || bad+="no connection from kube-controllers on $kcnode to $EADDR; "
prof=""; for _ in $(seq 1 60); do prof=$(ectl get profile "kns.$PT_NS" -o json 2>/dev/null | jq -r .metadata.name) && [[ -n "$prof" ]] && break; sleep 1; done
[[ "$prof" == "kns.$PT_NS" ]] || bad+="no profile kns.$PT_NS in etcd (kube-controllers' namespace controller); "
[[ -z "$bad" ]] && row "kube-controllers on etcd" pass "Ready on $kcnode, connected to $EADDR; its namespace controller wrote profile kns.$PT_NS to etcd" \
  || row "kube-controllers on etcd" FAIL "$bad"

# ---------------------------------------------------------------- the CNI plugin, through the host files
bad="" seen=""
weps=$(ectl get workloadendpoints -n $PT_NS -o json 2>/dev/null | jq -r '(.items // [.])[] | "\(.spec.pod) \(.spec.node) \(.spec.ipNetworks | join(","))"')
for n in "${NODES[@]}"; do
  ip_=$(pod_ip $PT_NS "pingtest-$n")
  grep -qxF "pingtest-$n $n $ip_/32" <<<"$weps" || bad+="pingtest-$n: no workload endpoint '$n $ip_/32' in etcd; "
  in_cidr "$ip_" "$POOL1_CIDR" || bad+="pingtest-$n: $ip_ not in $POOL1_CIDR; "
  seen+="pingtest-$n@$n=$ip_ "
done
nwep=$(ekeys "/calico/resources/v3/projectcalico.org/workloadendpoints/$PT_NS/") nh=$(ekeys "/calico/ipam/v2/handle/k8s-pod-network.")
[[ "$nwep" == "${#NODES[@]}" ]] || bad+="$nwep workload endpoint keys in etcd; "
[[ "$nh" -ge "${#NODES[@]}" ]] 2>/dev/null || bad+="$nh pod IPAM handles in etcd; "
[[ -z "$bad" ]] && row "CNI on etcd" pass "every pod's workload endpoint in etcd with its node and address (${seen% }); etcd keys: $nwep workload endpoints, $nh k8s-pod-network IPAM handles" \
  || row "CNI on etcd" FAIL "$bad"
bad="" seen=""
for a in "${NODES[@]}"; do
  ip_=$(pod_ip $PT_NS "pingtest-$a")
  dev=$(ip -n "$a" route get "$ip_" 2>/dev/null | grep -o 'dev [^ ]*' | cut -d' ' -f2)
  [[ "$dev" == cali* ]] || bad+="$a: own pod $ip_ via '$dev'; "
  for b in "${NODES[@]}"; do
    [[ $a == "$b" ]] && continue
    r=$(ip -n "$a" route show proto bird | grep "via $(node_ip "$b") " | awk '{print $1}' | xargs) hit=""
    for blk in $r; do in_cidr "$(pod_ip $PT_NS "pingtest-$b")" "$blk" && hit=$blk; done
    [[ -n "$hit" ]] || bad+="$a: no BIRD route to pingtest-$b's block via $(node_ip "$b") ('$r'); "
  done
  seen+="$a: $ip_ dev $dev; "
done
[[ -z "$bad" ]] && row "routes" pass "Felix routes each local pod to its cali* interface (${seen%; }); BIRD routes every remote block via its node" \
  || row "routes" FAIL "$bad"

# ----------------------------------------------------------------------- a pool removed from config
old_job=$job
if etcd_config ' const ps = c.get("calico:pools"); ps.items = ps.items.filter((x) => x.get("name") !== "ipv4-ippool-2");' >"$E/logs/config-2.log" 2>&1 \
  && p up-remove up --yes --skip-preview; then
  job=$(the_job)
  steps=$($KUBECTL -n $NS get job "$job" -o json | jq -r '[.spec.template.spec.initContainers[]?, .spec.template.spec.containers[]] | map(.name + ":" + (.command[1:3] | join(" "))) | join(", ")')
  log=$(job_log "$job" prune-ippools)
  got=$(etcd_pools) want=$(config_pools)
  rec=$(sbx_pulumi_nocfg stack output calicoctlApplied --json 2>/dev/null | jq -c .ipPools)
  bad=""
  [[ "$job" != "$old_job" && "$job" != *" "* ]] || bad+="Jobs '$job' (before: $old_job); "
  [[ "$steps" == "apply:apply -f, prune-ippools:delete ippool" ]] || bad+="steps '$steps'; "
  grep -q "Successfully deleted" <<<"$log" || bad+="prune-ippools log: $(tail -2 <<<"$log" | xargs | cut -c1-200); "
  [[ "$got" == "$want" && "$got" == "ipv4-ippool-1 "* ]] || bad+="etcd has '$(xargs <<<"$got")', config '$(xargs <<<"$want")'; "
  [[ "$rec" == '["ipv4-ippool-1","ipv4-ippool-2"]' ]] || bad+="calicoctlApplied.ipPools '$rec'; "
  p preview-remove preview --expect-no-changes || bad+="the next preview is not quiet (see $E/logs/preview-remove.log); "
  [[ -z "$bad" ]] && row "pool removed" pass "ipv4-ippool-2 out of config: new Job $job (steps: $steps) logged '$(grep -m1 -oE 'Successfully deleted.*' <<<"$log")'; etcd now: $(xargs <<<"$got"); record $rec; next preview quiet" \
    || row "pool removed" FAIL "$bad"
else
  tail -20 "$E/logs/up-remove.log" 2>/dev/null; row "pool removed" FAIL "config or pulumi up failed (see $E/logs/config-2.log, up-remove.log)"
fi

# ------------------------------------------------------------------------------------------ destroy
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1
nwep=$(ekeys "/calico/resources/v3/projectcalico.org/workloadendpoints/$PT_NS/")
if p destroy destroy --yes --skip-preview; then
  left=$($KUBECTL get deploy,ds,cm,secret,job,sa,clusterrole,clusterrolebinding -A -l app.kubernetes.io/part-of=calico -o name 2>/dev/null | xargs)
  if out=$(calico_leftovers 2>&1) && [[ -z "$left" && "$nwep" == 0 ]]; then
    row "destroy" pass "the pods' CNI DEL removed their workload endpoints from etcd (0 left); no Calico object in the API server; no Calico process, interface, route, iptables rule, nft table or ipset in any node"
  else row "destroy" FAIL "$out objects left: '$left'; workload endpoints left in etcd: $nwep"; fi
else
  row "destroy" FAIL "pulumi destroy failed (see $E/logs/destroy.log)"
fi
style_remove_stack
clean_trees
"$SANDBOX_DIR/calico-etcd.sh" stop >>"$E/logs/calico-etcd.log" 2>&1
if ! pid_alive calico-etcd && ! ip netns exec "$SANDBOX_NET_NS" ss -Hltn | qgrep -E ":($CALICO_ETCD_PORT|$CALICO_ETCD_PEER_PORT)\b" && [[ ! -e "$S/calico-etcd" ]]; then
  row "etcd stopped" pass "calico-etcd stopped, nothing listens on $CALICO_ETCD_PORT/$CALICO_ETCD_PEER_PORT, its data and keys deleted"
else
  row "etcd stopped" FAIL "calico-etcd still runs or listens, or $S/calico-etcd remains"
fi
echo "e2e-etcd: $(($(date +%s) - T0)) s"
finish
