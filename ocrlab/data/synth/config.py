"""What the synthetic renderer varies and how much: :class:`SynthConfig` (looks, crops, fonts,
sizes, geometry, backgrounds) and :class:`Degradations` (what happens to the image after),
each with its named presets."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

LOOKS = ("document", "scene")
CROPS = ("line", "word", "mixed")
BACKGROUNDS = ("flat", "gradient", "noise", "paper", "photo", "texture")


@dataclass
class Degradations:
    """Image degradations, each applied independently with probability ``p_*``.

    Units: ``blur_sigma`` px (Gaussian std); ``noise_sigma`` grey levels (0-255);
    ``jpeg_quality`` PIL quality; ``rotate_deg`` max |angle| in degrees; ``shear`` max |tan| of
    the slant; ``perspective`` max corner displacement as a fraction of the text height;
    ``lowres_scale`` the downscale factor before scaling back up (never below a 9 px em, where
    no reader could tell the letters apart); ``p_lowres_jpeg`` the chance
    that a low-resolution image is JPEG-compressed while small (a small camera crop blown up:
    8 x 8 blocks become 8/scale px); ``occlusion_frac`` the share of the width (side occluders)
    or height (top/bottom bands) that is covered; ``contrast_range`` the factor the whole
    image's contrast is multiplied by (haze, glare, faded print), around a random brightness.
    """

    p_blur: float = 0.25
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    p_noise: float = 0.25
    noise_sigma: tuple[float, float] = (2.0, 12.0)
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (30, 90)
    p_rotate: float = 0.2
    rotate_deg: float = 3.0
    p_shear: float = 0.1
    shear: float = 0.25
    p_perspective: float = 0.1
    perspective: float = 0.15
    p_lowres: float = 0.15
    lowres_scale: tuple[float, float] = (0.4, 0.8)
    p_lowres_jpeg: float = 0.3
    p_lines: float = 0.1
    p_occlusion: float = 0.05
    occlusion_frac: tuple[float, float] = (0.05, 0.2)
    p_low_contrast: float = 0.05
    contrast_range: tuple[float, float] = (0.3, 0.6)

    #: Named presets: field values over the defaults above (filled in below the class: ``none``
    #: turns every ``p_*`` field off). :meth:`preset` builds one.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def preset(cls, name: str) -> Degradations:
        """``"none"``/``"clean"`` (all off), ``"default"``, ``"scene"`` (camera words: stronger
        rotation and perspective, small blurry JPEG crops, occlusion, low contrast), or
        ``"degraded"`` (heavy)."""
        if name not in cls.PRESETS:
            raise ValueError(
                f"unknown degradation preset {name!r}; choose {', '.join(cls.PRESETS)}"
            )
        return cls(**cls.PRESETS[name])


_NO_DEGRADATIONS = {f.name: 0.0 for f in fields(Degradations) if f.name.startswith("p_")}
Degradations.PRESETS.update(
    none=_NO_DEGRADATIONS,
    clean=_NO_DEGRADATIONS,
    default={},
    # incidental scene words (ICDAR 2015 style) are tilted, seen at an angle, small and
    # compressed far more often than printed lines
    scene=dict(
        p_blur=0.3,
        p_rotate=0.35,
        rotate_deg=10.0,
        p_shear=0.2,
        shear=0.3,
        p_perspective=0.3,
        perspective=0.3,
        p_lowres=0.3,
        lowres_scale=(0.35, 0.8),
        p_lowres_jpeg=0.5,
        p_occlusion=0.12,
        p_low_contrast=0.15,
    ),
    degraded=dict(
        p_blur=0.6,
        blur_sigma=(0.5, 2.0),
        p_noise=0.5,
        noise_sigma=(5.0, 25.0),
        p_jpeg=0.5,
        jpeg_quality=(10, 60),
        p_rotate=0.4,
        rotate_deg=5.0,
        p_shear=0.25,
        shear=0.35,
        p_perspective=0.3,
        perspective=0.25,
        p_lowres=0.4,
        lowres_scale=(0.25, 0.6),
        p_lowres_jpeg=0.5,
        p_lines=0.3,
        p_occlusion=0.3,
        occlusion_frac=(0.1, 0.3),
        p_low_contrast=0.25,
        contrast_range=(0.25, 0.5),
    ),
)


@dataclass
class SynthConfig:
    """Every knob of the renderer; probabilities are per rendered image.

    Sizes are in pixels of the rendered image (before any model-side resize): ``size_range`` is
    the font em size, drawn on a grid of ``size_step`` so glyph caches stay warm. Letter spacing
    is in em. Colours are grey levels 0-255; ``min_contrast`` is the least luminance difference
    between a scene text fill and the mean of its background.
    Background dicts map a kind in ``BACKGROUNDS`` to its relative weight ("texture": natural
    surfaces such as brick, wood, foliage, stone, sky).

    Typesetting: ``p_kerning`` uses the font's own pair kerning, ``p_ligatures`` draws ff, fi,
    fl, ffi, ffl as the font's ligature glyphs where it has them (the label keeps the plain
    letters), ``p_word_spacing`` multiplies every word gap of the line by one factor from
    ``word_spacing_range`` (justified print). ``p_curve`` (scene look) sets the text on a
    circular arc spanning ``curve_deg`` degrees, arched or sagging, flattened where a long line
    would otherwise bow by more than ``curve_max_sag`` em.
    """

    p_scene: float = 0.35
    crop: str = "mixed"
    p_word: float = 0.35
    size_range: tuple[int, int] = (22, 40)
    size_step: int = 4
    p_spacing: float = 0.25
    spacing_range: tuple[float, float] = (-0.04, 0.25)
    p_kerning: float = 0.7
    p_ligatures: float = 0.5
    p_word_spacing: float = 0.25
    word_spacing_range: tuple[float, float] = (0.75, 2.5)
    # document look: dark ink on light paper
    doc_ink: tuple[int, int] = (0, 80)
    doc_paper: tuple[int, int] = (195, 255)
    p_color_ink: float = 0.12
    doc_backgrounds: dict[str, float] = field(
        default_factory=lambda: {"flat": 0.3, "gradient": 0.15, "noise": 0.15, "paper": 0.4}
    )
    p_doc_bold: float = 0.05
    p_doc_condensed: float = 0.08
    # scene look: coloured, stylised text on textured or photo-like backgrounds
    min_contrast: int = 70
    scene_backgrounds: dict[str, float] = field(
        default_factory=lambda: {
            "flat": 0.15,
            "gradient": 0.2,
            "noise": 0.05,
            "paper": 0.05,
            "photo": 0.45,
            "texture": 0.1,
        }
    )
    p_outline: float = 0.3
    outline_width: tuple[int, int] = (1, 3)
    p_shadow: float = 0.3
    shadow_offset: tuple[int, int] = (1, 4)
    p_emboss: float = 0.1
    p_fill_gradient: float = 0.2
    p_bold: float = 0.25
    bold_width: tuple[int, int] = (1, 2)
    p_condensed: float = 0.3
    condensed_range: tuple[float, float] = (0.6, 0.92)
    display_weight: float = 3.0
    p_curve: float = 0.03
    curve_deg: tuple[float, float] = (20.0, 120.0)
    curve_max_sag: float = 1.5
    # degradations and fonts
    degrade: Degradations = field(default_factory=Degradations)
    font_dirs: tuple[str, ...] = ()
    include_system_fonts: bool = True
    font_filter: tuple[str, ...] = ()
    texture_seed: int = 0

    def __post_init__(self) -> None:
        # YAML gives lists and nested dicts; keep the types the renderer relies on.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                setattr(self, f.name, tuple(v))
        if isinstance(self.degrade, dict):
            self.degrade = Degradations(**self.degrade)
        for f in fields(self.degrade):
            v = getattr(self.degrade, f.name)
            if isinstance(v, list):
                setattr(self.degrade, f.name, tuple(v))
        if self.crop not in CROPS:
            raise ValueError(f"SynthConfig.crop must be one of {CROPS}, got {self.crop!r}")
        for name in ("doc_backgrounds", "scene_backgrounds"):
            weights = getattr(self, name)
            bad = set(weights) - set(BACKGROUNDS)
            if bad or not weights or sum(weights.values()) <= 0:
                raise ValueError(
                    f"SynthConfig.{name} needs positive weights over {BACKGROUNDS}, got {weights}"
                )
        if self.size_range[0] < 4 or self.size_range[1] < self.size_range[0]:
            raise ValueError(
                f"SynthConfig.size_range must be (min>=4, max>=min): {self.size_range}"
            )

    #: Named presets: field values over the defaults (``degrade`` names a
    #: :attr:`Degradations.PRESETS` entry), filled in below the class. :meth:`preset` builds one.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def preset(cls, name: str = "default", **overrides: Any) -> SynthConfig:
        """``"clean"`` (no degradations), ``"default"``, ``"degraded"`` (heavy degradations),
        ``"scene"`` (word crops, mostly scene look: curved words, natural textures, the
        ``"scene"`` degradations); ``overrides`` set fields on top."""
        if name not in cls.PRESETS:
            raise ValueError(
                f"unknown SynthConfig preset {name!r}; choose {', '.join(cls.PRESETS)}"
            )
        values = copy.deepcopy(cls.PRESETS[name])  # no two configs share a mutable field
        if "degrade" in values:
            values["degrade"] = Degradations.preset(values["degrade"])
        return cls(**{**values, **overrides})


SynthConfig.PRESETS.update(
    clean={"degrade": "none"},
    default={},
    degraded={"degrade": "degraded"},
    # tight crops of single words, mostly in the scene look (signage, posters, shop fronts):
    # what scene-text benchmarks such as IIIT5K show
    scene={
        "p_scene": 0.8,
        "crop": "word",
        "p_ligatures": 0.15,
        "p_curve": 0.15,
        "scene_backgrounds": {
            "flat": 0.12,
            "gradient": 0.13,
            "noise": 0.05,
            "paper": 0.05,
            "photo": 0.35,
            "texture": 0.3,
        },
        "degrade": "scene",
    },
)
