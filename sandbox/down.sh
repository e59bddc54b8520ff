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

# Reverse order of start. The kubelets first: they stop their pods' processes and tear down
# their network namespaces (CNI DEL) on the way out.
"$SANDBOX_DIR/kubelets.sh" stop
stop ssh-agent
rm -f "$S/ssh/agent.sock"
"$SANDBOX_DIR/ssh-nodes.sh" stop
"$SANDBOX_DIR/netns.sh" down
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
