# The sandbox stack, shared by sandbox.sh and e2e.sh (sourced after lib.sh and env.sh).
#
# Pulumi.sandbox.yaml stays exactly as committed: `pulumi stack init` and `pulumi config set` would rewrite
# it (add encryptionsalt, drop comments). Every command therefore runs with `--config-file` on a working
# copy, $S/stacks/<stack>/Pulumi.<stack>.yaml = the committed file + the passphrase salt of the stack in the local
# backend. The program itself still runs from the repo root (its cwd), so relative paths in the file work.
REPO="$(cd "$SANDBOX_DIR/.." && pwd)"
STACK="${SANDBOX_STACK:-sandbox}"
STACK_DIR="$S/stacks/$STACK"
STACK_CFG="$STACK_DIR/Pulumi.$STACK.yaml"
PROJECT_NAME="$(awk '$1=="name:" {print $2; exit}' "$REPO/Pulumi.yaml")"

# pulumi ARGS... for the sandbox stack: sbx_pulumi up --yes ...
sbx_pulumi() {
  local sub="$1"; shift
  (cd "$REPO" && timeout "${SBX_PULUMI_TIMEOUT:-900}" pulumi "$sub" --non-interactive --stack "$STACK" --config-file "$STACK_CFG" "$@")
}
# Same, for subcommands without --config-file (stack output/export, ...).
sbx_pulumi_nocfg() { (cd "$REPO" && timeout 120 pulumi "$@" --non-interactive --stack "$STACK"); }

sbx_stack_exists() { (cd "$REPO" && pulumi stack ls --json 2>/dev/null) | jq -e --arg s "$STACK" 'any(.[]; .name == $s)' >/dev/null; }

# The link cni.localBinDir names (sandbox/.state/cni-bin -> $S/cni-bin).
sbx_link_cni_bin() {
  mkdir -p "$SANDBOX_DIR/.state"
  ln -sfn "$S/cni-bin" "$SANDBOX_DIR/.state/cni-bin"
}

# Create the stack in the local backend if missing (in a scratch project of the same name, so its
# salt lands there, not in the committed file), then (re)write the working copy from the committed file.
sbx_stack_prepare() {
  mkdir -p "$STACK_DIR"
  if ! sbx_stack_exists; then
    local tmp; tmp="$(mktemp -d)"
    printf 'name: %s\nruntime: nodejs\n' "$PROJECT_NAME" >"$tmp/Pulumi.yaml"
    (cd "$tmp" && pulumi stack init "$STACK" --non-interactive >/dev/null)
    grep '^encryptionsalt:' "$tmp/Pulumi.$STACK.yaml" >"$STACK_DIR/salt"
    rm -rf "$tmp"
  fi
  [[ -s "$STACK_DIR/salt" ]] || { echo "stack $STACK exists but $STACK_DIR/salt is missing; run: $SANDBOX_DIR/sandbox.sh --fresh" >&2; return 1; }
  sbx_config_reset
}

# The working copy back to the committed file (+ salt).
sbx_config_reset() {
  { cat "$REPO/Pulumi.$STACK.yaml"; echo; cat "$STACK_DIR/salt"; } >"$STACK_CFG"
}

# Remove the stack and its state (destroying first when it still holds resources).
sbx_stack_remove() {
  if sbx_stack_exists; then
    [[ -s "$STACK_DIR/salt" ]] && sbx_config_reset
    sbx_pulumi destroy --yes --skip-preview --continue-on-error >/dev/null 2>&1 || true
    sbx_pulumi_nocfg stack rm --yes --force --preserve-config >/dev/null 2>&1 || true
  fi
  rm -rf "$STACK_DIR"
}
