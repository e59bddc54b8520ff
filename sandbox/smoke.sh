#!/usr/bin/env bash
# Smoke test of the toolchain against a running sandbox (sandbox/up.sh):
# a throwaway Pulumi TypeScript program (in a temp dir, using this repo's
# node_modules, with its own temporary state backend) creates a ConfigMap
# (kubernetes provider), a tls key and CA cert (tls provider) and a file over
# SSH on one node (command provider); checks that a second preview has no
# changes, then destroys everything and checks the file is gone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
REPO="$(cd "$SANDBOX_DIR/.." && pwd)"
[[ -d "$REPO/node_modules/@pulumi/pulumi" ]] || { echo "run npm ci in $REPO first" >&2; exit 1; }

work="$(mktemp -d /tmp/calico-sandbox-smoke.XXXXXX)"
trap 'rm -rf "$work"' EXIT
ln -s "$REPO/node_modules" "$work/node_modules"
printf 'name: sandbox-smoke\nruntime: nodejs\n' >"$work/Pulumi.yaml"
printf '{"compilerOptions":{"strict":true,"target":"es2020","module":"commonjs","esModuleInterop":true,"skipLibCheck":true}}\n' >"$work/tsconfig.json"
node1="${SANDBOX_NODES%% *}"
port1="$(node_port "$node1")"
cat >"$work/index.ts" <<TS
import * as fs from "fs";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as tls from "@pulumi/tls";
const key = new tls.PrivateKey("ca-key", { algorithm: "RSA", rsaBits: 2048 });
const ca = new tls.SelfSignedCert("ca", {
    privateKeyPem: key.privateKeyPem, subject: { commonName: "sandbox smoke CA" }, isCaCertificate: true,
    validityPeriodHours: 24, allowedUses: ["cert_signing", "digital_signature"],
});
const conn = { host: "127.0.0.1", port: ${port1}, user: "root",
    privateKey: fs.readFileSync("${S}/ssh/id_ed25519", "utf8") };
const file = new command.remote.Command("file", {
    connection: conn,
    create: "sh -c 'set -eu; mkdir -p /etc/sandbox-smoke; cat > /etc/sandbox-smoke/ca.pem; sha256sum /etc/sandbox-smoke/ca.pem'",
    delete: "rm -rf /etc/sandbox-smoke",
    stdin: ca.certPem,
});
const provider = new k8s.Provider("sandbox", { kubeconfig: fs.readFileSync("${S}/admin.kubeconfig", "utf8") });
const cm = new k8s.core.v1.ConfigMap("smoke", {
    metadata: { name: "sandbox-smoke", namespace: "default" },
    data: { "ca.pem": ca.certPem, sha256: file.stdout },
}, { provider });
export const configMap = cm.metadata.name;
export const remoteSha256 = file.stdout;
TS

cd "$work"
export PULUMI_BACKEND_URL="file://$work/state"
mkdir -p "$work/state"
pass=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; echo "$pass passed, 1 failed"; exit 1; }

t0=$(date +%s)
pulumi stack init smoke --non-interactive >/dev/null
pulumi up --yes --non-interactive --skip-preview >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "pulumi up"; }
t1=$(date +%s)
ok "pulumi up ($((t1 - t0))s)"
pulumi preview --expect-no-changes --non-interactive >"$work/preview.log" 2>&1 || { cat "$work/preview.log"; fail "second preview shows changes"; }
t2=$(date +%s)
ok "no-change preview ($((t2 - t1))s)"
f="$S/nodes/$node1/etc/sandbox-smoke/ca.pem"
[[ -f "$f" ]] || fail "file not in $node1's tree ($f)"
got="$(kubectl -n default get configmap sandbox-smoke -o jsonpath='{.data.sha256}')"
want="$(sha256sum "$f" | cut -d' ' -f1)"
[[ "$got" == "$want  /etc/sandbox-smoke/ca.pem" ]] || fail "ConfigMap sha256 '$got' != '$want'"
ok "file on $node1 and ConfigMap agree"
pulumi destroy --yes --non-interactive --skip-preview >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; fail "pulumi destroy"; }
[[ ! -e "$S/nodes/$node1/etc/sandbox-smoke" ]] || fail "destroy left files in $node1's tree"
kubectl -n default get configmap sandbox-smoke >/dev/null 2>&1 && fail "destroy left the ConfigMap"
t3=$(date +%s)
ok "destroy ($((t3 - t2))s)"
echo "$pass passed, 0 failed"
