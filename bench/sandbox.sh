#!/usr/bin/env bash
# `npm run bench:sandbox -- 3 30 100`: the program at scale on the real engine (issue 11).
#
# For each size N it starts a sandbox of its own (sandbox/up.sh with other ports, a bridge of its own
# and N+1 nodes bench-001..; every address on loopback or in its namespaces), each node an SSH host in
# its own network namespace and tree, as in the e2e. No sbx-kubelet runs: kwok marks the pods Ready, so
# the Kubernetes provider's rollout waits end as on a cluster whose pods start (what is measured is the
# program, the engine and the providers, not Calico). Then, timed, in one run:
#   up       `pulumi up --skip-preview` from scratch, N nodes
#   preview  a no-op `pulumi preview --expect-no-changes`, $PREVIEWS times (default 5): the median (the
#            upper of the middle two for an even count), and the fastest and slowest
#   change   one node's change: bench-002's SSH address from 127.0.0.1 to localhost (the same sshd; the
#            program has no per-node MTU, Felix's is cluster-wide): `preview --json` must change only
#            bench-002-* resources, then the timed `up`
#   add      node N+1 appended: `preview --json` must create only its resources, then the timed `up`
#   destroy  `pulumi destroy`
# with the state size after `up` (the backend's stack file; its parts per resource type and per node
# from the export, in $RUN/state-parts.txt) and each command's peak RSS of the
# engine, the program and the providers, and the CPU seconds of each in `up`, and of the sandbox's hosts
# and cluster processes (bench/measure.py). Prints a table per size, then the marginal
# cost per node between consecutive sizes. Needs root and the sandbox toolchain (build-toolchain.sh).
# Logs and JSON in $BENCH_DIR (default ~/.cache/calico-hard-way/bench). Leaves no sandbox running.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(3 30 100)
for n in "${SIZES[@]}"; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 2 && "$n" -le 200 ]] || { echo "bench:sandbox: size $n: give node counts from 2 to 200" >&2; exit 2; }
done
[[ "$(id -u)" == 0 ]] || { echo "bench:sandbox must run as root (network namespaces, sshd)" >&2; exit 1; }
"$REPO/sandbox/toolchain-ready.sh" >/dev/null || { echo "bench:sandbox: the toolchain is not built; run sandbox/build-toolchain.sh" >&2; exit 1; }

BENCH_DIR="${BENCH_DIR:-$HOME/.cache/calico-hard-way/bench}"
PREVIEWS="${PREVIEWS:-5}"
[[ "$PREVIEWS" =~ ^[1-9][0-9]*$ ]] || { echo "bench:sandbox: PREVIEWS=$PREVIEWS: give a count of 1 or more" >&2; exit 2; }
mapfile -t PREVIEW_RUNS < <(seq -f 'preview-%g' "$PREVIEWS")
# A sandbox apart from the e2e's: its own state, ports, bridge namespace and node network.
export CALICO_HW_SANDBOX="$BENCH_DIR/sandbox"
export ETCD_PORT=12379 ETCD_PEER_PORT=12380 APISERVER_PORT=16443 CONTROLLER_MANAGER_PORT=20257
export SCHEDULER_PORT=20259 KWOK_PORT=20247 SANDBOX_SSH_PORT_BASE=3221
export SANDBOX_NET_NS=bnch-net SANDBOX_NODE_NET=172.31.0 SANDBOX_NODE_NET6=fd00:172:31 SANDBOX_KUBELETS=0 SANDBOX_KWOK_PODS=1
export PULUMI_CONFIG_PASSPHRASE=calico-bench
STACK=bench
PROJECT_NAME="$(awk '$1=="name:" {print $2; exit}' "$REPO/Pulumi.yaml")"
mkdir -p "$BENCH_DIR"
RESULTS="$BENCH_DIR/results.tsv"
: >"$RESULTS"

log() { printf '%s bench:sandbox: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "FAILED: $*"; exit 1; }

node_names() { local i; for ((i = 1; i <= $1; i++)); do printf 'bench-%03d ' "$i"; done; }

# write_config N : the stack file for the first N nodes (+ the salt)
write_config() {
  local n="$1" i
  {
    echo "config:"
    echo "  calico:cluster:"
    echo "    podCidr: 10.244.0.0/16"
    echo "    apiServer: https://127.0.0.1:$APISERVER_PORT"
    echo "    caFromNode: bench-001"
    echo "  calico:ssh:"
    echo "    user: root"
    echo "    useAgent: true"
    echo "  calico:nodes:"
    for ((i = 1; i <= n; i++)); do
      local addr=127.0.0.1
      [[ $i == 2 && -n "${NODE2_ADDR:-}" ]] && addr="$NODE2_ADDR"
      printf '    - name: bench-%03d\n      address: %s\n      port: %d\n' "$i" "$addr" $((SANDBOX_SSH_PORT_BASE + i - 1))
    done
    cat <<EOF
  calico:pools:
    - name: ipv4-ippool-1
      cidr: 10.244.0.0/18
      ipipMode: Never
      vxlanMode: Never
      natOutgoing: true
  calico:datastore:
    crdsFile: ../shared/reference/calico-v3.32.1/crds.yaml
  calico:cni:
    localBinDir: $CALICO_HW_SANDBOX/cni-bin
EOF
    echo
    cat "$CALICO_HW_SANDBOX/stack/salt"
  } >"$CFG"
}

# pids GLOB... : the sandbox processes whose pid files match, comma-separated
pids() { local f out=; for f in "$@"; do [[ -f "$f" ]] && out+="$(cat "$f"),"; done; echo "$out"; }

# bp OUT-NAME ARGS... : a measured pulumi command for the bench stack. Besides our processes it counts the
# sandbox's CPU in it: `hosts` (each node's sshd listener, with the sessions and install scripts it ran)
# and `cluster` (the API server, etcd, kwok, ...), which on a real cluster run on other machines.
bp() {
  local name="$1"; shift
  local run="$CALICO_HW_SANDBOX/run" hosts cluster f
  hosts=$(pids "$run"/sshd-*.pid)
  cluster=$(for f in "$run"/*.pid; do [[ "$f" == "$run"/sshd-* ]] || pids "$f"; done | tr -d '\n')
  (cd "$REPO" && python3 "$REPO/bench/measure.py" "$RUN/$name.json" --track "hosts=$hosts" --track "cluster=$cluster" -- \
    timeout 1800 pulumi "$@" --non-interactive --stack "$STACK" --config-file "$CFG") >"$RUN/$name.log" 2>&1 \
    || { tail -30 "$RUN/$name.log" >&2; die "N=$N: pulumi $* failed (log $RUN/$name.log)"; }
}
field() { jq -r ".$2" "$RUN/$1.json"; }

# changed_names NAME : the names of the resources a `preview --json` would touch (not components)
changed_names() {
  jq -r '.steps[] | select(.op != "same" and .op != "read") | .urn | split("::")
    | select(.[2] | split("$") | last | startswith("calico:index:") | not) | last' "$RUN/$1.out" | sort -u
}

# touches_only LABEL NODE WHAT : a `preview --json` of the current config changes something, and only NODE-*
touches_only() {
  (cd "$REPO" && timeout 1800 pulumi preview --json --non-interactive --stack "$STACK" --config-file "$CFG" >"$RUN/$1.out" 2>"$RUN/$1.err") \
    || die "N=$N: preview of $3 failed"
  local other; other=$(changed_names "$1" | grep -v "^$2-" || true)
  [[ -z "$other" && -n "$(changed_names "$1")" ]] || die "N=$N: $3 touches: $(changed_names "$1" | tr '\n' ' ')"
}

for N in "${SIZES[@]}"; do
  RUN="$BENCH_DIR/n$N"
  rm -rf "$RUN"; mkdir -p "$RUN"
  export SANDBOX_NODES; SANDBOX_NODES="$(node_names $((N + 1)))"
  log "N=$N: starting a sandbox with $((N + 1)) nodes"
  "$REPO/sandbox/down.sh" --purge >"$RUN/down.log" 2>&1 || true
  t0=$(date +%s.%N)
  "$REPO/sandbox/up.sh" --no-build >"$RUN/sandbox-up.log" 2>&1 || { tail -20 "$RUN/sandbox-up.log" >&2; die "sandbox up"; }
  log "N=$N: sandbox up in $(printf '%.0f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
  # shellcheck source=/dev/null
  source "$REPO/sandbox/env.sh"
  export PULUMI_CONFIG_PASSPHRASE=calico-bench
  CFG="$CALICO_HW_SANDBOX/stack/Pulumi.$STACK.yaml"
  mkdir -p "$CALICO_HW_SANDBOX/stack"
  tmp="$(mktemp -d)"
  printf 'name: %s\nruntime: nodejs\n' "$PROJECT_NAME" >"$tmp/Pulumi.yaml"
  (cd "$tmp" && pulumi stack init "$STACK" --non-interactive >/dev/null)
  grep '^encryptionsalt:' "$tmp/Pulumi.$STACK.yaml" >"$CALICO_HW_SANDBOX/stack/salt"
  rm -rf "$tmp"

  NODE2_ADDR= write_config "$N"
  log "N=$N: up"
  bp up up --yes --skip-preview
  (cd "$REPO" && pulumi stack export --stack "$STACK" >"$RUN/state.json")
  # What the engine writes on every step: the backend's stack file (compact JSON); the export is indented.
  state_bytes=$(wc -c <"$CALICO_HW_SANDBOX/pulumi-state/.pulumi/stacks/$PROJECT_NAME/$STACK.json")
  python3 "$REPO/bench/state_parts.py" "$RUN/state.json" >"$RUN/state-parts.txt"
  resources=$(jq '.deployment.resources | length' "$RUN/state.json")
  # Each node's own share: the median over the nodes of their two resources' bytes (state_parts.py).
  node_kb=$(sed -n 's/^per node .*: median \([0-9.]*\) KB .*/\1/p' "$RUN/state-parts.txt")

  # One preview is at the mercy of whatever else the 2 cores do at that moment: the median of PREVIEWS.
  log "N=$N: no-op preview, $PREVIEWS times"
  for p in "${PREVIEW_RUNS[@]}"; do bp "$p" preview --expect-no-changes; done
  mapfile -t pv_runs < <(for p in "${PREVIEW_RUNS[@]}"; do echo "$(field "$p" wall_s) $p"; done | sort -n)
  cp "$RUN/${pv_runs[$((PREVIEWS / 2))]#* }.json" "$RUN/preview.json"
  pv_range="${pv_runs[0]%% *}-${pv_runs[$((PREVIEWS - 1))]%% *}"

  NODE2_ADDR=localhost write_config "$N"
  touches_only change-preview bench-002 "the address change of bench-002"
  log "N=$N: one-node change ($(changed_names change-preview | tr '\n' ' '))"
  bp change up --yes --skip-preview

  new=$(printf 'bench-%03d' $((N + 1)))
  NODE2_ADDR=localhost write_config $((N + 1))
  touches_only add-preview "$new" "adding $new"
  log "N=$N: add $new"
  bp add up --yes --skip-preview

  log "N=$N: destroy"
  bp destroy destroy --yes --skip-preview
  left=$(find "$CALICO_HW_SANDBOX/nodes" -path '*/etc/cni/net.d/*' -o -path '*/var/lib/calico-hard-way/*' | head -5)
  [[ -z "$left" ]] || die "N=$N: files left after destroy: $left"
  (cd "$REPO" && pulumi stack rm --yes --force --preserve-config --stack "$STACK" >/dev/null 2>&1) || true

  peak() { local k="$1" m=0 v s; for s in up change add destroy "${PREVIEW_RUNS[@]}"; do v=$(field "$s" "$k"); m=$(echo "if ($v > $m) $v else $m" | bc); done; echo "$m"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$N" "$resources" "$(field up wall_s)" "$(field preview wall_s)" "$pv_range" \
    "$(field change wall_s)" "$(field add wall_s)" "$(field destroy wall_s)" "$state_bytes" "${node_kb:-?}" \
    "$(peak engine_rss_mb)" "$(peak program_rss_mb)" "$(peak providers_rss_mb)" \
    "$(field up engine_cpu_s)/$(field up program_cpu_s)/$(field up providers_cpu_s)/$(field up hosts_cpu_s)/$(field up cluster_cpu_s)" >>"$RESULTS"
  "$REPO/sandbox/down.sh" --purge >>"$RUN/down.log" 2>&1 || true
done

python3 - "$RESULTS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
head = ["nodes", "resources", "up (s)", "no-op preview, median (fastest-slowest) (s)", "one-node change (s)", "add a node (s)", "destroy (s)",
        "state (KB)", "state per node, median (KB)", "engine peak RSS (MB)", "program peak RSS (MB)", "providers peak RSS (MB)",
        "up CPU engine/program/providers/hosts/cluster (s)"]
def line(cells): return "| " + " | ".join(cells) + " |"
print(line(head)); print("|" + "|".join("---:" for _ in head) + "|")
for r in rows:
    n, res, up, pv, pvr, ch, add, de, st, node, eng, prog, prov, cpu = r
    print(line([n, res, up, f"{pv} ({pvr})", ch, add, de, f"{int(st)/1024:.0f}", node, eng, prog, prov, cpu]))
if len(rows) > 1:
    print()
    print("Marginal cost per node between sizes:")
    mh = ["nodes", "up (s/node)", "no-op preview (s/node)", "destroy (s/node)", "state (KB/node)"]
    print(line(mh)); print("|" + "|".join("---:" for _ in mh) + "|")
    for a, b in zip(rows, rows[1:]):
        dn = int(b[0]) - int(a[0])
        d = lambda i: (float(b[i]) - float(a[i])) / dn
        print(line([f"{a[0]} -> {b[0]}", f"{d(2):.2f}", f"{d(3):.3f}", f"{d(7):.2f}", f"{d(8)/1024:.1f}"]))
EOF
