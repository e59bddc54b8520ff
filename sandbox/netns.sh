#!/usr/bin/env bash
# The sandbox nodes' network: one network namespace per node, all on one bridge that lives in a
# namespace of its own (sbx-net). The bridge has no uplink, and the root namespace has no interface
# on it: nothing routes in or out, every packet stays between the sandbox's own namespaces. Each node namespace gets:
#   - eth0 with the node's address ($SANDBOX_NODE_NET.<11+i>/24), which is also its Node InternalIP,
#     and a default route via $SANDBOX_NODE_NET.1, the bridge's own address, where packets for
#     anywhere else end (that namespace forwards nothing);
#   - the same for IPv6 ($SANDBOX_NODE_NET6::<11+i>/64, default via ::1), for dual-stack stacks;
#   - net.ipv4.ip_forward=1 (kubeadm's preflight requires it on every node) and IPv6 forwarding;
#   - the API server at 127.0.0.1:$APISERVER_PORT, through a unix-socket relay to the real one
#     (the sandbox's stand-in for a network path from the node to the control plane).
#
#   netns.sh up [NODE...]     create (idempotent)
#   netns.sh down [NODE...]   delete the node namespaces (and sbx-net when all nodes go)
#   netns.sh ip NODE          print the node's address
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"; shift || true
NODES=("$@")
ALL=0
if [[ ${#NODES[@]} -eq 0 ]]; then read -r -a NODES <<<"$SANDBOX_NODES"; ALL=1; fi

ns_exists() { [[ -e "/run/netns/$1" ]]; }

case "$cmd" in
  ip) node_ip "${NODES[0]}"; exit 0 ;;
  down)
    for n in "${NODES[@]}"; do
      stop "apirelay-$n"
      ns_exists "$n" && ip netns delete "$n"
    done
    if [[ $ALL == 1 ]]; then
      stop apirelay
      rm -f "$S/run/kube-apiserver.sock"
      ns_exists "$SANDBOX_NET_NS" && ip netns delete "$SANDBOX_NET_NS"
    fi
    exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down|ip [NODE...]" >&2; exit 2 ;;
esac

command -v socat >/dev/null || { echo "socat is missing (up.sh installs it)" >&2; exit 1; }
mkdir -p "$S/run" "$S/logs"

if ! ns_exists "$SANDBOX_NET_NS"; then
  sbx_log "creating the sandbox network namespace $SANDBOX_NET_NS with bridge br0"
  ip netns add "$SANDBOX_NET_NS"
  ip -n "$SANDBOX_NET_NS" link add br0 type bridge
  ip -n "$SANDBOX_NET_NS" link set br0 up
  # The nodes' default gateway, which forwards nothing (forwarding stays off in this namespace): a
  # real host has a default route, and Calico needs one, since the pods' gateway 169.254.1.1 is
  # answered by proxy ARP only when the host has a route to it through another interface.
  ip -n "$SANDBOX_NET_NS" addr add "$SANDBOX_NODE_NET.1/24" dev br0
  ip netns exec "$SANDBOX_NET_NS" sysctl -qw net.ipv4.ip_forward=0
fi
# IPv6 on the bridge (also for a sandbox started before it had IPv6); this namespace forwards nothing.
if ! ip -n "$SANDBOX_NET_NS" -6 addr show dev br0 | qgrep "$SANDBOX_NODE_NET6::1/64"; then
  ip netns exec "$SANDBOX_NET_NS" sysctl -qw net.ipv6.conf.all.forwarding=0
  ip -n "$SANDBOX_NET_NS" addr add "$SANDBOX_NODE_NET6::1/64" dev br0 nodad
fi

# One relay from a unix socket to the API server on this machine's loopback; each node namespace
# listens on its own 127.0.0.1 and connects to that socket.
API_SOCK="$S/run/kube-apiserver.sock"
if ! pid_alive apirelay; then rm -f "$API_SOCK"; fi
start apirelay socat "UNIX-LISTEN:$API_SOCK,fork,mode=600" "TCP:127.0.0.1:$APISERVER_PORT"
wait_for "API server relay socket" 10 test -S "$API_SOCK"

for n in "${NODES[@]}"; do
  addr="$(node_ip "$n")"
  if ! ns_exists "$n"; then
    sbx_log "creating network namespace $n ($addr)"
    ip netns add "$n"
    ip -n "$n" link set lo up
    peer="v-${n: -8}"
    ip link add eth0 netns "$n" type veth peer name "$peer" netns "$SANDBOX_NET_NS"
    ip -n "$SANDBOX_NET_NS" link set "$peer" master br0 up
    ip -n "$n" addr add "$addr/24" dev eth0
    ip -n "$n" link set eth0 up
    ip -n "$n" route add default via "$SANDBOX_NODE_NET.1"
    ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
  fi
  if ! ip -n "$n" -6 addr show dev eth0 | qgrep "$(node_ip6 "$n")/64"; then
    ip netns exec "$n" sysctl -qw net.ipv6.conf.all.forwarding=1
    ip -n "$n" addr add "$(node_ip6 "$n")/64" dev eth0 nodad
    ip -n "$n" -6 route replace default via "$SANDBOX_NODE_NET6::1"
  fi
  START_MATCH=socat start "apirelay-$n" ip netns exec "$n" socat \
    "TCP-LISTEN:$APISERVER_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$API_SOCK"
done
for n in "${NODES[@]}"; do
  wait_for "API server from $n" 20 ip netns exec "$n" curl -sk -o /dev/null "https://127.0.0.1:$APISERVER_PORT/readyz"
done
