#!/usr/bin/env bash
# `npm run verify` against the real-Calico sandbox (issue 14): the `sandbox` stack up, verify on the healthy
# cluster, then on three broken ones, each restored before the next: a node whose sshd was down during
# `up` (so it has no CNI files), a node whose calico-node was stopped (its kubelet stand-in stopped), and a
# NetworkPolicy that blocks the probes. Each broken run must fail naming the cause. Needs the cluster
# running and the `sandbox` stack free: e2e.sh runs it as check 17, after its own destroy.
# Ends with `e2e-verify: N passed, M failed`. Logs: $S/e2e-verify/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
source "$SANDBOX_DIR/stack.sh"
E="$S/e2e-verify"; rm -rf "$E"; mkdir -p "$E"
KUBECTL="kubectl --request-timeout=20s"
read -r -a NODES <<<"$SANDBOX_NODES"
export SBX_PULUMI_TIMEOUT=600
declare -a ROWS=(); pass=0; fail=0
row() { ROWS+=("| $1 | $2 | $3 |"); if [[ $2 == pass ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; echo "$2: $1 -- $3"; }
finish() { echo; echo "| case | result | detail |"; echo "|---|---|---|"; printf '%s\n' "${ROWS[@]}"; echo "e2e-verify: $pass passed, $fail failed"; [[ $fail == 0 ]]; exit $?; }
# verify_run LABEL : runs verify (--json) into $E/LABEL.json, echoes its exit code
verify_run() {
  (cd "$REPO" && timeout 600 npm run --silent verify -- --stack "$STACK" --config-file "$STACK_CFG" --json "${@:2}") >"$E/$1.json" 2>"$E/$1.log"
  echo $?
}
# status_of LABEL CHECK / details_of LABEL CHECK
status_of() { jq -r --arg c "$2" '.checks[] | select(.name == $c) | .status' "$E/$1.json" 2>/dev/null; }
failed_of() { jq -r '[.checks[] | select(.status == "fail") | .name] | join(", ")' "$E/$1.json" 2>/dev/null; }
details_of() { jq -r --arg c "$2" '.checks[] | select(.name == $c) | (.details | join("; ")) + " | fix: " + .fix' "$E/$1.json" 2>/dev/null; }

pid_alive kube-apiserver || { row cluster FAIL "the sandbox cluster is not running (sandbox/up.sh)"; finish; }
sbx_link_cni_bin
sbx_stack_prepare >"$E/stack.log" 2>&1 || { row stack FAIL "could not prepare the sandbox stack"; finish; }
cfg_set() { (cd "$REPO" && pulumi config set --non-interactive --stack "$STACK" --config-file "$STACK_CFG" "$@"); }
# Broken runs fail sooner with a shorter wait per step.
cfg_set --path 'calico:verify.timeoutSeconds' 40 >/dev/null
sbx_pulumi up --yes --skip-preview --color never >"$E/up.log" 2>&1 || { tail -20 "$E/up.log"; row up FAIL "pulumi up failed"; finish; }

# healthy
rc=$(verify_run healthy)
if [[ $rc == 0 ]]; then row healthy pass "$(jq -r '[.checks[] | "\(.name) \(.status)"] | join(", ")' "$E/healthy.json")"
else row healthy FAIL "exit $rc; failed: $(failed_of healthy)"; fi

# 1. a node without CNI files: its sshd down during an up that changes every node's files
bad="${NODES[1]}"
"$SANDBOX_DIR/ssh-nodes.sh" stop "$bad" >/dev/null
rm -f "$S/nodes/$bad/etc/cni/net.d/10-calico.conflist"
cfg_set --path 'calico:cni.logLevel' debug >/dev/null
sbx_pulumi up --yes --skip-preview --continue-on-error --color never >"$E/up-nosshd.log" 2>&1
rc=$(verify_run no-conflist)
d=$(details_of no-conflist "Data path")
if [[ $rc != 0 && "$(status_of no-conflist 'Data path')" == fail && "$d" == *"$bad"* ]]; then row "no conflist on $bad" pass "exit $rc; Data path: ${d:0:300}"
else row "no conflist on $bad" FAIL "exit $rc; failed: $(failed_of no-conflist); Data path: ${d:0:300}"; fi
"$SANDBOX_DIR/ssh-nodes.sh" start >/dev/null
sbx_pulumi up --yes --skip-preview --color never >"$E/up-restore1.log" 2>&1 || row "restore 1" FAIL "up after sshd start failed"

# 2. calico-node stopped on a node (its kubelet stand-in stopped: the pods' processes end)
bad="${NODES[2]}"
SANDBOX_NODES="$bad" "$SANDBOX_DIR/kubelets.sh" stop >/dev/null 2>&1
rc=$(verify_run node-stopped)
summary=""
for c in "calico-node" "BGP" "Typha" "Data path"; do summary+="$c $(status_of node-stopped "$c"): $(details_of node-stopped "$c" | cut -c1-160); "; done
if [[ $rc != 0 && "$summary" == *"$bad"* ]]; then row "calico-node stopped on $bad" pass "exit $rc; failed: $(failed_of node-stopped); ${summary:0:600}"
else row "calico-node stopped on $bad" FAIL "exit $rc; failed: $(failed_of node-stopped); ${summary:0:600}"; fi
"$SANDBOX_DIR/kubelets.sh" start >/dev/null 2>&1
timeout 200 $KUBECTL -n kube-system rollout status ds/calico-node --timeout=180s >/dev/null 2>&1 || row "restore 2" FAIL "calico-node not Ready again on $bad"

# 3. a NetworkPolicy that blocks the probes in verify's namespace
# verify deletes the namespace it created after each run; a Terminating one would refuse the policy.
timeout 150 bash -c "while $KUBECTL get ns calico-verify >/dev/null 2>&1; do sleep 2; done"
$KUBECTL create ns calico-verify >/dev/null || row "blocking NetworkPolicy" FAIL "could not create namespace calico-verify"
$KUBECTL -n calico-verify apply -f - >/dev/null <<'EOP'
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-all"},
 "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
EOP
rc=$(verify_run policy)
d=$(details_of policy "Data path")
if [[ $rc != 0 && "$d" == *deny-all* ]]; then row "blocking NetworkPolicy" pass "exit $rc; Data path: ${d:0:300}"
else row "blocking NetworkPolicy" FAIL "exit $rc; failed: $(failed_of policy); Data path: ${d:0:300}"; fi
$KUBECTL delete ns calico-verify --wait=true --timeout=90s >/dev/null 2>&1

left=$($KUBECTL get pods -A -l app.kubernetes.io/name=calico-verify -o name 2>/dev/null | wc -l)
[[ $left == 0 ]] && row "cleanup" pass "no probe pod left" || row "cleanup" FAIL "$left probe pods left"
$KUBECTL delete ns pingtest --wait=false >/dev/null 2>&1
# Destroyed, not removed: e2e.sh resets this stack's working copy at its end (it keeps the salt).
sbx_pulumi destroy --yes --skip-preview --color never >"$E/destroy.log" 2>&1 || row destroy FAIL "pulumi destroy failed"
finish
