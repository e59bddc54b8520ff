#!/usr/bin/env bash
# `cni.delivery: daemonset` end to end (issue 12), on real Calico: its own stack `sandbox-ds` from a working
# copy of Pulumi.sandbox.yaml. It starts in the SSH mode (the committed config), switches to daemonset,
# adds a fourth node to the sandbox that is in no stack config, removes it, switches back to SSH, and
# destroys. After each step it checks the host files on every node (paths, modes, sha256 of the conflist,
# which must not change across the switches), who the CNI kubeconfig authenticates as, what that identity
# may do (kubectl auth can-i), and that new pods on different nodes ping each other. Needs the cluster
# running and no other stack holding the Calico objects (e2e.sh runs it after its own destroy).
# Ends with `e2e-ds: N passed, M failed`; exits non-zero on any failure. Logs: $S/e2e-ds/.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
STYLE_STACK=sandbox-ds STYLE_TAG=e2e-ds
source "$SANDBOX_DIR/e2e-style.sh"
NS=kube-system
source "$SANDBOX_DIR/e2e-calico.sh"
EXTRA_NODE="${E2E_EXTRA_NODE:-sbx-node-4}"
SA_USER=system:serviceaccount:kube-system:calico-cni-plugin
# What install-cni writes from the calico/cni image: the plugins the conflist calls, not flannel or tuning.
DS_BINARIES="calico calico-ipam host-local loopback portmap"
CNI_IMAGE_BIN="$CALICO_HW_TOOLCHAIN/images/cni/opt/cni/bin"

# To daemonset: no SSH-side binaries or cluster CA (the config rules refuse them), Typha sized by hand.
TO_DAEMONSET='
    const cni = c.get("calico:cni"); cni.delete("localBinDir"); cni.set("delivery", "daemonset");
    c.get("calico:cluster").delete("caFromNode");
    c.set("calico:typha", { replicas: 2 });'

# files_on NODE MODE : "ok <detail>" when the node's tree has the CNI files of MODE (ssh|daemonset), else the problem
files_on() {
  local n="$1" mode="$2" t="$S/nodes/$1" f b got want bins
  f="$t/etc/cni/net.d/10-calico.conflist"
  [[ -f "$f" ]] || { echo "$n: no 10-calico.conflist"; return 1; }
  jq -e --arg n "$n" '.plugins[0].nodename == $n' "$f" >/dev/null || { echo "$n: conflist nodename $(jq -c '.plugins[0].nodename' "$f")"; return 1; }
  want=$([[ $mode == ssh ]] && echo 644 || echo 600)
  [[ "$(stat -c %a "$f")" == "$want" ]] || { echo "$n: conflist mode $(stat -c %a "$f"), want $want"; return 1; }
  f="$t/etc/cni/net.d/calico-kubeconfig"
  [[ -f "$f" && "$(stat -c %a "$f")" == 600 ]] || { echo "$n: calico-kubeconfig missing or not 0600"; return 1; }
  if [[ $mode == ssh ]]; then
    bins=$BINARIES; grep -q 'client-certificate-data' "$f" || { echo "$n: kubeconfig has no client certificate"; return 1; }
    [[ -s "$t/var/lib/calico-hardway/cni-files" ]] || { echo "$n: no host record of the SSH install"; return 1; }
  else
    bins=$DS_BINARIES; grep -q '^    token: ' "$f" || { echo "$n: kubeconfig has no token"; return 1; }
    [[ ! -e "$t/var/lib/calico-hardway/cni-files" ]] || { echo "$n: the SSH install's record is still there"; return 1; }
    for b in flannel tuning install; do [[ ! -e "$t/opt/cni/bin/$b" ]] || { echo "$n: /opt/cni/bin/$b installed"; return 1; }; done
  fi
  for b in $bins; do
    [[ -x "$t/opt/cni/bin/$b" ]] || { echo "$n: /opt/cni/bin/$b missing"; return 1; }
  done
  if [[ $mode == daemonset ]]; then
    for b in calico calico-ipam; do
      got=$(sha256sum <"$t/opt/cni/bin/$b" | cut -d' ' -f1); want=$(sha256sum <"$CNI_IMAGE_BIN/$b" | cut -d' ' -f1)
      [[ "$got" == "$want" ]] || { echo "$n: /opt/cni/bin/$b is not the image's"; return 1; }
    done
  fi
  echo "ok"
}
conflist_sha() { sha256sum <"$S/nodes/$1/etc/cni/net.d/10-calico.conflist" | cut -c1-12; }
whoami_on() { timeout 30 kubectl --request-timeout=20s --kubeconfig "$S/nodes/$1/etc/cni/net.d/calico-kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1; }

# check_files STEP MODE NODES... : one row for the files on every node, the identity, and the conflists unchanged
declare -A SHA=()
check_files() {
  local step="$1" mode="$2" n out bad="" who want shas=""; shift 2
  want=$([[ $mode == ssh ]] && echo calico-cni || echo "$SA_USER")
  for n in "$@"; do
    out=$(files_on "$n" "$mode") || { bad+="$out; "; continue; }
    who=$(whoami_on "$n"); [[ "$who" == "$want" ]] || bad+="$n: kubeconfig authenticates as '$who', want $want; "
    local s; s=$(conflist_sha "$n")
    if [[ -n "${SHA[$n]:-}" && "${SHA[$n]}" != "$s" ]]; then bad+="$n: conflist sha256 ${SHA[$n]} before, $s now; "; fi
    SHA[$n]=$s; shas+="$n=$s "
  done
  if [[ -z "$bad" ]]; then row "$step: files" pass "$mode files on $*: conflist (sha256 ${shas% }), kubeconfig 0600 as $want, binaries"
  else row "$step: files" FAIL "$bad"; fi
}

# The SA's rights: what the CNI plugin needs, and nothing else.
check_can_i() {
  local bad="" want verb res got
  # want verb resource [subresource]: `pods/status` would be a pod named status to kubectl auth can-i.
  while read -r want verb res sub; do
    got=$(timeout 30 $KUBECTL auth can-i "$verb" "$res" ${sub:+--subresource="$sub"} --as "$SA_USER" -A 2>/dev/null || true)
    [[ "$got" == "$want" ]] || bad+="$verb $res${sub:+/$sub}: $got, want $want; "
  done <<'EOF2'
yes get pods
yes get nodes
yes get namespaces
yes patch pods status
yes create ipamblocks.crd.projectcalico.org
yes update blockaffinities.crd.projectcalico.org
yes delete ipamhandles.crd.projectcalico.org
no list pods
no get secrets
no create pods
no delete nodes
no patch nodes
no create serviceaccounts token
no update felixconfigurations.crd.projectcalico.org
no create networkpolicies.crd.projectcalico.org
EOF2
  if [[ -z "$bad" ]]; then row "daemonset: RBAC" pass "kubectl auth can-i as $SA_USER: get pods/nodes/namespaces, patch pods/status, IPAM CRUD yes; list pods, get secrets, create pods, delete/patch nodes, token requests, Felix config, Calico policy no"
  else row "daemonset: RBAC" FAIL "$bad"; fi
}

# switch_up STEP LABEL : pulumi up after a config switch, one row with its time and step counts
switch_up() {
  local t0; t0=$(date +%s)
  if p "$2" up --yes --skip-preview; then
    row "$1: up" pass "one pulumi up ($(($(date +%s) - t0)) s): $(grep -E '^\s+[-+~] [0-9]+ (created|deleted|updated|replaced)' "$E/logs/$2.log" | xargs); now $(resources_in_state) resources, $(commands_in_state) SSH commands"
  else
    tail -30 "$E/logs/$2.log"; row "$1: up" FAIL "pulumi up failed (see $E/logs/$2.log)"
  fi
}

resources_in_state() { sbx_pulumi_nocfg stack export | jq '[.deployment.resources[] | select(.type | startswith("pulumi:") | not)] | length'; }
commands_in_state() { sbx_pulumi_nocfg stack export | jq '[.deployment.resources[] | select(.type | startswith("command:"))] | length'; }

# ------------------------------------------------------------------------------------------- 1. SSH
style_preconditions
style_prepare_stack '' >"$E/logs/stack-init.log" 2>&1 || { cat "$E/logs/stack-init.log"; row "stack" FAIL "could not prepare stack $STACK"; finish; }
BINARIES="calico calico-ipam portmap loopback host-local"
if p up-ssh up --yes --skip-preview; then
  row "ssh: up" pass "pulumi up of $STACK with cni.delivery ssh: $(resources_in_state) resources, $(commands_in_state) of them SSH commands"
else
  tail -30 "$E/logs/up-ssh.log"; row "ssh: up" FAIL "pulumi up failed (see $E/logs/up-ssh.log)"; p destroy destroy --yes --skip-preview --continue-on-error || true; finish
fi
check_files ssh ssh "${NODES[@]}"

# ------------------------------------------------------------------------------------- 2. daemonset
style_config "$TO_DAEMONSET"
switch_up "to daemonset" up-ds
[[ "$(commands_in_state)" == 0 ]] || row "to daemonset: state" FAIL "$(commands_in_state) SSH commands left in the state"
# The old installs' deletes ran (their host records are gone) after install-cni's rollout, and saw a
# kubeconfig they had not written: so they left the files (checked below) and the dataplane, at once.
bad=""; took=""
for n in "${NODES[@]}"; do
  [[ ! -e "$S/nodes/$n/var/lib/calico-hardway/cni-files" ]] || bad+="$n: the SSH install's record is still there; "
  [[ -f "$S/nodes/$n/etc/cni/net.d/calico-kubeconfig" && -f "$S/nodes/$n/etc/cni/net.d/10-calico.conflist" ]] || bad+="$n: the delete removed the CNI files; "
  took+="$n $(grep -oE "$n-cni-install deleted \([0-9.]+s\)" "$E/logs/up-ds.log" | grep -oE '[0-9.]+s'), "
done
if [[ -z "$bad" ]]; then row "to daemonset: handover" pass "each node's old install was deleted after the rollout (${took%, }: no wait for Felix), its record is gone, install-cni's files stayed"
else row "to daemonset: handover" FAIL "$bad"; fi
check_files "to daemonset" daemonset "${NODES[@]}"
check_can_i
check_ping "to daemonset" "${NODES[@]}"

# ---------------------------------------------------------------------- 3. a node in no stack config
if SANDBOX_NODES="$SANDBOX_NODES $EXTRA_NODE" timeout 300 bash "$SANDBOX_DIR/up.sh" --no-build >"$E/logs/extra-node-up.log" 2>&1; then
  if timeout 200 bash -c "until [[ \$($KUBECTL -n $NS get pod -l k8s-app=calico-node --field-selector spec.nodeName=$EXTRA_NODE -o jsonpath='{.items[0].status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null) == True ]]; do sleep 3; done"; then
    row "$EXTRA_NODE joins" pass "added to the sandbox only (not in $STACK's config, no pulumi up): its calico-node ran install-cni and is Ready"
  else
    row "$EXTRA_NODE joins" FAIL "calico-node on $EXTRA_NODE not Ready: $($KUBECTL -n $NS get pod -l k8s-app=calico-node --field-selector spec.nodeName=$EXTRA_NODE -o wide --no-headers 2>&1)"
  fi
  check_files "$EXTRA_NODE" daemonset "$EXTRA_NODE"
  check_ping "$EXTRA_NODE" "${NODES[0]}" "$EXTRA_NODE"
else
  tail -20 "$E/logs/extra-node-up.log"; row "$EXTRA_NODE joins" FAIL "sandbox/up.sh could not add $EXTRA_NODE"
fi
# Out again: in SSH mode it would be a node no config names, holding files nobody renews.
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1 || true
$KUBECTL drain "$EXTRA_NODE" --ignore-daemonsets --force --timeout=60s >/dev/null 2>&1 || true
SANDBOX_NODES="$EXTRA_NODE" bash "$SANDBOX_DIR/kubelets.sh" stop >/dev/null 2>&1
$KUBECTL delete node "$EXTRA_NODE" --timeout=60s >/dev/null 2>&1
SANDBOX_NODES="$SANDBOX_NODES $EXTRA_NODE" bash "$SANDBOX_DIR/ssh-nodes.sh" stop "$EXTRA_NODE" >/dev/null 2>&1
SANDBOX_NODES="$SANDBOX_NODES $EXTRA_NODE" bash "$SANDBOX_DIR/netns.sh" down "$EXTRA_NODE" >/dev/null 2>&1
rm -rf "${S:?}/nodes/$EXTRA_NODE" "$S/kubelet/$EXTRA_NODE"

# --------------------------------------------------------------------------------------- 4. back to SSH
style_config ''
switch_up "back to ssh" up-back
check_files "back to ssh" ssh "${NODES[@]}"
check_ping "back to ssh" "${NODES[@]}"

# ------------------------------------------------------------------------------------------ 5. destroy
$KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1 || true
if p destroy destroy --yes --skip-preview; then row "destroy" pass "pulumi destroy of $STACK"
else tail -20 "$E/logs/destroy.log"; row "destroy" FAIL "pulumi destroy failed (see $E/logs/destroy.log)"; fi
left=""
for n in "${NODES[@]}"; do
  for f in etc/cni/net.d/10-calico.conflist etc/cni/net.d/calico-kubeconfig var/lib/calico-hardway/cni-files opt/cni/bin/calico; do
    [[ -e "$S/nodes/$n/$f" ]] && left+="$n:/$f "
  done
done
if out=$(calico_leftovers) && [[ -z "$left" ]]; then row "after destroy" pass "no CNI file, record, Calico process, interface, route, chain, nft table or ipset on ${NODES[*]}"
else row "after destroy" FAIL "${left}${out:-}"; fi

style_remove_stack
clean_trees
finish
