#!/usr/bin/env bash
# Seeds fuzz/corpus/TARGET from the examples and the tests' fixtures (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in parse check fmt import manifests; do mkdir -p "fuzz/corpus/$t"; done
i=0
for f in examples/*/*.netpol tests/diagnostics/*.netpol stdlib/*.netpol; do
  [ -f "$f" ] || continue
  i=$((i + 1))
  for t in parse check fmt; do cp "$f" "fuzz/corpus/$t/seed-$i.netpol"; done
done
for f in examples/*/k8s/*.yaml tests/diagnostics/k8s/*.yaml; do
  [ -f "$f" ] || continue
  i=$((i + 1))
  cp "$f" "fuzz/corpus/manifests/seed-$i.yaml"
done
# Programs with their manifests (`===` splits them for the `check` target).
for d in examples/*/; do
  p=$(ls "$d"*.netpol 2>/dev/null | head -1) || continue
  [ -n "$p" ] || continue
  i=$((i + 1))
  { cat "$p"; printf '\n===\n'; cat "$d"k8s/*.yaml 2>/dev/null || true; } > "fuzz/corpus/check/seed-$i.txt"
done
# Compiled examples as import input.
for d in examples/*/; do
  i=$((i + 1))
  target/release/netpol compile "$d" > "fuzz/corpus/import/seed-$i.yaml" 2>/dev/null \
    || cargo run -q --release -- compile "$d" > "fuzz/corpus/import/seed-$i.yaml" 2>/dev/null || true
done
ls fuzz/corpus/* | head -0
echo "seeded: $(find fuzz/corpus -type f | wc -l) files"
