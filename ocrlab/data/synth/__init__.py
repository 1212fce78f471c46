"""Synthetic text-line images: document print and scene-text-like words, with degradations.

The renderer is PIL + numpy only and built for throughput (>= 500 lines/s per process):

- text is laid out glyph by glyph from a cache of glyph masks (``ocrlab.data.layout``), which
  gives exact per-character boxes, free letter spacing, and no per-line FreeType call once the
  cache is warm;
- every geometric change (rotation, shear, perspective) is one homography applied once to the
  single-channel ink mask, cropped straight into the output window; a curved baseline is one
  piecewise-bilinear mesh warp of the same mask before it (``ocrlab.data.geometry``);
- kerning and ligatures come from the font itself (HarfBuzz via Pillow's Raqm layout, asked once
  per letter pair and cached), so the glyph-by-glyph layout keeps its speed and exact boxes;
- backgrounds are random windows of texture banks generated once per process (procedural
  natural surfaces in ``ocrlab.data.textures``);
- the document look is composed in grayscale and tinted to colour with one lookup table.

Determinism: ``Renderer.render(text, seed)`` draws every choice from
``numpy.random.default_rng(seed)``, so the same (text, seed, config, installed fonts) gives the
same pixels in any process.

The package: :mod:`.config` (what varies, and the presets), :mod:`.renderer` (text to image),
:mod:`.degrade` (what happens to the image after), :mod:`.paint` (random draws, textures,
colours), :mod:`.samples` (samples by index, as the datasets use them).
"""

from .config import BACKGROUNDS, CROPS, LOOKS, Degradations, SynthConfig
from .renderer import Renderer, RenderResult
from .samples import SyntheticSource, default_renderer, render_line, sample_text, synth_sample

__all__ = [
    "BACKGROUNDS",
    "CROPS",
    "LOOKS",
    "Degradations",
    "RenderResult",
    "Renderer",
    "SynthConfig",
    "SyntheticSource",
    "default_renderer",
    "render_line",
    "sample_text",
    "synth_sample",
]
