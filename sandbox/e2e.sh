#!/usr/bin/env bash
# `npm run e2e`: the end-to-end test of the program against the local sandbox (sandbox/README.md).
#
# Fully automatic and idempotent: starts the cluster when it is not running (never builds the toolchain:
# sandbox/toolchain-ready.sh must pass), removes any previous `sandbox` stack and its host files, then runs
# the program's whole lifecycle with the real engine and providers and checks the ten points of issue 4, then
# (check 11) the route-reflector stack of issue 5 through sandbox/e2e-rr.sh. Checks 12-15 (issue 9,
# sandbox/e2e-calico.sh) prove real Calico: calico-node, Typha and kube-controllers run as processes from
# the objects `pulumi up` applied, and pods on different nodes ping each other.
# The committed Pulumi.sandbox.yaml is never modified: config changes go to the working copy
# $S/stack/Pulumi.sandbox.yaml (see stack.sh), which is reset at the start and at the end.
# Checks 16-22 are style stacks of their own (sandbox/e2e-*.sh), each printing its own table.
# Every wait is bounded; traffic stays on 127.0.0.1 and the sandbox's namespaces. Logs: $S/e2e/. Ends with `e2e: N passed, M failed`
# and exits non-zero on any failure.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
source "$SANDBOX_DIR/stack.sh"
source "$SANDBOX_DIR/e2e-calico.sh"

E="$S/e2e"
export SBX_PULUMI_TIMEOUT="${E2E_PULUMI_TIMEOUT:-600}"   # seconds, per pulumi command (stack.sh)
KUBECTL="kubectl --request-timeout=20s"
REFERENCE_MANIFEST="$REPO/../shared/reference/calico-v3.32.1/calico-typha.yaml"
NS=kube-system
read -r -a NODES <<<"$SANDBOX_NODES"
FAULT_NODE="${NODES[1]}"        # sshd stopped in check 8
REMOVED_NODE="${NODES[2]}"      # removed from config in check 7
CA_NODE="${NODES[0]}"           # cluster.caFromNode: stays
BINARIES="calico calico-ipam portmap loopback host-local"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
die() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
# timed NAME CMD... : run CMD, record its duration in $E/time.NAME
timed() {
  local name="$1" t0 rc; shift
  t0=$(now); "$@"; rc=$?
  secs "$t0" "$(now)" >"$E/time.$name"
  return $rc
}
# p SUB ARGS... : pulumi on the sandbox stack, bounded, output to $E/logs/<label>.log ($LABEL)
p() { sbx_pulumi "$@" --color never >"$E/logs/${LABEL:-pulumi}.log" 2>&1; }
plog() { echo "--- ${LABEL:-pulumi} (last lines of $E/logs/${LABEL:-pulumi}.log)"; tail -n "${1:-25}" "$E/logs/${LABEL:-pulumi}.log"; }
tree() { echo "$S/nodes/$1"; }
cfg_set() { (cd "$REPO" && pulumi config set --non-interactive --stack "$STACK" --config-file "$STACK_CFG" "$@"); }
cfg_rm() { (cd "$REPO" && pulumi config rm --non-interactive --stack "$STACK" --config-file "$STACK_CFG" "$@"); }

# Objects (apiVersion kind namespace name) the stack's state holds, from `pulumi stack export`.
live_objects_from_state() {
  sbx_pulumi_nocfg stack export | jq -r '.deployment.resources[]
    | select(.type | startswith("kubernetes:")) | select(.type | startswith("kubernetes:yaml") | not)
    | select(.type | startswith("pulumi:providers") | not) | select(.outputs.kind != null)
    | [.outputs.apiVersion, .outputs.kind, (.outputs.metadata.namespace // "-"), .outputs.metadata.name] | @tsv'
}
# exists APIVERSION KIND NS NAME -> 0 when the object is in the API server, 1 when it is gone (NotFound or
# no such kind any more), 2 on any other error.
exists() {
  local out group="."   # core kinds: ConfigMap.v1. (ConfigMap.v1 would not resolve)
  [[ "$1" == */* ]] && group=".${1%/*}"
  local args=(get "$2.${1##*/}$group" "$4" -o name)
  [[ "$3" != "-" ]] && args+=(-n "$3")
  if out=$($KUBECTL "${args[@]}" 2>&1); then return 0; fi
  if grep -qiE 'NotFound|not found|no matches for kind|doesn.t have a resource type' <<<"$out"; then return 1; fi
  echo "$out" >&2; return 2
}

# ----------------------------------------------------------------------------------------------- checks
check1() {
  LABEL=up-scratch; timed up_scratch p up --yes --skip-preview || { plog 40; die "pulumi up from scratch failed"; }
  ok "pulumi up from scratch ($(cat "$E/time.up_scratch")s): $(grep -E '^\s+\+ [0-9]+ created' "$E/logs/up-scratch.log" | xargs)"
  live_objects_from_state >"$E/objects.tsv"
  local n missing=0
  n=$(wc -l <"$E/objects.tsv")
  [[ $n -ge 40 ]] || die "only $n Kubernetes objects in the state"
  while IFS=$'\t' read -r av kind ns name; do
    exists "$av" "$kind" "$ns" "$name" || { echo "missing: $kind $ns/$name"; missing=$((missing + 1)); }
  done <"$E/objects.tsv"
  [[ $missing == 0 ]] || die "$missing of $n Calico objects not in the API server"
  ok "all $n Calico objects from the state exist in the API server ($(cut -f2 "$E/objects.tsv" | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}' | sed 's/, $//'))"
  local ip
  for ip in ipv4-ippool-1 ipv4-ippool-2; do $KUBECTL get ippools.crd.projectcalico.org "$ip" >/dev/null || die "IPPool $ip missing"; done
  timeout 150 $KUBECTL -n $NS rollout status deploy/calico-typha --timeout=120s || die "Typha not Ready"
  timeout 150 $KUBECTL -n $NS rollout status ds/calico-node --timeout=120s || die "calico-node not Ready"
  timeout 150 $KUBECTL -n $NS rollout status deploy/calico-kube-controllers --timeout=120s || die "kube-controllers not Ready"
  local ready
  ready=$($KUBECTL -n $NS get ds calico-node -o jsonpath='{.status.numberReady}/{.status.desiredNumberScheduled}')
  [[ "$ready" == "${#NODES[@]}/${#NODES[@]}" ]] || die "calico-node Ready $ready"
  ok "Typha $($KUBECTL -n $NS get deploy calico-typha -o jsonpath='{.status.readyReplicas}/{.spec.replicas}') Ready, calico-node $ready Ready, kube-controllers Ready (sbx-kubelet: real processes, real readiness probes)"
}

# node_files_ok NODE MTU : binaries, kubeconfig and conflist on NODE's tree
node_files_ok() {
  local node="$1" mtu="$2" t b f want got mode
  t="$(tree "$node")"
  for b in $BINARIES; do
    f="$t/opt/cni/bin/$b"
    [[ -f "$f" && -x "$f" ]] || die "$node: /opt/cni/bin/$b missing or not executable"
    want=$(sha256sum "$REPO/sandbox/.state/cni-bin/$b" | cut -d' ' -f1)
    got=$(sha256sum "$f" | cut -d' ' -f1)
    [[ "$got" == "$want" ]] || die "$node: /opt/cni/bin/$b sha256 $got, configured $want"
  done
  f="$t/etc/cni/net.d/calico-kubeconfig"
  [[ -f "$f" ]] || die "$node: calico-kubeconfig missing"
  mode=$(stat -c %a "$f")
  [[ "$mode" == 600 ]] || die "$node: calico-kubeconfig mode $mode, want 600"
  f="$t/etc/cni/net.d/10-calico.conflist"
  jq -e . "$f" >/dev/null || die "$node: 10-calico.conflist is not valid JSON"
  jq -e --arg n "$node" --argjson mtu "$mtu" '
      .name == "k8s-pod-network" and (.plugins[0].type == "calico") and (.plugins[0].nodename == $n)
      and (.plugins[0].mtu == $mtu) and (.plugins[0].kubernetes.kubeconfig == "/etc/cni/net.d/calico-kubeconfig")
      and (.plugins[0].ipam.type == "calico-ipam") and (.plugins[0].datastore_type == "kubernetes")
      and any(.plugins[]; .type == "portmap")' "$f" >/dev/null \
    || die "$node: 10-calico.conflist fields wrong: $(jq -c '.plugins[0] | {nodename, mtu, kubernetes, ipam}' "$f")"
}

check2() {
  local n t kc leaked
  # The host assembles the kubeconfig from the upload's public head and its stdin's rest: byte for byte the stack's.
  kc="$E/cni-kubeconfig"
  (umask 077; sbx_pulumi_nocfg stack output --show-secrets --json cniKubeconfig | jq -je . >"$kc") || die "stack output cniKubeconfig failed"
  for n in "${NODES[@]}"; do
    node_files_ok "$n" 1500
    t="$(tree "$n")"
    cmp -s "$t/etc/cni/net.d/calico-kubeconfig" "$kc" || die "$n: calico-kubeconfig differs from the stack's cniKubeconfig output"
    leaked=$(find "$t" -path '*/.calico-cni-upload/*' -type f -exec grep -lE 'PRIVATE KEY|client-key-data' {} + || true)
    [[ -z "$leaked" ]] || die "$n: the upload holds secret material: $leaked"
    ok "$n: $(wc -w <<<"$BINARIES") binaries executable with the configured sha256; calico-kubeconfig 0600, the stack's cniKubeconfig byte for byte; nothing secret in the upload; conflist nodename=$n mtu=1500 kubeconfig=/etc/cni/net.d/calico-kubeconfig ipam=calico-ipam"
  done
  rm -f "$kc"
}

# can SUBJECT-ARGS... -- VERB RESOURCE [NS] expectation
check3() {
  local kc="$(tree "$CA_NODE")/etc/cni/net.d/calico-kubeconfig" who
  who=$(timeout 30 kubectl --request-timeout=20s --kubeconfig "$kc" auth whoami -o jsonpath='{.status.userInfo.username}') \
    || die "the CNI kubeconfig from $CA_NODE does not authenticate"
  [[ "$who" == calico-cni ]] || die "CNI kubeconfig authenticates as '$who', want calico-cni"
  ok "CNI kubeconfig from $CA_NODE's tree authenticates to https://127.0.0.1:6443 as $who"
  local bad=0 rows=0 line subj want verb res ns args got
  # subject | yes/no | verb | resource | namespace (- for cluster scope)
  while read -r subj want verb res ns; do
    [[ -z "$subj" || "$subj" == \#* ]] && continue
    if [[ "$subj" == cni ]]; then args=(--kubeconfig "$kc")
    else args=(--as "system:serviceaccount:kube-system:$subj"); fi
    [[ "$ns" != - ]] && args+=(-n "$ns")
    # pods/status -> pods --subresource=status; serviceaccounts/token@NAME -> serviceaccounts/NAME --subresource=token
    local r="${res%%@*}" name=""
    [[ "$res" == *@* ]] && name="/${res#*@}"
    if [[ "$r" == */* ]]; then args+=("$verb" "${r%%/*}$name" --subresource "${r#*/}"); else args+=("$verb" "$r$name"); fi
    got=$(timeout 30 kubectl --request-timeout=20s auth can-i "${args[@]}" 2>/dev/null || true)
    rows=$((rows + 1))
    printf '  %-24s %-6s %-52s %-12s %s\n' "$subj" "$verb" "$res" "$([[ $ns == - ]] && echo cluster || echo "$ns")" "$got"
    if [[ "$got" != "$want" ]]; then bad=$((bad + 1)); echo "  WRONG: $subj can-i $verb $res: $got, want $want"; fi
  done <<'EOF'
cni                     yes get    pods                                  default
cni                     yes patch  pods/status                           default
cni                     yes get    nodes                                 -
cni                     yes get    namespaces                            -
cni                     yes create ipamblocks.crd.projectcalico.org      -
cni                     yes list   ippools.crd.projectcalico.org         -
cni                     yes create ipamhandles.crd.projectcalico.org     -
cni                     no  list   secrets                               kube-system
cni                     no  delete nodes                                 -
cni                     no  create pods                                  default
cni                     no  list   pods                                  -
calico-node             yes get    nodes                                 -
calico-node             yes patch  nodes/status                          -
calico-node             yes watch  endpointslices.discovery.k8s.io       -
calico-node             yes list   felixconfigurations.crd.projectcalico.org -
calico-node             yes create ipamblocks.crd.projectcalico.org      -
calico-node             yes update caliconodestatuses.crd.projectcalico.org -
calico-node             yes create serviceaccounts/token@calico-cni-plugin kube-system
calico-node             no  create serviceaccounts/token@calico-node     kube-system
calico-node             no  list   secrets                               kube-system
calico-node             no  delete nodes                                 -
calico-node             no  delete pods                                  kube-system
calico-node             no  create clusterrolebindings.rbac.authorization.k8s.io -
calico-typha            yes list   pods                                  -
calico-typha            yes watch  nodes                                 -
calico-typha            yes list   globalnetworkpolicies.crd.projectcalico.org -
calico-typha            yes update clusterinformations.crd.projectcalico.org -
calico-typha            yes list   endpointslices.discovery.k8s.io       -
calico-typha            no  list   secrets                               kube-system
calico-typha            no  delete nodes                                 -
calico-typha            no  create ippools.crd.projectcalico.org         -
calico-typha            no  create serviceaccounts/token                 kube-system
calico-kube-controllers yes watch  nodes                                 -
calico-kube-controllers yes list   pods                                  -
calico-kube-controllers yes delete ipamblocks.crd.projectcalico.org      -
calico-kube-controllers yes update kubecontrollersconfigurations.crd.projectcalico.org -
calico-kube-controllers yes create hostendpoints.crd.projectcalico.org   -
calico-kube-controllers no  list   secrets                               kube-system
calico-kube-controllers no  delete nodes                                 -
calico-kube-controllers no  create ippools.crd.projectcalico.org         -
calico-kube-controllers no  create pods                                  kube-system
EOF
  [[ $bad == 0 ]] || die "$bad of $rows can-i rows wrong"
  ok "can-i matrix: $rows rows hold for calico-cni (its kubeconfig), calico-node, calico-typha, calico-kube-controllers (--as their ServiceAccounts); denied include list secrets, delete nodes"
  # Typha runs as calico-typha (not calico-node, as in old manifests).
  local sa
  sa=$($KUBECTL -n $NS get deploy calico-typha -o jsonpath='{.spec.template.spec.serviceAccountName}')
  [[ "$sa" == calico-typha ]] || die "Typha runs as ServiceAccount $sa, the matrix assumed calico-typha"
}

check4() {
  local d="$E/tls" sp port rc
  mkdir -p "$d"; chmod 700 "$d"
  $KUBECTL -n $NS get cm calico-typha-ca -o jsonpath='{.data.typhaca\.crt}' >"$d/ca.crt"
  $KUBECTL -n $NS get secret calico-typha-certs -o jsonpath='{.data.typha\.crt}' | base64 -d >"$d/typha.crt"
  $KUBECTL -n $NS get secret calico-typha-certs -o jsonpath='{.data.typha\.key}' | base64 -d >"$d/typha.key"
  $KUBECTL -n $NS get secret calico-node-certs -o jsonpath='{.data.calico-node\.crt}' | base64 -d >"$d/node.crt"
  $KUBECTL -n $NS get secret calico-node-certs -o jsonpath='{.data.calico-node\.key}' | base64 -d >"$d/node.key"
  openssl verify -CAfile "$d/ca.crt" "$d/typha.crt" "$d/node.crt" || die "certs do not verify against the Typha CA"
  local cn eku
  cn=$(openssl x509 -in "$d/typha.crt" -noout -subject -nameopt RFC2253); eku=$(openssl x509 -in "$d/typha.crt" -noout -ext extendedKeyUsage)
  [[ "$cn" == *"CN=calico-typha"* ]] || die "Typha cert subject $cn"
  grep -q "TLS Web Server Authentication" <<<"$eku" || die "Typha cert EKU: $eku"
  ok "Typha cert $cn, EKU $(tail -1 <<<"$eku" | xargs), verifies against the live Typha CA"
  cn=$(openssl x509 -in "$d/node.crt" -noout -subject -nameopt RFC2253); eku=$(openssl x509 -in "$d/node.crt" -noout -ext extendedKeyUsage)
  [[ "$cn" == *"CN=calico-node"* ]] || die "node cert subject $cn"
  grep -q "TLS Web Client Authentication" <<<"$eku" || die "node cert EKU: $eku"
  ok "node cert $cn, EKU $(tail -1 <<<"$eku" | xargs), verifies against the live Typha CA"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  timeout 60 openssl s_server -accept "127.0.0.1:$port" -cert "$d/typha.crt" -key "$d/typha.key" \
    -CAfile "$d/ca.crt" -Verify 1 -verify_return_error -www >"$d/s_server.log" 2>&1 &
  sp=$!
  wait_for "openssl s_server on 127.0.0.1:$port" 10 bash -c "echo >/dev/tcp/127.0.0.1/$port" || { kill "$sp"; die "s_server did not start"; }
  rc=0
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 15 openssl s_client -connect "127.0.0.1:$port" -cert "$d/node.crt" -key "$d/node.key" \
    -CAfile "$d/ca.crt" -verify_return_error -verify_hostname calico-typha -ign_eof >"$d/with-cert.log" 2>&1 || rc=$?
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 15 openssl s_client -connect "127.0.0.1:$port" \
    -CAfile "$d/ca.crt" -ign_eof >"$d/without-cert.log" 2>&1 || true
  kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true
  [[ $rc == 0 ]] && grep -q "Verify return code: 0 (ok)" "$d/with-cert.log" && grep -q "HTTP/1.0 200 ok" "$d/with-cert.log" \
    || { tail -20 "$d/with-cert.log" "$d/s_server.log"; die "mutual TLS handshake with the node cert failed"; }
  ok "mutual TLS: s_server (Typha cert, client cert required) on 127.0.0.1:$port accepts s_client with the node cert ($(grep -m1 -oE 'Protocol *: *TLS[^ ]*|New, TLSv[^,]*' "$d/with-cert.log" | head -1))"
  if grep -q "HTTP/1.0 200 ok" "$d/without-cert.log"; then die "a client without a certificate got a response"; fi
  grep -qiE "alert|certificate required|handshake failure|peer did not return a certificate" "$d/without-cert.log" "$d/s_server.log" \
    || { tail -20 "$d/without-cert.log"; die "no sign of the server refusing the certless client"; }
  ok "a client without a certificate is refused ($(grep -m1 -oiE 'alert [a-z ]+|peer did not return a certificate' "$d/without-cert.log" "$d/s_server.log" | head -1 | sed 's/^[^:]*://'))"
  rm -f "$d"/*.key
}

check5() {
  LABEL=up-noop; timed up_noop p up --yes --skip-preview --expect-no-changes || { plog; die "second pulumi up changed something"; }
  ok "second pulumi up --expect-no-changes ($(cat "$E/time.up_noop")s): $(grep -E '[0-9]+ unchanged' "$E/logs/up-noop.log" | xargs)"
  LABEL=preview-noop; timed preview p preview --expect-no-changes || { plog; die "pulumi preview --expect-no-changes failed"; }
  ok "pulumi preview --expect-no-changes ($(cat "$E/time.preview")s)"
}

# steps_summary FILE : non-"same" steps on real (provider) resources of a preview --json, as "op name type";
# component_steps FILE : the same for component resources (no provider operation, state bookkeeping only).
STEP='"\(.op) \(.urn | split("::") | last) \(.urn | split("::")[2] | split("$") | last)"'
# Steps that change something on a provider resource; reads (the program's StackReference to this stack's
# last outputs, pools-previous) change nothing and are listed apart.
steps_summary() { jq -r ".steps[] | select(.op != \"same\" and .op != \"read\") | select((.newState // .oldState).custom == true) | $STEP" "$1"; }
component_steps() { jq -r ".steps[] | select(.op != \"same\") | select((.newState // .oldState).custom != true or .op == \"read\") | $STEP" "$1"; }

check6() {
  local idx
  idx=$(yq_index pools ipv4-ippool-2)
  cfg_set --path "calico:pools[$idx].disabled" false
  LABEL=preview-pool; p preview --json || { plog; die "preview failed"; }
  cp "$E/logs/preview-pool.log" "$E/preview-pool.json"
  steps_summary "$E/preview-pool.json" | tee "$E/steps-pool.txt"
  component_steps "$E/preview-pool.json" | sed 's/^/  component or read (no provider change): /'
  local n
  n=$(wc -l <"$E/steps-pool.txt")
  [[ $n == 1 ]] && grep -qE '^update ippool-ipv4-ippool-2 kubernetes:crd.projectcalico.org/v1:IPPool$' "$E/steps-pool.txt" \
    || die "expected exactly one update (IPPool ipv4-ippool-2), got $n steps on resources"
  local diff
  diff=$(jq -r '.steps[] | select(.urn | endswith("::ippool-ipv4-ippool-2"))
    | "\(.detailedDiff | keys | join(",")): \(.oldState.inputs.spec.disabled) => \(.newState.inputs.spec.disabled)"' "$E/preview-pool.json")
  [[ "$diff" == "spec.disabled: true => false" ]] || die "the IPPool update is not just disabled true => false: $diff"
  ok "preview: exactly one step, an update of IPPool ipv4-ippool-2 ($diff)"
  LABEL=up-pool; p up --yes --skip-preview || { plog; die "up failed"; }
  local d
  d=$($KUBECTL get ippools.crd.projectcalico.org ipv4-ippool-2 -o jsonpath='{.spec.disabled}')
  [[ "$d" == false ]] || die "live IPPool ipv4-ippool-2 spec.disabled='$d'"
  ok "after up, live IPPool ipv4-ippool-2 has disabled: false"
}

# yq_index LIST NAME : index of the item named NAME in calico:LIST of the working copy
yq_index() {
  node -e 'const y=require(process.argv[1]); const d=y.parse(require("fs").readFileSync(process.argv[2],"utf8"));
    const i=d.config["calico:"+process.argv[3]].findIndex(x=>x.name===process.argv[4]); if(i<0) process.exit(1); console.log(i)' \
    "$REPO/node_modules/yaml" "$STACK_CFG" "$1" "$2"
}

check8() {
  local mtu=1400 out others=()
  local n; for n in "${NODES[@]}"; do [[ $n != "$FAULT_NODE" ]] && others+=("$n"); done
  "$SANDBOX_DIR/ssh-nodes.sh" stop "$FAULT_NODE" >/dev/null
  cfg_set --path calico:cni.mtu "$mtu"
  local before
  before=$(sbx_pulumi_nocfg stack export | jq '.deployment.resources | length')
  local rc=0
  LABEL=up-fault; p up --yes --skip-preview --continue-on-error || rc=$?
  "$SANDBOX_DIR/ssh-nodes.sh" start "$FAULT_NODE" >/dev/null
  [[ $rc != 0 ]] || die "up with $FAULT_NODE's sshd stopped succeeded"
  grep -E "error|failed" "$E/logs/up-fault.log" | qgrep "$FAULT_NODE" || { plog 40; die "the failed up does not name $FAULT_NODE"; }
  ok "up with $FAULT_NODE's sshd stopped failed (rc $rc), naming it: $(grep -m1 -oE "$FAULT_NODE-[a-z-]+[^ ]*" "$E/logs/up-fault.log")  $(grep -m1 -oE 'connection refused|dial tcp [0-9.:]+' "$E/logs/up-fault.log")"
  for n in "${others[@]}"; do
    jq -e --argjson m "$mtu" '.plugins[0].mtu == $m' "$(tree "$n")/etc/cni/net.d/10-calico.conflist" >/dev/null || die "$n's conflist not updated to mtu $mtu"
  done
  jq -e '.plugins[0].mtu == 1500' "$(tree "$FAULT_NODE")/etc/cni/net.d/10-calico.conflist" >/dev/null || die "$FAULT_NODE's conflist changed while its sshd was down?"
  ok "the other nodes (${others[*]}) got mtu $mtu; $FAULT_NODE kept 1500"
  LABEL=up-recover; p up --yes --skip-preview || { plog 40; die "up after restarting $FAULT_NODE's sshd failed"; }
  ok "after ssh-nodes.sh start $FAULT_NODE, up converged: $(grep -E '^\s+~ [0-9]+ updated|[0-9]+ unchanged' "$E/logs/up-recover.log" | xargs)"
  for n in "${NODES[@]}"; do node_files_ok "$n" "$mtu"; done
  local after
  after=$(sbx_pulumi_nocfg stack export | jq '.deployment.resources | length')
  [[ "$after" == "$before" ]] || die "$before resources before the fault, $after after"
  LABEL=preview-fault; p preview --expect-no-changes || { plog; die "not converged: preview shows changes"; }
  ok "nothing lost: every node's files intact with mtu $mtu, $after resources as before, preview --expect-no-changes passes"
}

check7() {
  local idx
  # Drained first, as a user would before taking a node out of Calico: its pods' CNI DEL needs its files.
  $KUBECTL -n $PT_NS delete pod --field-selector "spec.nodeName=$REMOVED_NODE" --wait=true --timeout=60s >/dev/null 2>&1 || true
  idx=$(yq_index nodes "$REMOVED_NODE")
  cfg_rm --path "calico:nodes[$idx]"
  LABEL=preview-node; p preview --json || { plog; die "preview failed"; }
  cp "$E/logs/preview-node.log" "$E/preview-node.json"
  steps_summary "$E/preview-node.json" >"$E/steps-node.txt"
  local dels others
  dels=$(grep -c '^delete ' "$E/steps-node.txt" || true)
  others=$(grep -v "^delete $REMOVED_NODE" "$E/steps-node.txt" | grep -E '^(delete|replace|create-replacement|delete-replaced) ' || true)
  [[ $dels -gt 0 ]] || die "no deletes in the preview"
  [[ -z "$others" ]] || { echo "$others"; die "deletes or replacements of resources not named after $REMOVED_NODE"; }
  ok "preview: $dels deletes, every one named $REMOVED_NODE-* (or its CniHost $REMOVED_NODE); other steps: $(grep -v '^delete ' "$E/steps-node.txt" | awk '{print $1, $2}' | paste -sd, - | sed 's/^$/none/')"
  LABEL=up-node; p up --yes --skip-preview || { plog; die "up failed"; }
  local t left
  t="$(tree "$REMOVED_NODE")"
  left=$(cd "$t" && find opt/cni etc/cni -type f 2>/dev/null || true)
  [[ -z "$left" ]] || die "files left on $REMOVED_NODE: $left"
  ok "after up, $REMOVED_NODE's tree has no CNI files (opt/cni, etc/cni empty)"
  for n in "${NODES[@]}"; do [[ $n == "$REMOVED_NODE" ]] || node_files_ok "$n" 1400; done
  ok "the remaining nodes keep all their files"
  # Back in config: the next up delivers its files again, and destroy (check 10) cleans all three nodes.
  sbx_config_reset
  cfg_set --path calico:cni.mtu 1400
  idx=$(yq_index pools ipv4-ippool-2); cfg_set --path "calico:pools[$idx].disabled" false
  LABEL=up-readd; p up --yes --skip-preview || { plog; die "up re-adding $REMOVED_NODE failed"; }
  node_files_ok "$REMOVED_NODE" 1400
  ok "$REMOVED_NODE re-added to config: its files are delivered again ($(grep -E '^\s+\+ [0-9]+ created' "$E/logs/up-readd.log" | xargs))"
}

check9() {
  sbx_pulumi_nocfg stack export >"$E/export.json" || die "stack export failed"
  local keys kc secrets
  keys=$(grep -cE 'BEGIN [A-Z ]*PRIVATE KEY' "$E/export.json" || true)
  kc=$(grep -c 'client-key-data' "$E/export.json" || true)
  secrets=$(grep -o '"ciphertext"' "$E/export.json" | wc -l)
  rm -f "$E/export.json"
  [[ $keys == 0 ]] || die "$keys plaintext private keys in the state"
  [[ $kc == 0 ]] || die "$kc plaintext kubeconfig client keys in the state"
  [[ $secrets -gt 0 ]] || die "no encrypted secrets in the state at all (were the keys left out?)"
  ok "pulumi stack export (without --show-secrets): no 'BEGIN ... PRIVATE KEY', no client-key-data; $secrets values are encrypted secrets"
}

check10() {
  local drc=0
  # Workloads go before the network does: their CNI DEL needs the plugin's files and calico-node.
  $KUBECTL delete namespace $PT_NS --wait=true --timeout=120s >/dev/null 2>&1 || true
  LABEL=destroy; timed destroy p destroy --yes --skip-preview || drc=$?
  if [[ $drc == 0 ]]; then ok "pulumi destroy ($(cat "$E/time.destroy")s)"
  else
    echo "pulumi destroy FAILED (rc $drc, $(cat "$E/time.destroy")s): $(grep -E '^ +[-+~]? *[0-9]+ (deleted|errored)' "$E/logs/destroy.log" | xargs)"
    awk '/^Diagnostics:/ { d = 1 } d && /^  [^ ]/ { h = $0 } d && /^    error: / && h !~ /pulumi:pulumi:Stack/ { print "  " h $0 }' "$E/logs/destroy.log"
    echo "  (checking what is left anyway)"
  fi
  local left=0 rc
  while IFS=$'\t' read -r av kind ns name; do
    rc=0; exists "$av" "$kind" "$ns" "$name" || rc=$?
    [[ $rc == 1 ]] || { echo "still there: $kind $ns/$name"; left=$((left + 1)); }
  done <"$E/objects.tsv"
  [[ $left == 0 ]] || die "$left Calico objects left in the API server"
  ok "none of the $(wc -l <"$E/objects.tsv") Calico objects is left in the API server"
  local n files
  for n in "${NODES[@]}"; do
    files=$(cd "$(tree "$n")" && find opt/cni etc/cni tmp var/tmp -type f 2>/dev/null || true)
    [[ -z "$files" ]] || die "files left on $n: $files"
  done
  ok "no host file left in any node's tree (opt/cni, etc/cni, tmp)"
  local left_pods
  left_pods=$($KUBECTL -n $NS get pods -l 'k8s-app in (calico-node,calico-typha,calico-kube-controllers)' -o name 2>/dev/null)
  [[ -z "$left_pods" ]] || die "Calico pods left after destroy: $left_pods"
  calico_leftovers || die "Calico dataplane left behind after destroy (above)"
  ok "no Calico process, interface (cali*, tunl0, vxlan.calico), route (proto bird/80, blackhole), iptables-legacy/nft rule, nft table or ipset left in any node's namespace"
  [[ $drc == 0 ]] || die "pulumi destroy failed (above)"
  [[ $(sbx_pulumi_nocfg stack export | jq '.deployment.resources // [] | length') == 0 ]] || die "the state still holds resources"
}

# Route reflectors (issue 5): sandbox/e2e-rr.sh runs its own stack `sandbox-rr` (needs the sandbox stack
# destroyed, so this runs after check 10) and prints its own table.
check11() {
  bash "$SANDBOX_DIR/e2e-rr.sh" || die "e2e-rr.sh failed (logs in $S/e2e-rr/logs)"
}

# cni.delivery daemonset (issue 12): sandbox/e2e-ds.sh, its own stack `sandbox-ds` from SSH to daemonset
# (plus a fourth node in no config) and back, on real Calico; prints its own table.
check16() {
  bash "$SANDBOX_DIR/e2e-ds.sh" || die "e2e-ds.sh failed (logs in $S/e2e-ds/logs)"
}

# npm run verify (issue 14): sandbox/e2e-verify.sh, the sandbox stack again, verify on it healthy and broken
# three ways (no conflist on a node, calico-node stopped, a blocking NetworkPolicy); prints its own table.
check17() {
  bash "$SANDBOX_DIR/e2e-verify.sh" || die "e2e-verify.sh failed (logs in $S/e2e-verify)"
}

# Dataplanes and host preflight (issue 15): sandbox/e2e-dataplane.sh, its own stack `sandbox-nft`
# (dual-stack, nftables) after planted host problems on every node; prints its own table.
check18() {
  bash "$SANDBOX_DIR/e2e-dataplane.sh" || die "e2e-dataplane.sh failed (logs in $S/e2e-nft/logs)"
}

# The VXLAN style (issue 13): sandbox/e2e-vxlan.sh, its own stack `sandbox-vxlan`; prints its own table.
check19() {
  bash "$SANDBOX_DIR/e2e-vxlan.sh" || die "e2e-vxlan.sh failed (logs in $S/e2e-vxlan/logs)"
}

# Day-2 changes under traffic (issue 13): sandbox/e2e-day2.sh, its own stack `sandbox-day2`. Last: it
# deletes and re-creates sbx-node-3's Node object.
check20() {
  bash "$SANDBOX_DIR/e2e-day2.sh" || die "e2e-day2.sh failed (logs in $S/e2e-day2/logs)"
}

# The etcd datastore style (issue 13): sandbox/e2e-etcd.sh, its own stack `sandbox-etcd` on a second, TLS-only
# etcd it starts (sandbox/calico-etcd.sh) and always stops; prints its own table.
check21() {
  bash "$SANDBOX_DIR/e2e-etcd.sh" || die "e2e-etcd.sh failed (logs in $S/e2e-etcd/logs)"
}

# The host-local IPAM style (issue 13): sandbox/e2e-hostlocal.sh, its own stack `sandbox-hostlocal` on the
# nodes' podCIDRs; prints its own table.
check22() {
  bash "$SANDBOX_DIR/e2e-hostlocal.sh" || die "e2e-hostlocal.sh failed (logs in $S/e2e-hostlocal/logs)"
}

# ----------------------------------------------------------------------------------------------- main
TITLES=(
  [1]="up from scratch; every Calico object live; Typha, calico-node Ready"
  [2]="node trees: binaries+sha256; kubeconfig 0600, the stack's byte for byte; no secret in the upload; conflist fields"
  [3]="CNI kubeconfig is calico-cni; can-i matrix for 4 identities"
  [4]="Typha/node certs verify, CN+EKU; mTLS handshake; no-cert refused"
  [5]="second up changes nothing; preview --expect-no-changes"
  [6]="enable ipv4-ippool-2: exactly one update; live disabled=false"
  [7]="remove $REMOVED_NODE: only its resources deleted; its files gone"
  [8]="fault: $FAULT_NODE sshd down + mtu change; named; converges"
  [9]="stack export: no plaintext private key or kubeconfig"
  [10]="destroy removes every Calico object and host file"
  [11]="route reflectors under the traffic probe: mesh -> reflector in -> mesh off (0 lost); BIRD sessions; objects, marks"
  [12]="real calico-node Ready by its probe; every Felix on Typha over TLS; wrong-CN client refused"
  [13]="BGP: every BIRD Established with every other node (full mesh)"
  [14]="pods: pool-1 addresses, cross-node and node-to-pod ping, route, MTU, NetworkPolicy, IPAM release"
  [15]="second pool: a pod in ipv4-ippool-2 is reachable from another node (the lab's failed step)"
  [16]="cni.delivery daemonset: ssh -> daemonset -> a 4th node in no config joins -> ssh; same conflist, token identity, can-i, ping, destroy"
  [17]="npm run verify: passes on the healthy sandbox; fails naming the cause with no conflist, calico-node stopped, a blocking policy"
  [18]="preflight: planted host problems named per node while the others install; dual-stack nftables: BIRD6, both families, ping -6, policy"
  [19]="VXLAN style: MTU 1450 in conflist, vxlan.calico and pods; no BIRD; ping through vxlan.calico; clean destroy"
  [20]="day-2 under the traffic probe: cert renewal, MTU change, pool migration (in-place edit refused), IPAM GC, destroy"
  [21]="etcd style: TLS-only etcd; calico-node, kube-controllers, CNI on it; calicoctl Job's pools, a removed pool pruned; ping; clean destroy"
  [22]="host-local style: conflist host-local, pods in their node's podCIDR, podCIDR routes, pod and node-to-pod ping; clean destroy"
)
NCHECKS=${#TITLES[@]}
# 8 before 7: the fault test runs with all three nodes; 12-14 on the first install, 15 once check 6 enabled pool 2;
# 20 last (it deletes and re-creates a Node).
ORDER=(1 2 3 4 5 12 13 14 6 15 8 7 9 10 11 16 17 18 19 21 22 20)

command -v jq >/dev/null && command -v openssl >/dev/null && command -v python3 >/dev/null \
  || { echo "e2e needs jq, openssl and python3"; echo "e2e: 0 passed, $NCHECKS failed"; exit 1; }
bash "$SANDBOX_DIR/toolchain-ready.sh" || { echo "e2e: toolchain not built (run sandbox/build-toolchain.sh)"; echo "e2e: 0 passed, $NCHECKS failed"; exit 1; }
[[ -d "$REPO/node_modules/@pulumi/pulumi" ]] || (cd "$REPO" && npm ci --no-audit --no-fund)
rm -rf "$E"; mkdir -p "$E/logs"
T0=$(now)
echo "==> Pulumi toolchain (sandbox/plugin-versions.sh)"
bash "$SANDBOX_DIR/plugin-versions.sh" || echo "(plugin versions not read)"

STARTED_CLUSTER=0
pid_alive kube-apiserver || STARTED_CLUSTER=1
echo "==> sandbox cluster (sandbox/up.sh --no-build)"
timeout 300 "$SANDBOX_DIR/up.sh" --no-build >"$E/logs/up-sh.log" 2>&1 || { tail -20 "$E/logs/up-sh.log"; echo "e2e: 0 passed, $NCHECKS failed"; exit 1; }
sbx_link_cni_bin

echo "==> clean start: previous $STACK stack, host files, reference objects"
$KUBECTL delete namespace $PT_NS --wait=true --timeout=120s >/dev/null 2>&1 || true
sbx_stack_remove
# A style stack left by an interrupted run holds the same Calico objects.
for style in rr ds nft vxlan day2 etcd hostlocal; do
  (
    export SANDBOX_STACK=sandbox-$style; source "$SANDBOX_DIR/stack.sh"
    STACK_DIR="$S/stack-$style"; STACK_CFG="$STACK_DIR/Pulumi.$STACK.yaml"
    if sbx_stack_exists; then
      [[ -s "$STACK_CFG" ]] && sbx_pulumi destroy --yes --skip-preview --continue-on-error >/dev/null 2>&1
      sbx_pulumi_nocfg stack rm --yes --force --preserve-config >/dev/null 2>&1
    fi
    rm -rf "$STACK_DIR"
  ) || true
done
# Check 21's etcd, left by an interrupted run (after its stack's destroy, which may need it).
"$SANDBOX_DIR/calico-etcd.sh" stop >/dev/null 2>&1 || true
# The fourth node of check 16, left by an interrupted run.
if [[ -e /run/netns/sbx-node-4 ]] || $KUBECTL get node sbx-node-4 >/dev/null 2>&1; then
  SANDBOX_NODES=sbx-node-4 "$SANDBOX_DIR/kubelets.sh" stop >/dev/null 2>&1 || true
  $KUBECTL delete node sbx-node-4 --timeout=60s >/dev/null 2>&1 || true
  SANDBOX_NODES="$SANDBOX_NODES sbx-node-4" "$SANDBOX_DIR/ssh-nodes.sh" stop sbx-node-4 >/dev/null 2>&1 || true
  SANDBOX_NODES="$SANDBOX_NODES sbx-node-4" "$SANDBOX_DIR/netns.sh" down sbx-node-4 >/dev/null 2>&1 || true
  rm -rf "${S:?}/nodes/sbx-node-4" "$S/kubelet/sbx-node-4"
fi
# Objects no stack knows any more (a run killed while it created them): the program labels its own; the CRDs
# are Calico's. Only with no stack left, so nothing that a state still tracks is touched.
if ! sbx_stack_exists; then
  $KUBECTL delete deploy,ds,svc,sa,cm,secret,pdb,job -A -l app.kubernetes.io/part-of=calico --wait=false >/dev/null 2>&1 || true
  $KUBECTL delete clusterrole,clusterrolebinding -l app.kubernetes.io/part-of=calico >/dev/null 2>&1 || true
  crds=$($KUBECTL get crd -o name 2>/dev/null | grep 'projectcalico.org' || true)
  if [[ -n "$crds" ]]; then
    echo "removing $(wc -l <<<"$crds") Calico CRDs no stack holds"
    $KUBECTL delete $crds --wait=false >/dev/null 2>&1 || true
    timeout 300 bash -c "while $KUBECTL get crd -o name 2>/dev/null | grep projectcalico.org >/dev/null; do sleep 2; done" \
      || { echo "Calico CRDs still terminating after 5 min"; echo "e2e: 0 passed, $NCHECKS failed"; exit 1; }
  fi
fi
for n in "${NODES[@]}"; do (cd "$(tree "$n")" && rm -rf opt/cni etc/cni && find tmp var/tmp -mindepth 1 -delete 2>/dev/null); done

echo "==> reference: kubectl apply --server-side --dry-run=server of the official manifest"
REF_TIME=""
if [[ -s "$REFERENCE_MANIFEST" ]]; then
  # A server-side dry run: the API server admits, validates and defaults every object as for a real apply,
  # but persists nothing. A real apply would start the reference calico-node on the nodes, and deleting its
  # CRDs again can take the API server minutes ("storage is (re)initializing").
  t0=$(now)
  if timeout 300 $KUBECTL apply --server-side --force-conflicts --dry-run=server -f "$REFERENCE_MANIFEST" >"$E/logs/reference-apply.log" 2>&1; then
    REF_TIME=$(secs "$t0" "$(now)")
    echo "dry-run applied $(grep -c . "$E/logs/reference-apply.log") objects in ${REF_TIME}s"
  else
    tail -5 "$E/logs/reference-apply.log"
  fi
else
  echo "no $REFERENCE_MANIFEST; skipping the reference timing"
fi
sbx_stack_prepare >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; echo "e2e: 0 passed, $NCHECKS failed"; exit 1; }

declare -A RESULT TIME
stop_after=""
for i in "${ORDER[@]}"; do
  echo; echo "==> check $i: ${TITLES[$i]}"
  if [[ -n "$stop_after" ]]; then
    RESULT[$i]=skip; TIME[$i]=-; echo "skipped: $stop_after"; continue
  fi
  t0=$(now)
  ( set -eo pipefail; "check$i" ) 2>&1 | tee "$E/logs/check-$i.log"
  rc=${PIPESTATUS[0]}
  TIME[$i]=$(secs "$t0" "$(now)")
  if [[ $rc == 0 ]]; then RESULT[$i]=pass; else RESULT[$i]=FAIL; fi
  # Without a first up there is nothing to check.
  [[ $i == 1 && $rc != 0 ]] && stop_after="the first pulumi up failed"
done

# Leave the machine as found: sshd of every node up, working copy = committed file, cluster stopped if we started it.
"$SANDBOX_DIR/ssh-nodes.sh" start >/dev/null 2>&1 || true
sbx_config_reset
[[ ! -d "$REPO/.git" ]] || git -C "$REPO" diff --quiet -- "Pulumi.$STACK.yaml" || echo "note: Pulumi.$STACK.yaml differs from git (not changed by the e2e)"
if [[ $STARTED_CLUSTER == 1 && "${E2E_KEEP_CLUSTER:-0}" != 1 ]]; then "$SANDBOX_DIR/down.sh" >/dev/null 2>&1 || true; fi

pass=0; fail=0
t() { cat "$E/time.$1" 2>/dev/null || echo "-"; }
{
  echo
  echo "| # | check | result | time (s) |"
  echo "|---|---|---|---|"
  for i in $(seq 1 "$NCHECKS"); do
    echo "| $i | ${TITLES[$i]} | ${RESULT[$i]} | ${TIME[$i]} |"
    if [[ ${RESULT[$i]} == pass ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  done
  echo
  echo "| timing | seconds |"
  echo "|---|---|"
  echo "| pulumi up from scratch ($(grep -E '^ +\+ [0-9]+ created' "$E/logs/up-scratch.log" 2>/dev/null | grep -oE '[0-9]+' || echo '?') resources) | $(t up_scratch) |"
  echo "| pulumi up, no changes | $(t up_noop) |"
  echo "| pulumi preview, no changes | $(t preview) |"
  echo "| pulumi destroy | $(t destroy) |"
  echo "| reference: kubectl apply --server-side --dry-run=server of the official calico-typha.yaml | ${REF_TIME:--} |"
  if [[ -n "$REF_TIME" && -s "$E/time.up_scratch" ]]; then
    echo "| ratio up from scratch / reference apply | $(awk -v a="$(t up_scratch)" -v b="$REF_TIME" 'BEGIN { printf "%.1fx", a / b }') |"
  fi
  echo
  echo "total $(secs "$T0" "$(now)")s, run order ${ORDER[*]}, logs in $E/logs"
} | tee "$E/table.md"
pass=$(grep -c '| pass |' "$E/table.md"); fail=$((${#TITLES[@]} - pass))
echo "e2e: $pass passed, $fail failed"
[[ $fail == 0 ]]
