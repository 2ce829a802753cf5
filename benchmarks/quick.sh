#!/usr/bin/env bash
# CI's performance gate: every benchmark's --quick mode. Each exits non-zero when a figure falls below its
# floor (set well under the measured values in benchmarks/README.md); this exits non-zero if any did, after
# running them all so one failure does not hide another. About 3 minutes on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
failed=()
for bench in bench_store bench_scoring bench_mirror bench_start; do
  echo "== $bench --quick"
  start=$SECONDS
  "$PYTHON" "benchmarks/$bench.py" --quick || failed+=("$bench")
  echo "== $bench: $((SECONDS - start)) s"
done
if ((${#failed[@]})); then
  echo "benchmarks below their floors: ${failed[*]}"
  exit 1
fi
echo "all benchmark floors held"
