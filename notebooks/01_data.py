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
# # 01 · Data: text sources, the synthetic renderer, datasets, and the real dev sets
#
# ocrlab trains on synthetic lines only, rendered on the fly from a text source and the fonts
# installed on the machine. This notebook shows each piece: what text it draws, how it renders
# it (document print and scene-text looks, line and word crops), what the degradations do, how
# the same samples are stored as folders and LMDB, and how the real evaluation sets look next
# to them.

# %% tags=["parameters"]
# CI sets OCRLAB_QUICK=1 to run every notebook in seconds; change the values here freely.
import os

QUICK = os.environ.get("OCRLAB_QUICK", "0") == "1"
N_SHOW = 6 if QUICK else 12  # samples per contact sheet
REAL_DATA = "../../shared/data"  # the real dev sets (measuring only; never copied into the repo)

# %%
from pathlib import Path
from tempfile import TemporaryDirectory

from IPython.display import display

from ocrlab.charset import Charset
from ocrlab.data.fonts import find_fonts
from ocrlab.data.lmdb_io import write_folder, write_lmdb
from ocrlab.data.sheet import contact_sheet
from ocrlab.data.specs import open_dataset
from ocrlab.data.synth import Degradations, Renderer, SynthConfig, render_line
from ocrlab.data.text import make_text_source

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()

# %% [markdown]
# ## Text sources
#
# The built-in source draws words by frequency (`wordfreq`, frequency^0.75 so rare words show up)
# and mixes in numbers, dates, times, prices, codes, e-mail addresses and URLs. A user corpus
# works the same way (`corpus:PATH`). Item `i` of a seeded source is always the same text.

# %%
text = make_text_source("wordfreq:en", seed=1)
for i in range(N_SHOW):
    print(repr(text.sample(i)))

# %%
words = make_text_source("wordfreq:en,words_only=true", seed=1)
print([words.sample(i) for i in range(N_SHOW)])

# %% [markdown]
# ## Fonts
#
# Every font the renderer can use, found in matplotlib's DejaVu family, the system font folders
# and any folder you add. Coverage is read from each font's character map, so a font is only
# picked for a text it can draw (no tofu boxes).

# %%
fonts = find_fonts()
families = sorted({f.family for f in fonts})
print(f"{len(fonts)} font faces in {len(families)} families, e.g. {families[:8]}")
assert "DejaVu Sans" in families, "matplotlib's DejaVu fonts are always there"

# %% [markdown]
# ## The renderer: looks and crops
#
# Two looks (document print; scene text with colours, outlines, shadows, emboss and photo-like
# backgrounds) and two crops (a line with its margins; a tight word crop). `render_line` renders
# one text with any of these fixed, which makes controlled comparisons easy.

# %%
line = "Invoice 2026-11-27: $1,249.50 due"
items = []
for look in ("document", "scene"):
    for crop in ("line", "word"):
        sample = line if crop == "line" else "Invoice"
        image = render_line(sample, seed=3, look=look, crop=crop, degrade=False)
        items.append((image, f"{look} / {crop}"))
display(contact_sheet(items, cols=2, title="looks x crops (seed 3, no degradations)"))

# %% [markdown]
# ## Degradations, one at a time
#
# The default preset applies each degradation with a small probability; `degraded` turns them up.
# Here each one is forced on alone (probability 1, the rest 0) on the same clean line.

# %%
off = {f: 0.0 for f in vars(Degradations()) if f.startswith("p_")}
items = []
for name in sorted(off):
    forced = {name: 1.0}
    if name == "p_lowres_jpeg":  # JPEG while small: it needs the small image
        forced["p_lowres"] = 1.0
    only = Degradations(**{**off, **forced})
    renderer = Renderer(SynthConfig.preset("degraded", degrade=only))
    result = renderer.render("The quick brown fox 42", 5, look="document", crop="line")
    items.append((result.image, name.removeprefix("p_")))
display(contact_sheet(items, cols=3, title="each degradation alone (degraded-preset strength)"))

# %% [markdown]
# ## Presets as datasets
#
# A synthetic dataset is a spec string: `synth:n=..,seed=..,preset=clean|default|degraded|scene`.
# Nothing is stored; item `i` is rendered when asked for, identically every time.

# %%
latin = Charset.preset("latin")
for preset in ("clean", "default", "degraded", "scene"):
    ds = open_dataset(f"synth:n={N_SHOW},seed=7,preset={preset}", charset=latin)
    items = [(s.image, s.text) for s in (ds[i] for i in range(len(ds)))]
    display(contact_sheet(items, cols=3, title=f"preset={preset}"))

# %% [markdown]
# ## Folders and LMDB
#
# The same samples written as a folder with `labels.tsv` and as the STR-standard LMDB, then read
# back: the labels survive, and writes are atomic (a failed write leaves nothing half-done).

# %%
ds = open_dataset(f"synth:n={N_SHOW},seed=11", charset=latin)
pairs = [(s.image, s.text) for s in (ds[i] for i in range(len(ds)))]
with TemporaryDirectory() as tmp:
    folder, db = Path(tmp) / "lines", Path(tmp) / "lines.lmdb"
    write_folder(pairs, folder, progress=False)
    write_lmdb(pairs, db, progress=False)
    for spec in (folder, db):
        back = open_dataset(str(spec), charset=latin)
        same = [back[i].text for i in range(len(back))] == [t for _, t in pairs]
        print(f"{spec.name}: {len(back)} samples, labels identical: {same}")
        assert same and len(back) == len(pairs), f"{spec.name} did not round-trip"

# %% [markdown]
# ## Real lines
#
# Next to the synthetic samples above, real ones show what the renderer must imitate. The
# repository ships six real printed lines cut from a photographed page (`samples/skimage_page`,
# scikit-image's `page.png`, BSD-3-Clause; `SOURCE.md` says how): uneven light, 19–26 pixels
# per line, neighbours' descenders reaching in. The project's dev sets, IIIT5K (3000 cropped
# scene words) and UW3 (70 printed lines), are used for measuring only and are shown when they
# are on this machine: scene words are tight, stylized and often low-resolution; UW3 lines are
# long, clean and dense.

# %%
page = open_dataset(str(ROOT / "samples" / "skimage_page"), charset=latin)
display(contact_sheet([(s.image, s.text) for s in page], cols=1,
                      title=f"samples/skimage_page: {len(page)} real printed lines"))

# %%
real = Path(REAL_DATA)
for name in ("iiit5k_test_cs", "uw3_printed_lines"):
    if not (real / name).is_dir():
        print(f"{real / name} is not on this machine; skipped")
        continue
    ds = open_dataset(str(real / name), charset=latin, policy="replace")
    items = [(s.image, s.text) for s in (ds[i] for i in range(min(N_SHOW, len(ds))))]
    display(contact_sheet(items, cols=2 if "uw3" in name else 3, title=f"{name}: {len(ds)} images"))
