#!/usr/bin/env bash
# A second etcd, Calico's own, for the etcd datastore style (the e2e's `etcd` style, test/e2e/checks/etcd.ts). TLS only, for
# clients and peers alike, client certificates required, with a CA of its own (not the cluster's). It runs
# in the bridge namespace $SANDBOX_NET_NS on the bridge's address ($SANDBOX_NODE_NET.1), so calico-node,
# kube-controllers, the calicoctl Job (host network) and the CNI plugin reach it from every node namespace,
# and nothing outside the sandbox's namespaces can. Each start is fresh: new CA, certificates, empty data.
#   calico-etcd.sh start      generate the PKI in $S/calico-etcd/pki, start, wait until healthy
#   calico-etcd.sh stop       stop it (by recorded pid) and delete its data and keys
#   calico-etcd.sh endpoint   print its client URL
# Files (after start): pki/ca.crt (its CA), pki/calico.{crt,key} (Calico's client certificate).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D="$S/calico-etcd"
P="$D/pki"
IP="$SANDBOX_NODE_NET.1"
URL="https://$IP:$CALICO_ETCD_PORT"
PEER_URL="https://$IP:$CALICO_ETCD_PEER_PORT"
NAME=calico-etcd

# cert NAME CN EXT : a key and a certificate signed by this etcd's own CA
cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$3" >"$P/$1.ext"
  openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
    -out "$P/$1.crt" -extfile "$P/$1.ext" 2>/dev/null
  rm -f "$P/$1.csr" "$P/$1.ext"
}

healthy() {
  ip netns exec "$SANDBOX_NET_NS" curl -fsS --max-time 2 --cacert "$P/ca.crt" --cert "$P/calico.crt" --key "$P/calico.key" \
    "$URL/health" 2>/dev/null | qgrep '"health":"true"'
}

case "${1:-}" in
  endpoint) echo "$URL"; exit 0 ;;
  stop)
    STOP_WAIT=15 stop "$NAME"
    rm -rf -- "$D"
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop|endpoint" >&2; exit 2 ;;
esac

[[ -e "/run/netns/$SANDBOX_NET_NS" ]] || { echo "no namespace $SANDBOX_NET_NS: start the sandbox (up.sh) first" >&2; exit 1; }
ip -n "$SANDBOX_NET_NS" -o addr show dev br0 | qgrep -F " $IP/" || { echo "br0 in $SANDBOX_NET_NS has no $IP" >&2; exit 1; }
STOP_WAIT=15 stop "$NAME"
rm -rf -- "$D"
# Without loopback a namespace cannot reach its own addresses; etcd dials its own client URL (its gRPC
# gateway). Only this namespace's lo: nothing more routes in or out.
ip -n "$SANDBOX_NET_NS" link set lo up
mkdir -p "$P" "$D/data" "$S/run" "$S/logs"
chmod 700 "$D" "$P" "$D/data"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" -days 2 \
  -subj "/CN=calico-sandbox-etcd-ca" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
# One certificate for the member: it serves clients and peers, and dials its peer URL as a client.
cert server calico-etcd "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:$IP"
cert calico calico "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
rm -f "$P/ca.key" "$P/ca.srl"   # nothing else is ever signed by it

START_MATCH="--name $NAME" start "$NAME" ip netns exec "$SANDBOX_NET_NS" "$TOOLBIN/etcd" --name "$NAME" --data-dir "$D/data" \
  --listen-client-urls "$URL" --advertise-client-urls "$URL" \
  --listen-peer-urls "$PEER_URL" --initial-advertise-peer-urls "$PEER_URL" --initial-cluster "$NAME=$PEER_URL" \
  --cert-file "$P/server.crt" --key-file "$P/server.key" --client-cert-auth --trusted-ca-file "$P/ca.crt" \
  --peer-cert-file "$P/server.crt" --peer-key-file "$P/server.key" --peer-client-cert-auth --peer-trusted-ca-file "$P/ca.crt" \
  --log-level warn
# A deadline, not a count of tries: one try may take its 2 s.
deadline=$((SECONDS + 60))
until healthy; do
  ((SECONDS < deadline)) || { echo "timed out after 60s waiting for $NAME at $URL (log: $S/logs/$NAME.log)" >&2; exit 1; }
  sleep 0.5
done
sbx_log "$NAME is up at $URL (TLS only, client certificates of its own CA)"
