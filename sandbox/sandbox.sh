#!/usr/bin/env bash
# `npm run sandbox`: the main job on the local sandbox, from a fresh clone.
#   Node (from the npm registry) -> npm ci (when node_modules is missing) -> toolchain (built once; reused after)
#   -> cluster and SSH hosts (sandbox/up.sh) -> stack `sandbox` on the local file backend, from a working
#   copy of Pulumi.sandbox.yaml (test/e2e/sandboxStack.ts, as the e2e drives it) -> pulumi up
#   --continue-on-error -> what was created.
# Options: --fresh  destroy and remove an existing sandbox stack first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
REPO="$(cd "$SANDBOX_DIR/.." && pwd)"

FRESH=0
for a in "$@"; do
  case "$a" in
    --fresh) FRESH=1 ;;
    *) echo "usage: $0 [--fresh]" >&2; exit 2 ;;
  esac
done

cd "$REPO"
# Node first (lib.sh put the toolchain first on PATH): npm ci and the program run on the Node package.json accepts.
"$SANDBOX_DIR/build-toolchain.sh" node
if [[ ! -d node_modules/@pulumi/pulumi ]]; then sbx_log "npm ci"; npm ci --no-audit --no-fund; fi
"$SANDBOX_DIR/up.sh"            # builds or reuses the toolchain, starts what is not running
mkdir -p "$SANDBOX_DIR/.state" && ln -sfn "$S/cni-bin" "$SANDBOX_DIR/.state/cni-bin"   # cni.localBinDir

sbx_log "pulumi up (stack sandbox, state $PULUMI_BACKEND_URL)"
rc=0
args=(); [[ $FRESH == 1 ]] && args+=(--fresh)
node_modules/.bin/ts-node --transpile-only test/e2e/sandboxStack.ts "${args[@]}" || rc=$?

echo; echo "== kubectl -n kube-system get deploy,ds,svc,pdb,sa,secret,cm (Calico)"
kubectl -n kube-system get deploy,ds,svc,pdb -o wide || true
kubectl get ippools.crd.projectcalico.org,bgpconfigurations.crd.projectcalico.org,felixconfigurations.crd.projectcalico.org 2>/dev/null || true
kubectl -n kube-system get pods -o wide || true
echo; echo "== host files (each node's tree under $S/nodes)"
for n in $SANDBOX_NODES; do
  echo "-- $n"
  (cd "$S/nodes/$n" && ls -l opt/cni/bin etc/cni/net.d 2>/dev/null) || true
done
exit $rc
