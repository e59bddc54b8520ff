# What the style stacks' end-to-end checks share (sourced by e2e-rr.sh and e2e-ds.sh after lib.sh and
# env.sh, with STYLE_STACK set): their own stack from a working copy of Pulumi.sandbox.yaml
# ($S/stack-<name>/Pulumi.<stack>.yaml; the committed file is never touched), a results table, and the
# per-node tree cleanup. Every wait is bounded; traffic only to 127.0.0.1 and the sandbox's namespaces.
export SANDBOX_STACK="$STYLE_STACK"
source "$SANDBOX_DIR/stack.sh"
# Own state dir: stack.sh's $S/stack belongs to the `sandbox` stack (its salt).
STACK_DIR="$S/stack-${STYLE_STACK#sandbox-}"
STACK_CFG="$STACK_DIR/Pulumi.$STACK.yaml"
export SBX_PULUMI_TIMEOUT="${E2E_PULUMI_TIMEOUT:-600}"
E="$S/e2e-${STYLE_STACK#sandbox-}"
KUBECTL="kubectl --request-timeout=20s"
read -r -a NODES <<<"$SANDBOX_NODES"
rm -rf "$E"; mkdir -p "$E/logs"

declare -a ROWS=()
pass=0; fail=0
row() { # row NAME RESULT DETAIL
  ROWS+=("| $1 | $2 | $3 |")
  if [[ $2 == pass ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  echo "$2: $1 -- $3"
}
# p LABEL SUB ARGS... : pulumi on this stack, output to $E/logs/LABEL.log
p() { local label="$1"; shift; sbx_pulumi "$@" --color never >"$E/logs/$label.log" 2>&1; }
finish() {
  echo
  echo "| check | result | detail |"
  echo "|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo "${STYLE_TAG:-e2e-style}: $pass passed, $fail failed"
  [[ $fail == 0 ]]; exit $?
}

stack_exists() { (cd "$REPO" && timeout 60 pulumi stack ls --json 2>/dev/null) | jq -e --arg s "$STACK" 'any(.[]; .name == $s)' >/dev/null; }
# style_config JS : the committed sandbox config + salt, then JS edits the parsed YAML document `d`
# (the repo's yaml package; `c` is its config map, argv from 3 on are extra arguments).
style_config() {
  { cat "$REPO/Pulumi.sandbox.yaml"; echo; cat "$STACK_DIR/salt"; } >"$STACK_CFG"
  local js="$1"; shift
  node -e '
    const y = require(process.argv[1]), fs = require("fs"), f = process.argv[2];
    const d = y.parseDocument(fs.readFileSync(f, "utf8"));
    const c = d.get("config");
    const argv = process.argv.slice(3);
    '"$js"'
    fs.writeFileSync(f, d.toString());' "$REPO/node_modules/yaml" "$STACK_CFG" "$@"
}
# style_prepare_stack JS [ARGS...] : the stack (destroying an old one first), then style_config.
style_prepare_stack() {
  mkdir -p "$STACK_DIR"
  if ! stack_exists || [[ ! -s "$STACK_DIR/salt" ]]; then
    stack_exists && { p destroy-old destroy --yes --skip-preview --continue-on-error || true; sbx_pulumi_nocfg stack rm --yes --force --preserve-config >/dev/null 2>&1 || true; }
    local tmp; tmp="$(mktemp -d)"
    printf 'name: %s\nruntime: nodejs\n' "$PROJECT_NAME" >"$tmp/Pulumi.yaml"
    (cd "$tmp" && timeout 60 pulumi stack init "$STACK" --non-interactive >/dev/null) || { rm -rf "$tmp"; return 1; }
    grep '^encryptionsalt:' "$tmp/Pulumi.$STACK.yaml" >"$STACK_DIR/salt"
    rm -rf "$tmp"
  fi
  style_config "$@"
}
style_remove_stack() {
  sbx_pulumi_nocfg stack rm --yes --force --preserve-config >/dev/null 2>&1 || true
  rm -rf "$STACK_DIR"
}
clean_trees() { local n; for n in "${NODES[@]}"; do (cd "$S/nodes/$n" && rm -rf opt/cni etc/cni var/lib/calico-hardway && find tmp var/tmp -mindepth 1 -delete 2>/dev/null); done; }

# The preconditions every style stack has: the cluster runs and the `sandbox` stack holds nothing.
style_preconditions() {
  pid_alive kube-apiserver || { row "cluster" FAIL "the sandbox cluster is not running (sandbox/up.sh)"; finish; }
  sbx_link_cni_bin
  if (cd "$REPO" && timeout 60 pulumi stack ls --json 2>/dev/null) | jq -e 'any(.[]; .name == "sandbox" and (.resourceCount // 0) > 0)' >/dev/null; then
    row "preconditions" FAIL "the sandbox stack holds resources (same Calico objects); destroy it first"; finish
  fi
  clean_trees
}

# (Needs e2e-calico.sh sourced too: PT_NS, make_pod, ping_from, ...)
# check_ping STEP NODES... : fresh pods (a CNI ADD with the current files), every pair across nodes
check_ping() {
  local step="$1" n a b r bad="" pairs=0; shift
  $KUBECTL delete ns $PT_NS --wait=true --timeout=90s >/dev/null 2>&1 || true
  $KUBECTL create ns $PT_NS >/dev/null || { row "$step: ping" FAIL "cannot create namespace $PT_NS"; return; }
  for n in "$@"; do make_pod "pingtest-$n" "$n"; done
  if ! wait_pods_ready -l app=pingtest; then
    row "$step: ping" FAIL "pingtest pods not Ready: $($KUBECTL -n $PT_NS get pods -o wide --no-headers 2>&1 | awk '{print $1, $3}' | xargs)"; return
  fi
  declare -A ip=() ns=()
  for n in "$@"; do ip[$n]=$(pod_ip $PT_NS "pingtest-$n"); ns[$n]=$(pod_netns $PT_NS "pingtest-$n"); done
  for a in "$@"; do for b in "$@"; do
    [[ $a == "$b" ]] && continue
    r=$(ping_from "${ns[$a]}" "${ip[$b]}" 5); pairs=$((pairs + 1))
    [[ "$(awk '{print $3}' <<<"$r")" == 0% ]] || bad+="pingtest-$a -> pingtest-$b (${ip[$b]}): $r; "
  done; done
  if [[ -z "$bad" ]]; then row "$step: ping" pass "$pairs pod pairs across nodes, 0% loss ($(for n in "$@"; do printf '%s=%s ' "$n" "${ip[$n]}"; done | xargs))"
  else row "$step: ping" FAIL "$bad"; fi
}
