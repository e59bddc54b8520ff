#!/usr/bin/env bash
# Stops every process sandbox/up.sh started, by its recorded pid (never by
# name). Keeps the state (certs, etcd data, Pulumi state) unless --purge.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PURGE=0
for a in "$@"; do
  case "$a" in
    --purge) PURGE=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

stop() {
  local name="$1" f="$S/run/$1.pid" pid i
  [[ -s "$f" ]] || return 0
  pid="$(cat "$f")"
  if pid_alive "$name"; then
    sbx_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
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

# Reverse order of start.
for n in $SANDBOX_NODES; do stop "sshd-$n"; done
stop kwok
stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver
stop etcd

if [[ $PURGE == 1 ]]; then
  sbx_log "removing state in $S"
  rm -rf -- "$S"
fi
sbx_log "sandbox is down"
