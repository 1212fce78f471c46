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
# # 04 · Attribution: which pixels make a character, and what the LM loss pulls on
#
# Attention says where a query *reads*; attribution says which input pixels *change an output*.
# Three captum methods on one character's CTC log-probability (summed over its frame span):
# Integrated Gradients, Saliency and Grad-CAM; then the LM loss's attribution to the image, and
# gradient × attention on the Q-Former's maps (as LAVIS does for BLIP-2). The last section puts
# the attention of the queries next to the attribution for the same character.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("OCRLAB_QUICK", "0") == "1"  # CI: a tiny model trained for a few steps
CHECKPOINT = None  # None: the bundled default model
TEXT = "Hello World"
CHAR = 0  # which recognized character to explain: 0 is "the first character"
IG_STEPS = 8 if QUICK else 48

# %%
from pathlib import Path

import numpy as np
from IPython.display import display

from ocrlab.data.synth import render_line
from ocrlab.models import DEFAULT_CHECKPOINT, OCRModel
from ocrlab.run_config import load_run_config
from ocrlab.train import train
from ocrlab.viz import (
    attribute_character,
    attribute_lm_loss,
    attribution_figure,
    gradient_x_attention,
    query_attention,
)

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
if QUICK:
    run_dir = ROOT / "runs" / "nb04-quick"
    config = load_run_config(ROOT / "configs" / "tiny.yaml", [
        f"model.lm.name_or_path={ROOT / 'models' / 'ocrlab-charlm'}", "train.max_steps=12",
        "train.eval_every=100"])
    if not (run_dir / "checkpoints" / "last").exists():
        train(config, run_dir, progress=False)
    CHECKPOINT = run_dir / "checkpoints" / "last"
model = OCRModel.from_pretrained(CHECKPOINT or DEFAULT_CHECKPOINT)
image = render_line(TEXT, seed=3, look="document", degrade=False)
print("read:", repr(model.recognize([image])[0].text))

# %% [markdown]
# ## One character, three methods
#
# Integrated Gradients integrates the gradient along a path from a blank (background-coloured)
# image to this one; Saliency is the plain gradient's magnitude; Grad-CAM weights an encoder
# stage's activations by their gradients (coarse, one value per position, stretched over the
# height). When they agree, the explanation is robust.

# %%
n_chars = len(model.recognize([image])[0].text)
char = min(CHAR, max(n_chars - 1, 0))
attributions = {}
if n_chars:
    for method in ("integrated_gradients", "saliency", "gradcam"):
        kw = {"n_steps": IG_STEPS} if method == "integrated_gradients" else {}
        attributions[method] = attribute_character(model, image, char, method=method, **kw)
        assert np.isfinite(np.asarray(attributions[method].map)).all(), method
        display(attribution_figure(attributions[method]))
else:
    print("the model reads nothing on this image yet: no character to explain")

# %% [markdown]
# ## The LM loss, traced back to the pixels
#
# Which parts of the image make the frozen LM's loss on the ground-truth text go down: where the
# LM signal would push the encoder. With a model whose queries do not carry the text yet, expect a
# weak, diffuse map.

# %%
lm_attr = attribute_lm_loss(model, image, TEXT, n_steps=IG_STEPS)
attribution_figure(lm_attr)

# %% [markdown]
# ## Gradient × attention on the Q-Former
#
# The LM loss's gradient with respect to each cross-attention probability, times that probability,
# kept where positive and averaged over heads: which (query, position) reads the LM actually uses.

# %%
gxa = gradient_x_attention(model, image, TEXT)
attribution_figure(gxa)

# %% [markdown]
# ## Attention vs attribution for the same character
#
# How much of the queries' attention lands on the chosen character's span, next to how much of
# the character's Integrated-Gradients attribution does: a query can attend to a character that
# the CTC output does not depend on, and vice versa.

# %%
qa = query_attention(model, image)
if qa.recognition.pixel_spans and "integrated_gradients" in attributions:
    x0, x1 = qa.recognition.pixel_spans[char]
    attn = qa.mean_heads().numpy()  # (Q, P)
    inside = (qa.centers_px.numpy() >= x0) & (qa.centers_px.numpy() < x1)
    ig = np.abs(np.asarray(attributions["integrated_gradients"].map)).sum(axis=0)  # per column
    cols = np.arange(ig.shape[0])
    ig_share = ig[(cols >= x0) & (cols < x1)].sum() / max(ig.sum(), 1e-12)
    print(f"char {char} {qa.text[char]!r}: pixels {x0:.0f}-{x1:.0f}")
    print(f"  share of Integrated-Gradients mass on its span: {ig_share:.2f}")
    for q in np.argsort(-attn[:, inside].sum(axis=1))[:4]:
        print(f"  query {q:2d}: {attn[q, inside].sum():.2f} of its attention on the span")
