# Shared settings for the sandbox scripts (sourced, not run).
# Everything here can be overridden from the environment.

SANDBOX_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CALICO_HW_TOOLCHAIN="${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hard-way}"
CALICO_HW_SANDBOX="${CALICO_HW_SANDBOX:-$HOME/.cache/calico-hard-way/sandbox}"
TOOLBIN="$CALICO_HW_TOOLCHAIN/bin"
S="$CALICO_HW_SANDBOX"
# Toolchain first (its kubectl matches the API server when the system one is too old).
case ":$PATH:" in *":$TOOLBIN:"*) ;; *) PATH="$TOOLBIN:$PATH" ;; esac

# Nodes of the sandbox stack, and one SSH port per node (first port + index).
SANDBOX_NODES="${SANDBOX_NODES:-sbx-node-1 sbx-node-2 sbx-node-3}"
SANDBOX_SSH_PORT_BASE="${SANDBOX_SSH_PORT_BASE:-2221}"
SANDBOX_POD_CIDR="${SANDBOX_POD_CIDR:-10.244.0.0/16}"
SANDBOX_SERVICE_CIDR="${SANDBOX_SERVICE_CIDR:-10.96.0.0/12}"
ETCD_PORT="${ETCD_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-2380}"
APISERVER_PORT="${APISERVER_PORT:-6443}"
CONTROLLER_MANAGER_PORT="${CONTROLLER_MANAGER_PORT:-10257}"
SCHEDULER_PORT="${SCHEDULER_PORT:-10259}"
KWOK_PORT="${KWOK_PORT:-10247}"
# The second etcd, Calico's own for the etcd datastore style (calico-etcd.sh, e2e 21): TLS only, on the
# bridge's address in $SANDBOX_NET_NS, so every node namespace reaches it and nothing else does.
CALICO_ETCD_PORT="${CALICO_ETCD_PORT:-23790}"
CALICO_ETCD_PEER_PORT="${CALICO_ETCD_PEER_PORT:-23791}"
# The nodes' own network (netns.sh): a bridge in the namespace SANDBOX_NET_NS, node i (from 0) at
# $SANDBOX_NODE_NET.<11+i>. Only the sandbox's namespaces have these addresses.
SANDBOX_NET_NS="${SANDBOX_NET_NS:-sbx-net}"
SANDBOX_NODE_NET="${SANDBOX_NODE_NET:-172.30.0}"
# The same network's IPv6 prefix (the first 48 bits of a /64): node i at $SANDBOX_NODE_NET6::<11+i>, the
# bridge at ::1, all in $SANDBOX_NODE_NET6::/64 (written so, as `ip` prints them).
SANDBOX_NODE_NET6="${SANDBOX_NODE_NET6:-fd00:172:30}"

sbx_log() { printf '%s sandbox: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# qgrep ARGS...: grep -q for the end of a pipeline. grep -q exits at the first match, so under
# pipefail a writer that is still writing (ip prints one address per write) dies of SIGPIPE and the
# pipeline fails although it matched: netns.sh then re-added an address it had ("address already
# assigned"; 195 of 3000 tries here). This grep reads to the end.
qgrep() { grep "$@" >/dev/null; }

# node_port NODE -> its SSH port
node_port() {
  local i=0 n
  for n in $SANDBOX_NODES; do
    if [[ "$n" == "$1" ]]; then echo $((SANDBOX_SSH_PORT_BASE + i)); return; fi
    i=$((i + 1))
  done
  return 1
}

# node_index NODE -> its position in SANDBOX_NODES (from 0)
node_index() {
  local i=0 n
  for n in $SANDBOX_NODES; do
    if [[ "$n" == "$1" ]]; then echo "$i"; return; fi
    i=$((i + 1))
  done
  return 1
}
# node_ip NODE / node_ip6 NODE -> its address on the sandbox bridge (IPv4, IPv6)
node_ip() { local i; i=$(node_index "$1") || return 1; echo "$SANDBOX_NODE_NET.$((11 + i))"; }
node_ip6() { local i; i=$(node_index "$1") || return 1; echo "$SANDBOX_NODE_NET6::$((11 + i))"; }

# pid_alive NAME: the recorded pid runs, and is the process we started
# (its command line still names the recorded binary).
pid_alive() {
  local f="$S/run/$1.pid" pid exe
  [[ -s "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -d "/proc/$pid" ]] || return 1
  exe="$(cat "$S/run/$1.cmd" 2>/dev/null || true)"
  [[ -z "$exe" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" | qgrep -F -- "$exe"
}

# start NAME CMD... : run in the background, log to $S/logs/NAME.log, record pid. The pid is later
# recognised by CMD's first word in its command line, or by $START_MATCH when CMD execs another
# program (ip netns exec ...).
start() {
  local name="$1"; shift
  if pid_alive "$name"; then sbx_log "$name already running (pid $(cat "$S/run/$name.pid"))"; return; fi
  sbx_log "starting $name"
  nohup setsid "$@" >>"$S/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$S/run/$name.pid"
  echo "${START_MATCH:-$1}" >"$S/run/$name.cmd"
}

# wait_for WHAT SECONDS CMD... : poll until CMD succeeds
wait_for() {
  local what="$1" secs="$2" i; shift 2
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "timed out after ${secs}s waiting for $what (logs in $S/logs)" >&2
  return 1
}


# stop NAME : stop a recorded process by pid (TERM, then KILL after $STOP_WAIT s, default 10)
stop() {
  local name="$1" f="$S/run/$1.pid" pid i
  [[ -s "$f" ]] || return 0
  pid="$(cat "$f")"
  if pid_alive "$name"; then
    sbx_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${STOP_WAIT:-10} * 4; i++)); do
      [[ -d "/proc/$pid" ]] || break
      sleep 0.25
    done
    if [[ -d "/proc/$pid" ]]; then
      sbx_log "$name did not stop; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f" "$S/run/$name.cmd"
}
