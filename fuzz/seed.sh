#!/usr/bin/env bash
# Seeds fuzz/corpus/TARGET from the examples, the stdlib, the tests' fixtures, the upstream
# YAML in ../shared/reference and the regression inputs (docs/fuzzing.md). The corpus is not
# committed (fuzz/.gitignore); only fuzz/regressions/ is.
# The import seeds include each example compiled by `netpol` when a binary is at hand
# (NETPOL_BIN, else target/debug/netpol or target/release/netpol); nothing is built here.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in parse check fmt import manifests; do mkdir -p "fuzz/corpus/$t"; done
i=0
seed() { # seed TARGET FILE EXT
  i=$((i + 1))
  cp "$2" "fuzz/corpus/$1/seed-$i.$3"
}
for f in examples/*/*.netpol examples/*/*/*.netpol tests/diagnostics/*.netpol stdlib/*.netpol stdlib/*/*.netpol; do
  [ -f "$f" ] || continue
  for t in parse check fmt; do seed "$t" "$f" netpol; done
done
for f in examples/*/k8s/*.yaml examples/*/*/k8s/*.yaml tests/diagnostics/k8s/*.yaml ../shared/reference/*/*.yaml ../shared/reference/*/*/*.yaml; do
  [ -f "$f" ] || continue
  seed manifests "$f" yaml
  seed import "$f" yaml
done
# Programs with their manifests (`===` splits them for the `check` target).
for d in examples/*/; do
  for p in "$d"*.netpol; do
    [ -f "$p" ] || continue
    i=$((i + 1))
    { cat "$p"; printf '\n===\n'; cat "$d"k8s/*.yaml 2>/dev/null || true; } > "fuzz/corpus/check/seed-$i.txt"
  done
done
# Compiled examples as import input.
bin=${NETPOL_BIN:-}
for b in target/debug/netpol target/release/netpol; do
  [ -n "$bin" ] || { [ -x "$b" ] && bin=$b; } || true
done
if [ -n "$bin" ]; then
  for d in examples/*/; do
    i=$((i + 1))
    "$bin" compile "$d" > "fuzz/corpus/import/seed-$i.yaml" 2>/dev/null || rm -f "fuzz/corpus/import/seed-$i.yaml"
  done
else
  echo "no netpol binary: the import corpus has no compiled examples" >&2
fi
# Every regression input seeds its own target.
for t in parse check fmt import manifests; do
  for f in fuzz/regressions/"$t"/*; do
    [ -f "$f" ] || continue
    i=$((i + 1))
    cp "$f" "fuzz/corpus/$t/regression-$i"
  done
done
for t in parse check fmt import manifests; do
  echo "$t: $(find "fuzz/corpus/$t" -type f | wc -l) seeds"
done
