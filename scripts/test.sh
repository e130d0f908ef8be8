#!/usr/bin/env bash
# Formatting and lints first, then every test: unit tests, protocol tests against fake targets, and end-to-end
# tests against real QEMU (each QEMU version a cell of its own; a version that
# is not installed is reported as skipped). Extra arguments go to cargo test.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
bash scripts/setup.sh
make -s -C hypervisor
cargo fmt --check
cargo clippy -q --workspace --all-targets -- -D warnings
cargo test --workspace "$@"
