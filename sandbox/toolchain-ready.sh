#!/usr/bin/env bash
# Exits 0 when the sandbox toolchain is already built on this machine (every binary the e2e needs, with
# its line in <toolchain>/versions), 1 otherwise, printing what is missing. Never builds anything: CI
# (.ci/run) uses it to decide whether to run the e2e; a cold build (~50 min) is not for CI.
set -uo pipefail
TOOLCHAIN="${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hardway}"
missing=()
for b in pulumi pulumi-language-nodejs pulumi-resource-kubernetes pulumi-resource-tls pulumi-resource-command \
  etcd kube-apiserver kube-controller-manager kube-scheduler kwok \
  calico calico-ipam calico-node calico-typha kube-controllers calicoctl install sbx-kubelet; do
  [[ -x "$TOOLCHAIN/bin/$b" ]] || missing+=("$b")
done
for t in pulumi pulumi-language-nodejs kubernetes-provider tls-provider command-provider etcd kubernetes kwok calico sbx-kubelet; do
  grep -q "^$t " "$TOOLCHAIN/versions" 2>/dev/null || missing+=("versions:$t")
done
[[ -s "$TOOLCHAIN/images/VERSION" && -x "$TOOLCHAIN/images/node/usr/bin/calico-node" ]] || missing+=("images (calico/* image roots)")
# install-cni copies the image's plugins; an image root assembled without them networks no pod.
[[ -x "$TOOLCHAIN/images/cni/opt/cni/bin/portmap" ]] || missing+=("images/cni plugins (sandbox/build-toolchain.sh calico assembles them again)")
# The etcd datastore's calicoctl-apply Job runs calico/ctl (e2e 21).
[[ -x "$TOOLCHAIN/images/ctl/usr/bin/calicoctl" ]] || missing+=("images/ctl (sandbox/build-toolchain.sh calico assembles it)")
command -v kubectl >/dev/null || [[ -x "$TOOLCHAIN/bin/kubectl" ]] || missing+=(kubectl)
[[ "$(id -u)" == 0 ]] || missing+=("root (sshd with ChrootDirectory)")
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "sandbox toolchain not ready in $TOOLCHAIN: missing ${missing[*]}"
  exit 1
fi
echo "sandbox toolchain ready in $TOOLCHAIN"
