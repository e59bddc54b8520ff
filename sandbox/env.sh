# Source this file: `source sandbox/env.sh`. It points the Pulumi CLI, the
# providers and kubectl at the local toolchain and sandbox cluster.
_sbx_dir="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
export CALICO_HW_TOOLCHAIN="${CALICO_HW_TOOLCHAIN:-$HOME/.cache/calico-hard-way}"
export CALICO_HW_SANDBOX="${CALICO_HW_SANDBOX:-$HOME/.cache/calico-hard-way/sandbox}"
case ":$PATH:" in
  *":$CALICO_HW_TOOLCHAIN/bin:"*) ;;
  *) export PATH="$CALICO_HW_TOOLCHAIN/bin:$PATH" ;;
esac
# Plugins come from PATH only; nothing is downloaded.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_HOME="${PULUMI_HOME:-$CALICO_HW_SANDBOX/pulumi-home}"
export PULUMI_BACKEND_URL="file://$CALICO_HW_SANDBOX/pulumi-state"
# A fixed passphrase for the sandbox's local secrets provider (sandbox only).
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-calico-sandbox}"
export KUBECONFIG="$CALICO_HW_SANDBOX/admin.kubeconfig"
# The sandbox's ssh-agent (started by sandbox/up.sh, holding $S/ssh/id_ed25519): Pulumi.sandbox.yaml
# has ssh.useAgent, so the program authenticates through it and no key sits in the stack config.
export SSH_AUTH_SOCK="$CALICO_HW_SANDBOX/ssh/agent.sock"
mkdir -p "$CALICO_HW_SANDBOX/pulumi-state" "$PULUMI_HOME"
unset _sbx_dir
