#!/usr/bin/env bash
# Exits 0 when the sandbox toolchain is already built on this machine (every file that toolchain/TOOLS
# names, with its line in <toolchain>/versions, and the image roots), 1 otherwise, printing what is
# missing. Never builds anything: CI (.ci/run) uses it to decide whether to run the e2e.
set -uo pipefail
[[ "$(id -u)" == 0 ]] || { echo "sandbox toolchain: the sandbox needs root (sshd with ChrootDirectory)"; exit 1; }
exec bash "$(dirname "${BASH_SOURCE[0]}")/build-toolchain.sh" --check
