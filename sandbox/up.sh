#!/usr/bin/env bash
# Starts the local sandbox cluster (idempotent: what already runs is kept):
#   etcd, kube-apiserver (own CA), kube-controller-manager (allocates node
#   pod CIDRs), kube-scheduler, kwok (Node objects and their heartbeats only) with
#   nodes sbx-node-1..3, each with its own network namespace on a sandbox-only
#   bridge (netns.sh), an SSH host on 127.0.0.1 that lands in that namespace
#   and in the node's own tree (ssh-nodes.sh), and sbx-kubelet, which runs the
#   pods scheduled to the node (real Calico processes; sandbox/README.md).
# All state lives in ${CALICO_HW_SANDBOX:-$HOME/.cache/calico-hard-way/sandbox};
# every process binds to 127.0.0.1 and is recorded by pid in $S/run.
# Stop with sandbox/down.sh. Use with: source sandbox/env.sh
#
# Options: --no-build  do not run build-toolchain.sh first
# Environment (besides lib.sh's): SANDBOX_KUBELETS=0 starts no sbx-kubelet, and SANDBOX_KWOK_PODS=1
# lets kwok fake every pod's readiness instead (the scale bench, bench/sandbox.sh: Calico objects and
# host files for a hundred nodes, without a hundred calico-node processes on 2 cores).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD=1
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
  esac
done

[[ "$(id -u)" == 0 ]] || { echo "sandbox/up.sh must run as root (sshd with ChrootDirectory, apt-get)" >&2; exit 1; }

# ------------------------------------------------------------------ toolchain
if [[ $BUILD == 1 ]]; then
  "$SANDBOX_DIR/build-toolchain.sh"
fi
"$SANDBOX_DIR/build-toolchain.sh" --check >/dev/null || { "$SANDBOX_DIR/build-toolchain.sh" --check >&2; exit 1; }

# Debian packages the sandbox needs (installed only when missing).
need=()
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
[[ -x /bin/busybox ]] || need+=(busybox-static)
[[ -x /usr/lib/cni/portmap ]] || need+=(containernetworking-plugins)
command -v openssl >/dev/null || need+=(openssl)
command -v ssh >/dev/null || need+=(openssh-client)
# What the calico/node image and a node's host have: BIRD 1.x (confd's templates), runit (the
# image's runsvdir), iptables (legacy and nft), ipset, nftables, iproute2; plus socat for the
# sandbox's relays, curl for httpGet probes, ping for the e2e; iperf3 for `npm run verify --perf`'s probe
# pods, which run on this Debian userland (busybox-static, installed above, serves their HTTP).
for pkg in bird:/usr/sbin/bird runit:/usr/bin/runsvdir iptables:/usr/sbin/xtables-nft-multi ipset:/usr/sbin/ipset \
  nftables:/usr/sbin/nft iproute2:/usr/bin/ip socat:/usr/bin/socat curl:/usr/bin/curl iputils-ping:/usr/bin/ping \
  iperf3:/usr/bin/iperf3; do
  [[ -x "${pkg#*:}" ]] || need+=("${pkg%%:*}")
done
if [[ ${#need[@]} -gt 0 ]]; then
  sbx_log "installing Debian packages: ${need[*]}"
  apt-get update -qq
  # No service may start from a package install (bird's would run in this machine's own namespace).
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

umask 022
mkdir -p "$S"/{run,logs,pki,etcd,kwok,ssh,nodes,cni-bin}
chmod 700 "$S/pki" "$S/ssh" "$S/etcd"

# ------------------------------------------------------------------ PKI
P="$S/pki"
if [[ ! -s "$P/ca.crt" ]]; then
  sbx_log "generating the cluster CA and certificates in $P"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" -days 3650 \
    -subj "/CN=calico-sandbox-cluster-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
  openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
fi

# issue NAME CN O EXT : a cert signed by the cluster CA
issue() {
  local name="$1" cn="$2" o="$3" ext="$4" subj="/CN=$2"
  [[ -s "$P/$name.crt" ]] && return
  [[ -n "$o" ]] && subj="/O=$o/CN=$cn"
  openssl req -newkey rsa:2048 -nodes -keyout "$P/$name.key" -out "$P/$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$P/$name.ext"
  openssl x509 -req -in "$P/$name.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
    -days 3650 -out "$P/$name.crt" -extfile "$P/$name.ext" 2>/dev/null
  rm -f "$P/$name.csr"
}
CLIENT_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
issue apiserver kube-apiserver "" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
issue admin admin system:masters "$CLIENT_EXT"
issue controller-manager system:kube-controller-manager "" "$CLIENT_EXT"
issue scheduler system:kube-scheduler "" "$CLIENT_EXT"
issue kwok kwok system:masters "$CLIENT_EXT"
# sbx-kubelet authenticates as each node, as a kubelet does (Node authorizer).
SANDBOX_KUBELETS="${SANDBOX_KUBELETS:-1}"
SANDBOX_KWOK_PODS="${SANDBOX_KWOK_PODS:-0}"
[[ $SANDBOX_KUBELETS == 0 ]] || for n in $SANDBOX_NODES; do issue "kubelet-$n" "system:node:$n" system:nodes "$CLIENT_EXT"; done
issue kwok-serving kwok "" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
chmod 600 "$P"/*.key

# kubeconfig NAME CERT : a kubeconfig for the API server with a client cert
kubeconfig() {
  local f="$S/$1.kubeconfig"
  [[ -s "$f" ]] && return
  KUBECONFIG="$f" kubectl config set-cluster sandbox --certificate-authority="$P/ca.crt" \
    --embed-certs=true --server="https://127.0.0.1:$APISERVER_PORT" >/dev/null
  KUBECONFIG="$f" kubectl config set-credentials "$2" --client-certificate="$P/$2.crt" \
    --client-key="$P/$2.key" --embed-certs=true >/dev/null
  KUBECONFIG="$f" kubectl config set-context sandbox --cluster=sandbox --user="$2" >/dev/null
  KUBECONFIG="$f" kubectl config use-context sandbox >/dev/null
  chmod 600 "$f"
}
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kwok kwok
[[ $SANDBOX_KUBELETS == 0 ]] || for n in $SANDBOX_NODES; do kubeconfig "kubelet-$n" "kubelet-$n"; done

# ------------------------------------------------------------------ processes
start etcd "$TOOLBIN/etcd" --name sandbox --data-dir "$S/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "sandbox=http://127.0.0.1:$ETCD_PEER_PORT" \
  --quota-backend-bytes 2147483648 --log-level warn
wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver "$TOOLBIN/kube-apiserver" \
  --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --client-ca-file="$P/ca.crt" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range="$SANDBOX_SERVICE_CIDR" \
  --authorization-mode=Node,RBAC --allow-privileged=true \
  --endpoint-reconciler-type=none --profiling=false
wait_for kube-apiserver 120 kubectl --kubeconfig "$S/admin.kubeconfig" get --raw /readyz

start kube-controller-manager "$TOOLBIN/kube-controller-manager" \
  --kubeconfig="$S/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$S/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$S/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" --leader-elect=false \
  --allocate-node-cidrs=true --cluster-cidr="$SANDBOX_POD_CIDR" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$SANDBOX_SERVICE_CIDR" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --root-ca-file="$P/ca.crt" --service-account-private-key-file="$P/sa.key" \
  --use-service-account-credentials=true --profiling=false

start kube-scheduler "$TOOLBIN/kube-scheduler" \
  --kubeconfig="$S/scheduler.kubeconfig" \
  --authentication-kubeconfig="$S/scheduler.kubeconfig" \
  --authorization-kubeconfig="$S/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false

# kwok: node stages only (initialise, heartbeat with leases). Pods are run by sbx-kubelet, so
# kwok must not touch them (it would write its own pod IPs and readiness); unless SANDBOX_KWOK_PODS=1
# (no kubelets), when its pod stages mark every pod Ready.
KWOK_CFG="$S/kwok/kwok.yaml"
stages="$CALICO_HW_TOOLCHAIN/share/kwok/stages"
[[ -d "$stages" ]] || { echo "missing $stages: run sandbox/build-toolchain.sh kwok" >&2; exit 1; }
{
    echo "apiVersion: config.kwok.x-k8s.io/v1alpha1"
    echo "kind: KwokConfiguration"
    # Explicit options: kwok does not default them when a config file is given.
    cat <<'EOO'
options:
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  nodeLeaseDurationSeconds: 40
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: true
  enableContentionProfiling: false
  enableProfilingHandler: false
EOO
    for f in "$stages"/node-*.yaml; do echo "---"; grep -v '^---$' "$f"; done
    if [[ $SANDBOX_KWOK_PODS == 1 ]]; then
      for f in "$stages"/pod-*.yaml; do echo "---"; grep -v '^---$' "$f"; done
    fi
} >"$KWOK_CFG.new"
if ! cmp -s "$KWOK_CFG.new" "$KWOK_CFG"; then
  stop kwok
  mv "$KWOK_CFG.new" "$KWOK_CFG"
else
  rm -f "$KWOK_CFG.new"
fi
start kwok "$TOOLBIN/kwok" --config "$KWOK_CFG" --kubeconfig "$S/kwok.kubeconfig" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --server-address="127.0.0.1:$KWOK_PORT" \
  --tls-cert-file="$P/kwok-serving.crt" --tls-private-key-file="$P/kwok-serving.key" \
  --node-ip=127.0.0.1 --node-port="$KWOK_PORT" --cidr="$SANDBOX_POD_CIDR"

export KUBECONFIG="$S/admin.kubeconfig"
for n in $SANDBOX_NODES; do
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    calico-sandbox: "true"
EOF
  # The node's address on the sandbox bridge is its InternalIP (kwok keeps addresses it finds).
  kubectl patch node "$n" --subresource=status --type=merge -p \
    "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$(node_ip "$n")\"},{\"type\":\"Hostname\",\"address\":\"$n\"}]}}" >/dev/null
done

# ------------------------------------------------------------------ node networks and SSH hosts
"$SANDBOX_DIR/netns.sh" up
"$SANDBOX_DIR/ssh-nodes.sh" start

# An ssh-agent holding the sandbox key, on a fixed socket ($S/ssh/agent.sock,
# exported as SSH_AUTH_SOCK by env.sh): the sandbox stack uses ssh.useAgent,
# so no key goes into its config.
AGENT_SOCK="$S/ssh/agent.sock"
if ! pid_alive ssh-agent; then rm -f "$AGENT_SOCK"; fi
start ssh-agent /usr/bin/ssh-agent -D -a "$AGENT_SOCK"
wait_for "ssh-agent socket" 10 test -S "$AGENT_SOCK"
SSH_AUTH_SOCK="$AGENT_SOCK" ssh-add -q "$S/ssh/id_ed25519"

# ------------------------------------------------------------------ CNI sources
# $S/cni-bin holds every CNI binary the program copies over SSH (for
# cni.localBinDir): the standard plugins from Debian's containernetworking-
# plugins (/usr/lib/cni), and calico / calico-ipam built from the Calico
# source tarball (build-toolchain.sh calico).
mkdir -p "$S/cni-bin"
for f in /usr/lib/cni/*; do
  [[ -f "$f" ]] && cp -p "$f" "$S/cni-bin/"
done
for b in calico calico-ipam; do
  cp "$TOOLBIN/$b" "$S/cni-bin/$b"
  chmod 755 "$S/cni-bin/$b"
done
(cd "$S/cni-bin" && sha256sum -- * | grep -v ' SHA256SUMS$' >"$S/cni-bin.sha256" && mv "$S/cni-bin.sha256" SHA256SUMS)
# Pulumi.sandbox.yaml names the repo-relative link sandbox/.state/cni-bin (gitignored).
mkdir -p "$SANDBOX_DIR/.state"
ln -sfn "$S/cni-bin" "$SANDBOX_DIR/.state/cni-bin"

# ------------------------------------------------------------------ readiness
wait_for "$(wc -w <<<"$SANDBOX_NODES") Ready nodes" 300 bash -c \
  "[[ \$(kubectl get nodes -l calico-sandbox=true -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\" \"}{.spec.podCIDR}{\"\\n\"}{end}' | grep -c '^True 10\.') -ge $(wc -w <<<"$SANDBOX_NODES") ]]"

# ------------------------------------------------------------------ kubelets
[[ $SANDBOX_KUBELETS == 0 ]] || "$SANDBOX_DIR/kubelets.sh" start

# Facts for writing the sandbox stack file.
{
  echo "# generated by sandbox/up.sh"
  echo "apiServer=https://127.0.0.1:$APISERVER_PORT"
  echo "clusterCaCert=$P/ca.crt"
  echo "clusterCaKey=$P/ca.key"
  echo "kubeconfig=$S/admin.kubeconfig"
  echo "sshPrivateKey=$S/ssh/id_ed25519"
  echo "sshUser=root"
  echo "podCidr=$SANDBOX_POD_CIDR"
  echo "cniLocalBinDir=$S/cni-bin"
  for n in $SANDBOX_NODES; do
    echo "node.$n=127.0.0.1:$(node_port "$n") tree=$S/nodes/$n ip=$(node_ip "$n") netns=$n"
  done
} >"$S/sandbox.facts"

sbx_log "sandbox is up"
kubectl get nodes -o wide
echo "state: $S   (facts for the stack file: $S/sandbox.facts)"
echo "use:   source $SANDBOX_DIR/env.sh"
