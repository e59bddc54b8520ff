#!/usr/bin/env bash
# Builds the sandbox toolchain with Go, through the Go module proxy, into
# ${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hardway}/bin (outside the repo).
#
# Idempotent and resumable: a tool whose binary exists and whose line in the
# stamp file (<toolchain>/versions) matches is skipped. Builds run one after
# another (2 cores), most important first. Progress lines go to stdout.
#
# Usage: sandbox/build-toolchain.sh [tool ...]   (default: all)
#   tools: pulumi pulumi-language-nodejs kubernetes-provider tls-provider
#          command-provider etcd kubernetes kwok calico-cni kubectl
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WRAPPERS="$HERE/toolchain"
TOOLCHAIN="${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hardway}"
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

# One build at a time per toolchain directory.
# (BUILD_TOOLCHAIN_NOLOCK=1 skips this, to build a small tool beside a long build.)
exec 9>"$TOOLCHAIN/.build.lock"
if [[ "${BUILD_TOOLCHAIN_NOLOCK:-}" != 1 ]] && ! flock -n 9; then
  echo "build-toolchain: another build holds $TOOLCHAIN/.build.lock; waiting" >&2
  flock 9
fi

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
PULUMI_VERSION="$(modversion pulumi github.com/pulumi/pulumi/pkg/v3)"

build_pulumi() {
  local v="$PULUMI_VERSION"
  up_to_date pulumi "$v" pulumi && { log "skip pulumi $v (built)"; return; }
  gobuild "$(stage pulumi)" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v"
  stamp_set pulumi "$v"
}

build_language_nodejs() {
  local v="${PULUMI_VERSION#v}+sandbox"
  up_to_date pulumi-language-nodejs "$v" pulumi-language-nodejs && { log "skip pulumi-language-nodejs $v (built)"; return; }
  gobuild "$(stage pulumi-language-nodejs)" pulumi-language-nodejs . \
    "-X main.version=$v"
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

build_own_provider() { # NAME (tls|command): our own stand-in, see toolchain/providers
  local name="$1" v
  v="$(awk -v n="$name" '$1==n {print $2}' "$WRAPPERS/providers/VERSIONS")"
  up_to_date "$name-provider" "$v" "pulumi-resource-$name" && { log "skip $name provider $v (built)"; return; }
  gobuild "$(stage providers)" "pulumi-resource-$name" "./cmd/pulumi-resource-$name" "-X main.version=$v"
  stamp_set "$name-provider" "$v"
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

build_kubectl() {
  # Reuse a kubectl on PATH (outside the toolchain) when it is within the
  # supported +/-1 minor skew of the API server; otherwise build the matching one.
  local v; v="$(modversion kubernetes k8s.io/kubernetes)"
  local want; want="$(echo "$v" | cut -d. -f2)"
  local path_kubectl
  path_kubectl="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd:)" command -v kubectl || true)"
  if [[ -n "$path_kubectl" ]]; then
    local have
    have="$("$path_kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)"
    if [[ -n "$have" && $(( have - want )) -ge -1 && $(( have - want )) -le 1 ]]; then
      log "reuse $path_kubectl (client 1.$have, server 1.$want)"
      return
    fi
    log "$path_kubectl is client 1.${have:-?}, outside the +/-1 skew of server 1.$want: building kubectl $v"
  fi
  up_to_date kubectl "$v" kubectl && { log "skip kubectl $v (built)"; return; }
  local vx="k8s.io/component-base/version"
  local ld="-X $vx.gitVersion=$v -X $vx.gitMajor=1 -X $vx.gitMinor=$want -X $vx.gitTreeState=clean -X $vx.buildDate=1970-01-01T00:00:00Z"
  gobuild "$(stage kubernetes)" kubectl k8s.io/kubernetes/cmd/kubectl "$ld"
  stamp_set kubectl "$v"
}

build_calico_cni() {
  # github.com/projectcalico/calico is not served by the Go module proxy
  # reachable here, so calico/calico-ipam cannot be built. The sandbox uses
  # stand-in files instead (see sandbox/README.md).
  log "skip calico-cni: github.com/projectcalico/calico is not served by the Go module proxy; the sandbox uses stand-in files"
}

ALL=(pulumi pulumi-language-nodejs kubernetes-provider tls-provider command-provider etcd kubernetes kwok calico-cni kubectl)
TOOLS=("$@")
[[ ${#TOOLS[@]} -gt 0 ]] || TOOLS=("${ALL[@]}")

n=0
for t in "${TOOLS[@]}"; do
  n=$((n + 1))
  start=$(date +%s)
  log "[$n/${#TOOLS[@]}] $t: start"
  case "$t" in
    pulumi) build_pulumi ;;
    pulumi-language-nodejs) build_language_nodejs ;;
    kubernetes-provider) build_kubernetes_provider ;;
    tls-provider) build_own_provider tls ;;
    command-provider) build_own_provider command ;;
    etcd) build_etcd ;;
    kubernetes) build_kubernetes ;;
    kwok) build_kwok ;;
    calico-cni) build_calico_cni ;;
    kubectl) build_kubectl ;;
    *) echo "unknown tool: $t (known: ${ALL[*]})" >&2; exit 2 ;;
  esac
  log "[$n/${#TOOLS[@]}] $t: done in $(( $(date +%s) - start ))s"
done
log "toolchain ready in $BIN"
cat "$STAMP"
