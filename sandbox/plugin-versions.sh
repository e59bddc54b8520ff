#!/usr/bin/env bash
# Prints the Pulumi side of the sandbox as the engine sees it: the CLI, Node, the language host, and each
# resource plugin twice, the version the program's npm package asks for (`pulumi about`) and the version
# the binary on PATH reports when the engine loads it (`pulumi package get-schema`). The e2e prints it first.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SANDBOX_DIR/env.sh"
cd "$SANDBOX_DIR/.."

about="$(timeout 120 pulumi about --json 2>/dev/null)" || { echo "plugin-versions: pulumi about failed" >&2; exit 1; }
printf '%-22s %-16s %s\n' "component" "asked for" "running (binary)"
printf '%-22s %-16s %s\n' "pulumi (engine)" "-" "$(pulumi version)"
printf '%-22s %-16s %s\n' "node" "$(jq -r '.engines.node' package.json)" "$(node --version) ($(command -v node))"
jq -r '.plugins[] | select(.kind == "language") | "\(.name) \(.version)"' <<<"$about" | while read -r name version; do
  printf '%-22s %-16s %s\n' "language-$name" "-" "$version ($(command -v "pulumi-language-$name"))"
done
jq -r '.plugins[] | select(.kind == "resource") | "\(.name) \(.version)"' <<<"$about" | while read -r name asked; do
  bin="$(command -v "pulumi-resource-$name" || true)"
  if [[ -z "$bin" ]]; then
    running="(not on PATH: not used by the sandbox stacks)"
  else
    running="$(timeout 120 pulumi package get-schema "$bin" 2>/dev/null | jq -r '.version // empty')"
    # The kubernetes provider's embedded schema carries no version: say what the toolchain built.
    [[ -n "$running" ]] || running="(no version in its schema) built as $(awk -v t="$name-provider" '$1==t {print $2}' "$CALICO_HW_TOOLCHAIN/versions")"
    running="$running ($bin)"
  fi
  printf '%-22s %-16s %s\n' "resource-$name" "$asked" "$running"
done
