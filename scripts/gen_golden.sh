#!/usr/bin/env sh
# Regenerates tests/data/golden/corpus.jsonl: the estimator's bytes over a fixed, seeded grid of
# 2,400 command lines, then 1,200 over the features added since (LoRA, kernels, FSDP2, TP/CP/PP, ...), then 600 over those added after (encoder heads, compile, EP, FSDP1/HSDP, recipes, ...), then 400 over the latest (FSDP2 float8 all-gather, Transformer Engine FP8, T5, op-SAC over biased Linears). Run it only in a commit that changes numbers on purpose, and say why there.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null
cmake --build build --target golden -j"$(nproc)" >/dev/null
mkdir -p tests/data/golden
build/tests/golden --generate 2400 --seed 20261203 --extended 1200 --later 600 --latest 400 > tests/data/golden/corpus.jsonl
