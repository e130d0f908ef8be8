#!/usr/bin/env bash
# Formatting and lints first, then every test: unit tests, protocol tests against fake targets, and end-to-end
# tests against real QEMU (each QEMU version a cell of its own). A version that
# is not installed fails the tests that need it (HVHARNESS_REQUIRE_QEMU=1): a
# machine without the matrix's QEMUs cannot pass by skipping them. Extra
# arguments go to cargo test.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
bash scripts/setup.sh
make -s -C hypervisor
cargo fmt --check
cargo clippy -q --workspace --all-targets -- -D warnings
# The crate's own docs, private items too: a broken link or stray tag fails.
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps --document-private-items -p hvharness
HVHARNESS_REQUIRE_QEMU=1 cargo test --workspace "$@"
