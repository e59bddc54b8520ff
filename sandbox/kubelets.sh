#!/usr/bin/env bash
# The sandbox's kubelet stand-ins: one sbx-kubelet per node (toolchain/kubelet), which runs the pods
# the scheduler binds to that node as real processes in the node's network namespace (sandbox/README.md,
# "Real Calico"). It authenticates as system:node:<node>, as a kubelet does.
#   kubelets.sh start [NODE...]   start (idempotent)
#   kubelets.sh stop  [NODE...]   stop: each kubelet stops its pods (TERM, grace, KILL) and tears
#                                 down their networks (CNI DEL) before it exits
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"; shift || true
NODES=("$@")
[[ ${#NODES[@]} -gt 0 ]] || read -r -a NODES <<<"$SANDBOX_NODES"

case "$cmd" in
  stop)
    for n in "${NODES[@]}"; do STOP_WAIT=60 stop "kubelet-$n"; done
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop [NODE...]" >&2; exit 2 ;;
esac

for n in "${NODES[@]}"; do
  [[ -e "/run/netns/$n" ]] || { echo "no network namespace $n: run sandbox/netns.sh up first" >&2; exit 1; }
  mkdir -p "$S/kubelet/$n"
  START_MATCH=sbx-kubelet start "kubelet-$n" "$TOOLBIN/sbx-kubelet" --node "$n" --tree "$S/nodes/$n" \
    --netns "$n" --node-ip "$(node_ip "$n")" --state "$S/kubelet/$n" --images "$CALICO_HW_TOOLCHAIN/images" \
    --kubeconfig "$S/kubelet-$n.kubeconfig" --api-host 127.0.0.1 --api-port "$APISERVER_PORT" \
    --api-socket "$S/run/kube-apiserver.sock"
done
