#!/usr/bin/env bash
# The main job: set the machine up, build the reference firmware and run every
# shipped scenario on every known QEMU, printing a table of verdicts.
# Extra arguments go to `hvharness matrix` (e.g. --json, --qemu 10.0.2).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
bash scripts/setup.sh
cargo build --release -q -p hvharness
exec target/release/hvharness matrix scenarios/*.toml "$@"
