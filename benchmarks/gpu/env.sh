# Sourced by the GPU scripts (run.sh, train_qformer.sh, train_recipe.sh): installs the wheels that
# benchmarks/gpu/prepare.sh put in .whl/ (NO_WHEELS=1 skips them: a dry run here) and makes the
# working tree's ocrlab importable. TQDM_MININTERVAL: seconds between progress lines (default 30).
if [ -z "${NO_WHEELS:-}" ] && ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/ocrlab-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/ocrlab-site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-30}
