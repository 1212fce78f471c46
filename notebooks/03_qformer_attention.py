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
# # 03 · What do the Q-Former's queries look at?
#
# The question on the group's slides: *what is the feature of the first character?* Each of the
# learnable queries cross-attends to the positions of one encoder stage. Here we read those
# cross-attention maps for a line, put them over the image, compare them with where the CTC head
# places each character, and ask whether the queries specialize (each reads its own region or
# character) or collapse (all read the same thing).

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OCRLAB_QUICK", "0") == "1"  # CI: a tiny model trained for a few steps
CHECKPOINT = None  # None: the bundled default model (QUICK: the tiny run trained below)
SNAPSHOT_RUN = "runs/nb03-snapshots"  # built below when missing (about 6 min on 2 CPU cores)
RUN_DIR = SNAPSHOT_RUN  # a run with step-N snapshots, for the maps over training
TEXT = "Hello World 2026"  # a synthetic line rendered with known character positions
N_READ = 200  # scene words for the reading diagnostics and the first-character survey
REAL_DATA = "../../shared/data"

# %%
from pathlib import Path

import plotly.express as px
from IPython.display import display

from ocrlab.data.image import load_image
from ocrlab.data.specs import open_dataset
from ocrlab.data.synth import default_renderer
from ocrlab.errors import OcrlabError
from ocrlab.models import DEFAULT_CHECKPOINT, OCRModel
from ocrlab.reading import first_character_survey, reading_diagnostics
from ocrlab.run_config import load_run_config
from ocrlab.train import train
from ocrlab.viz import (
    attention_grid,
    attention_matrix,
    attention_over_training,
    attention_overlay,
    correspondence_figure,
    model_figure,
    query_attention,
    query_stats_figure,
)

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
run_dir = ROOT / RUN_DIR
if QUICK:  # a tiny model with snapshots every few steps, so every view below has data
    run_dir = ROOT / "runs" / "nb03-quick"
    config = load_run_config(ROOT / "configs" / "tiny.yaml", [
        f"model.lm.name_or_path={ROOT / 'models' / 'ocrlab-charlm'}", "train.max_steps=12",
        "train.save_every=4", "train.eval_every=100"])
    if not (run_dir / "checkpoints" / "last").exists():
        train(config, run_dir, progress=False)
    CHECKPOINT = run_dir / "checkpoints" / "last"
    N_READ = 16
model = OCRModel.from_pretrained(CHECKPOINT or DEFAULT_CHECKPOINT)
print(f"checkpoint: {CHECKPOINT or DEFAULT_CHECKPOINT}")

# %% [markdown]
# ## The model, drawn from its config
#
# Real shapes for a 128-pixel-wide crop; colours say what is trained, what is frozen, and what
# is dropped at inference (everything after the encoder on the Q-Former side).

# %%
model_figure(model.config)

# %% [markdown]
# ## One line, all queries
#
# `query_attention` runs the model once with attention maps on and keeps the maps over the real
# positions of the Q-Former's source stage, each position's x-centre in the image's pixels, and
# the CTC reading with each character's frame span.

# %%
rendered = default_renderer().render(TEXT, seed=3, look="document", degrade=False)
image = rendered.image  # the renderer also knows each glyph's box: rendered.char_boxes
qa = query_attention(model, image)
print(f"read {qa.text!r}; {qa.maps.shape[2]} queries over {qa.maps.shape[3]} positions "
      f"of stage {qa.stage!r} (stride {qa.stride} px)")
assert qa.maps.shape[2] == model.config.qformer.num_queries
assert (qa.maps.sum(-1) - 1).abs().max() < 1e-4, "each query's map is a distribution"
attention_overlay(qa)

# %%
attention_grid(qa)

# %% [markdown]
# ## Queries × positions, with the CTC characters
#
# Each row is a query's distribution over the line; the character labels along the bottom are
# where the CTC head emits each character. A query that reads a character has its mass inside that
# character's span.

# %%
attention_matrix(qa)

# %%
correspondence_figure(qa)

# %%
print("\n".join(qa.summary()))

# %% [markdown]
# ## Specialize or collapse?
#
# Entropy per query (low: a sharp, local read; high: spread over the line), how similar the
# queries' maps are to each other, and how much of the line some query covers.

# %%
stats = qa.stats()
print(stats.verdict, "-", stats.reason)
query_stats_figure(qa)

# %% [markdown]
# ## Does the branch read at all?
#
# Attention maps are worth reading only if the queries carry the text. `reading_diagnostics`
# measures it the way training logs it: the LM-decoding path's CER, how many nats per character
# the queries tell the frozen LM (its loss with a zero prompt minus with the queries), the last
# layer's mean pairwise cosine (1 = collapsed) and the share of characters holding a query's
# attention peak. `ocrlab-small-v2`, the previous default, read at 269% CER with a cosine of
# 1.00; the card of the shipped model gives its numbers on 500 words and lines.

# %%
words = open_dataset(f"synth:n={N_READ},seed=12,preset=scene")
reading = reading_diagnostics(model, [words[i] for i in range(len(words))])
print(reading.summary())
for ref, lm_text in reading.examples[:8]:
    print(f"{ref!r:>28} -> the LM reads {lm_text!r}")
assert reading.lines == N_READ and reading.lm_loss_zero_prompt > 0

# %% [markdown]
# ## What is the feature of the first character?
#
# Which queries put their attention on character 0, in which layer, how sharply, and where: the
# top query's peak against the CTC span of the character and against its glyph box from the
# renderer. BiLSTM CTC models often fire the first character at frame 0, left of its glyph;
# `ctc_first_frame` says whether that spike is there. First for the line above, then over
# `N_READ` scene words.

# %%
if qa.text:
    print(qa.character(0, glyph_box=rendered.char_boxes[0]))
try:
    survey = first_character_survey(model, [words.render(i) for i in range(len(words))])
except OcrlabError as exc:  # a model that reads no first character yet (QUICK's tiny run)
    survey = None
    print(exc)
if survey is not None:
    print(survey.summary())
    print("strongest cross-attention layer:", [f"{s:.0%}" for s in survey.layer_share])
    display(px.histogram(
        x=[c.peak_px - c.glyph_px[0] for c in survey.readings], nbins=30,
        labels={"x": "top query's peak minus the glyph's left edge (original px)"},
        title="Where the first character's strongest query looks, relative to its glyph"))

# %% [markdown]
# ## Through the layers: rollout
#
# Cross-attention of the last layer alone ignores what the queries passed to each other in
# self-attention. The rollout combines the layers (with the queries' self-attention, identity for
# the residual path, rows renormalized); carrying rollout through cross-attention is ocrlab's own
# construction, not the BLIP-2 paper's — read it as a summary, not as ground truth.

# %%
px.imshow(qa.rollout().numpy(), aspect="auto", color_continuous_scale="Viridis",
          labels={"x": "position", "y": "query", "color": "rollout"},
          title="Rollout over layers (queries × positions)")

# %% [markdown]
# ## A real line
#
# The same views on a real printed line: one of the six lines of a photographed page that the
# repository ships (`samples/skimage_page`, BSD-3-Clause; its `SOURCE.md` says where from), and
# the first UW3 line when the real dev sets are on this machine.

# %%
real_lines = [ROOT / "samples" / "skimage_page" / "images" / "page_line1.png"]
uw3 = Path(os.path.normpath(Path.cwd() / REAL_DATA)) / "uw3_printed_lines" / "images"
if uw3.is_dir():
    real_lines.append(sorted(uw3.iterdir())[0])
for path in real_lines:
    qa_real = query_attention(model, load_image(path))
    print(f"{path.name}: read {qa_real.text!r}")
    display(attention_overlay(qa_real))
    print("\n".join(qa_real.summary()[:10]))

# %% [markdown]
# ## Over training
#
# The same image's maps at every snapshot a run saved (`checkpoints/step-N`): do the queries
# find their characters early, late, or never? Without a run of your own (`RUN_DIR`), the cell
# trains one the first time: a fresh Q-Former over the bundled model's frozen encoder, with
# `configs/small-v3.yaml`'s recipe in the bundled model's LM layout (`prompt_positions: shared`)
# for its first 500 steps, a snapshot every 100 (about 6 minutes on 2 CPU cores; later runs of
# the notebook reuse it).

# %%
if not (run_dir / "checkpoints").is_dir() and RUN_DIR == SNAPSHOT_RUN:
    # the one command behind it, from the repository root (BUNDLED_MODEL:
    # ocrlab.models.DEFAULT_CHECKPOINT):
    #   ocrlab train --config configs/small-v3.yaml --out runs/nb03-snapshots \
    #     --set train.init_from=BUNDLED_MODEL --set train.max_steps=500 \
    #     --set train.save_every=100 --set train.eval_every=500 --set train.reading_lines=16 \
    #     --set model.lm.prompt_positions=shared
    config = load_run_config(ROOT / "configs" / "small-v3.yaml", [
        f"model.lm.name_or_path={ROOT / 'models' / 'ocrlab-charlm'}",
        "model.lm.prompt_positions=shared",
        f"train.init_from={DEFAULT_CHECKPOINT}", "train.max_steps=500",
        "train.save_every=100", "train.eval_every=500", "train.reading_lines=16"])
    train(config, run_dir)
if (run_dir / "checkpoints").is_dir():
    display(attention_over_training(run_dir, image))
else:
    print(f"{run_dir} has no checkpoints; set RUN_DIR to a run with snapshots (notebook 02)")
