# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Train: CTC + the Q-Former's LM loss, curves, evaluation
#
# One training run of the recognizer with both losses: the CTC loss on the encoder's output and
# the frozen LM's next-token loss on the ground-truth text given the Q-Former's queries. The run
# folder keeps the resolved config, a JSONL log of every loss, weight, learning rate, validation
# score and gradient diagnostic, and atomic checkpoints; this notebook trains, draws the log and
# evaluates the best checkpoint on synthetic and real data with the CTC path (the inference path).
#
# The same run from a terminal: `ocrlab train --config configs/small.yaml --out runs/NAME`.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OCRLAB_QUICK", "0") == "1"  # CI: tiny model, a few steps
CONFIG = "configs/tiny.yaml" if QUICK else "configs/small.yaml"
MAX_STEPS = 30 if QUICK else 3600
MAX_MINUTES = None if QUICK else 80  # wall-clock budget; the run ends cleanly when spent
RUN_NAME = "nb02-quick" if QUICK else "nb02-small"
RETRAIN = QUICK  # False: reuse a finished run of the same name instead of training again
EVAL_N = 64 if QUICK else 2000
REAL_DATA = "../../shared/data"

# %%
import shutil
from pathlib import Path

import yaml

from ocrlab.charset import Charset
from ocrlab.config import to_dict
from ocrlab.data.specs import open_dataset
from ocrlab.evaluation import evaluate
from ocrlab.models import OCRModel
from ocrlab.run_config import load_run_config
from ocrlab.train import train
from ocrlab.viz import training_curves

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
run_dir = ROOT / "runs" / RUN_NAME

# %% [markdown]
# ## The configuration
#
# A preset plus dotted overrides, exactly like `--set` on the command line. The loss weights are
# schedules (`constant`, `step`, `linear`, `cosine`): to raise the LM weight mid-training, set
# `loss.lm_weight={kind: step, value: 0.5, end: 1.0, start_step: 1800}`.

# %%
overrides = [
    f"model.lm.name_or_path={ROOT / 'models' / 'ocrlab-charlm'}",
    f"train.max_steps={MAX_STEPS}",
]
if MAX_MINUTES:
    overrides.append(f"train.max_minutes={MAX_MINUTES}")
config = load_run_config(ROOT / CONFIG, overrides)
print(yaml.safe_dump(to_dict(config), sort_keys=False))

# %% [markdown]
# ## Train
#
# A progress bar shows the step, CTC loss and LM loss; validation CER is printed every
# `train.eval_every` steps. An interrupted run continues with `train(config, run_dir, resume=True)`.

# %%
finished = (run_dir / "checkpoints" / "best" / "model.safetensors").is_file()
if RETRAIN or not finished:
    shutil.rmtree(run_dir, ignore_errors=True)
    result = train(config, run_dir)
    print(f"stopped at step {result.step} after {result.seconds / 60:.1f} min; "
          f"best validation CER {result.best_cer}")
else:
    print(f"reusing the finished run in {run_dir}")

# %% [markdown]
# ## Curves
#
# Each loss and its weight, the learning rate, validation CER, and the two numbers that say
# whether the LM loss still reaches the encoder: the ratio of its gradient norm to the CTC
# loss's on the encoder, and the cosine between the two gradients.

# %%
training_curves(run_dir)

# %% [markdown]
# ## Evaluate the best checkpoint (CTC path)
#
# Synthetic lines from a seed that training never used, the six real printed lines the
# repository ships (`samples/skimage_page`: a smoke test, not a benchmark), and the real dev sets
# when they are on this machine (IIIT5K with the standard case-insensitive alphanumeric protocol).

# %%
model = OCRModel.from_pretrained(run_dir / "checkpoints" / "best")
latin = Charset.preset("latin")
sets = {
    f"synth seed 7 (n={EVAL_N})": (f"synth:n={EVAL_N},seed=7", "exact"),
    "6 real page lines (repo)": (str(ROOT / "samples" / "skimage_page"), "exact"),
}
real = Path(os.path.normpath(Path.cwd() / REAL_DATA))
if (real / "uw3_printed_lines").is_dir():
    sets["UW3 printed lines"] = (str(real / "uw3_printed_lines"), "exact")
if (real / "iiit5k_test_cs").is_dir():
    sets["IIIT5K (alnum36)"] = (str(real / "iiit5k_test_cs" / "labels_alnum_lower.tsv"), "alnum36")
results = {}
for name, (spec, protocol) in sets.items():
    ds = open_dataset(spec, charset=latin, policy="replace")
    results[name] = evaluate(model, ds, protocol=protocol, limit=EVAL_N, progress=True)
    s = results[name].scores
    print(f"{name:28s} n={s.n:5d}  CER {s.cer:7.2%}  accuracy {s.accuracy:7.2%}  1-NED {s.ned:.3f}")
    assert s.n == len(results[name].predictions) > 0 and s.cer >= 0

# %% [markdown]
# ## Where it goes wrong
#
# The worst lines of the synthetic set by edit distance: the first thing to read before changing
# the data or the loss.

# %%
from ocrlab.metrics import line_errors

first = next(iter(results.values()))
errors = line_errors(first.predictions, first.references)
worst = sorted(range(len(errors)), key=lambda i: -errors[i][0])[:8]
for i in worst:
    print(f"{errors[i][0]:3d} edits  ref {first.references[i]!r}\n           got {first.predictions[i]!r}")
