#!/usr/bin/env bash
# Prepare, on this machine, what benchmarks/gpu/run.sh needs on the GPU machine (which has
# PyTorch and transformers but no network and no rapidfuzz): a rapidfuzz wheel in .whl/ and the
# evaluation images in .gpu_data/ (both git-ignored through .git/info/exclude, carried by the
# device tool). Only the first 500 IIIT5K crops travel: the working tree may carry 64 MiB.
set -euo pipefail
shared=${SHARED:-../shared/data}
grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
grep -qx '/.gpu_data/' .git/info/exclude || echo /.gpu_data/ >> .git/info/exclude
rm -rf .gpu_data && mkdir -p .gpu_data/iiit5k_first500/images .whl
head -n 500 "$shared/iiit5k_test_cs/labels_alnum_lower.tsv" > .gpu_data/iiit5k_first500/labels.tsv
cut -f1 .gpu_data/iiit5k_first500/labels.tsv | while read -r rel; do
  cp "$shared/iiit5k_test_cs/$rel" ".gpu_data/iiit5k_first500/$rel"
done
cp -r "$shared/uw3_printed_lines" .gpu_data/uw3_printed_lines
version=$(python -c "from importlib.metadata import version; print(version('rapidfuzz'))")
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "rapidfuzz==$version"
du -sh .gpu_data .whl
