#!/usr/bin/env bash
# Checks that `cargo nextest run --partition count:K/N`, K = 1..N, together run
# every test exactly once: it runs each partition (profile ci, which writes
# JUnit), reads the test cases each one ran from its JUnit file, and compares
# their union with `cargo nextest list`. Test failures do not matter here,
# only which tests ran.
#
#   scripts/nextest-partitions.sh [N] [nextest filters...]
#   scripts/nextest-partitions.sh 2 --test matrix       # the QEMU matrix only
#   scripts/nextest-partitions.sh 2                     # the whole suite
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

n=${1:-2}
shift || true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if ! cargo nextest list "$@" -T oneline >"$out/listed" 2>"$out/list.log"; then
  echo "nextest-partitions: cargo nextest list failed:" >&2
  tail -20 "$out/list.log" >&2
  exit 2
fi
sort "$out/listed" >"$out/all"
[ -s "$out/all" ] || { echo "nextest-partitions: no tests listed for: $*" >&2; exit 2; }

for k in $(seq 1 "$n"); do
  status=0
  cargo nextest run --profile ci --no-fail-fast --partition "count:$k/$n" "$@" >"$out/run-$k.log" 2>&1 || status=$?
  # 100: some tests failed; they still ran.
  if [ "$status" -ne 0 ] && [ "$status" -ne 100 ]; then
    echo "nextest-partitions: partition $k/$n: cargo nextest exited $status" >&2
    tail -20 "$out/run-$k.log" >&2
    exit 2
  fi
  python3 - "target/nextest/ci/junit.xml" >"$out/ran-$k" <<'PY'
import sys, xml.etree.ElementTree as ET
for suite in ET.parse(sys.argv[1]).getroot().iter("testsuite"):
    for case in suite.iter("testcase"):
        print(f"{suite.get('name')} {case.get('name')}")
PY
  sort -o "$out/ran-$k" "$out/ran-$k"
  echo "partition $k/$n: $(wc -l <"$out/ran-$k") tests ran"
done

sort "$out"/ran-* >"$out/union"
dups=$(uniq -d "$out/union")
missing=$(comm -23 "$out/all" <(sort -u "$out/union"))
extra=$(comm -13 "$out/all" <(sort -u "$out/union"))
echo "listed: $(wc -l <"$out/all"), ran in all partitions: $(wc -l <"$out/union")"
if [ -n "$dups" ] || [ -n "$missing" ] || [ -n "$extra" ]; then
  [ -z "$dups" ] || printf 'ran twice:\n%s\n' "$dups"
  [ -z "$missing" ] || printf 'never ran:\n%s\n' "$missing"
  [ -z "$extra" ] || printf 'ran but not listed:\n%s\n' "$extra"
  exit 1
fi
echo "every test ran exactly once"
