#!/usr/bin/env bash
# Regenerates docs/accuracy.md from tests/data/measured/*.json (run after adding records).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null
cmake --build build -j2 --target accuracy_report >/dev/null
./build/tests/accuracy_report tests/data/measured > docs/accuracy.md
echo "wrote docs/accuracy.md"
