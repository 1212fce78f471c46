"""Font discovery for the synthetic renderer: which font files exist and which characters each covers.

Glyph coverage is read from each font's Unicode ``cmap`` table with fontTools rather than by
rendering a character and comparing it with the ``.notdef`` box: the cmap is exact (a font either
maps a code point to a glyph or it does not, so tofu is caught even when a font's ``.notdef`` is
blank), costs one table parse per font instead of one rasterisation per (font, character), and
gives the metadata (weight, width, italic, fixed pitch) that the style tags come from. fontTools
is a dependency of matplotlib, so it is present wherever ocrlab runs.

One check does rasterise: a font whose lowercase letters draw capitals or small capitals (Bebas
Neue, Humor Sans, small-caps faces) maps ``a``-``z`` in its cmap, yet a lowercase label under it
would be wrong. Nine letter pairs are drawn once per font (about 1 ms) and compared by height and
shape; such a font is tagged ``"caps"`` and supports no lowercase letter.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageFont

from ocrlab.errors import DataError

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")

SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
)

# Fonts whose glyphs are not text (symbols, dingbats, emoji, TeX math extension fonts, glyph
# placeholders) or whose cmap lies about what it draws (matplotlib's BaKoMa ``cm*10`` fonts map
# ASCII code points to TeX's OT1 glyphs, e.g. "<" draws an inverted "¡").
_EXCLUDE = re.compile(
    r"symbol|dingbat|emoji|math|music|\bcm[a-z]{1,4}\d+\.ttf|lastresort|stixsiz|"
    r"stixnonuni|d050000l|biolinum.?(keyboard|_k\.)|dejavu ?s(ans|erif) ?display|ornament|"
    r"signwriting|mayannumerals|indicsiyaqnumbers|"
    # Latin faces whose letters mislead a reader or a label: TypoScript draws empty boxes for
    # most letters, okolaks' V reads as U, Isabella is near-blackletter, and DkgHandwriting's
    # strokes overshoot the line box by half an em.
    r"typoscript|okolaks|isabella|dkghandwriting|\bdkg(bd|bi|it)?\.ttf",
    re.IGNORECASE,
)

_SERIF_NAMES = re.compile(
    r"serif|roman|times|libertine|caladea|c059|p052|bookman|georgia|garamond|baskerville|"
    r"century|schoolbook|palatino|termes|pagella|bonum|cambria|tinos|stix|gelasio|merriweather|"
    r"slab|baskervald|accanthis|romande|tribun|berenis|goudy|quattrocento|old standard|prociono|"
    r"linden hill",
    re.IGNORECASE,
)
_SANS_NAMES = re.compile(
    r"sans|gothic|grotesk|helvet|arial|roboto|lato|open ?sans|cantarell|carlito|biolinum|"
    r"heros|adventor|verdana|ubuntu|fira|inconsolata|noto sans",
    re.IGNORECASE,
)
_MONO_NAMES = re.compile(r"mono|code|courier|inconsolata|consol|typewriter|cursor", re.IGNORECASE)
_CONDENSED_NAMES = re.compile(
    r"condensed|narrow|\bcond\b|compressed|bebas|yanone|osp-din|series [bc]\b", re.IGNORECASE
)
_DISPLAY_NAMES = re.compile(
    r"display|black|heavy|ultra|poster|hairline|chancery|z003|shadow|outline|stencil|impact|"
    r"bebas|staypuft|leckerli|lobster|bajaderka|tomson|because we|radis|summersby",
    re.IGNORECASE,
)
# Faces that imitate handwriting or brush lettering (PANOSE family 3 is "Latin Hand Written",
# but few fonts fill PANOSE in, so names decide too).
_HANDWRITING_NAMES = re.compile(
    r"\bhand|\bscript|comic|humor|kristi|breip|rufscript|femke|leckerli|lobster|because we|"
    r"delphine|bajaderka|chancery|z003|dancing|kaushan|pecita|marker|brush|cursive",
    re.IGNORECASE,
)
# Letter pairs whose capital and lowercase shapes differ in every ordinary Latin font.
_CASE_PAIRS = "aAbBdDeEgGhHnNqQrR"


@dataclass(frozen=True)
class Font:
    """One font face on disk.

    ``family`` and ``style`` come from the font's name table (typographic family where present,
    so "Lato Black" is family "Lato", style "Black"). ``tags`` is a subset of
    ``{"serif", "sans", "mono", "bold", "light", "italic", "condensed", "display",
    "handwriting", "caps", "cjk"}``; ``"caps"`` marks a face whose lowercase letters draw
    capitals or small capitals. For ``.ttc``/``.otc`` collections the face at index 0 is used.
    """

    path: Path
    family: str
    style: str
    tags: frozenset[str]

    @property
    def name(self) -> str:
        """``"Family Style"``, for messages and sample sheets."""
        return f"{self.family} {self.style}"

    def codepoints(self) -> frozenset[int]:
        """Every code point the font's cmap maps to a glyph (read once per file, then cached)."""
        return _cmap(str(self.path))

    def supports(self, text: str) -> bool:
        """True when every non-whitespace character of ``text`` has a glyph in this font (a
        ``"caps"`` face has none for lowercase letters: it would draw them as capitals)."""
        return not self.missing(text)

    def missing(self, text: str) -> list[str]:
        """The distinct non-whitespace characters of ``text`` this font has no glyph for."""
        cmap = self.codepoints()
        caps = "caps" in self.tags
        return sorted(
            {
                ch
                for ch in text
                if not ch.isspace() and (ord(ch) not in cmap or (caps and ch.islower()))
            }
        )


@cache
def _cmap(path: str) -> frozenset[int]:
    with TTFont(path, lazy=True, fontNumber=0) as tt:
        return frozenset(tt.getBestCmap() or ())


def _read_font(path: Path) -> Font | None:
    """Metadata and tags of ``path``; None when fontTools or PIL cannot read it as a font."""
    try:
        pil = ImageFont.truetype(str(path), 32)
        with TTFont(str(path), lazy=True, fontNumber=0) as tt:
            names = tt["name"]
            family = names.getDebugName(16) or names.getDebugName(1)
            style = names.getDebugName(17) or names.getDebugName(2) or "Regular"
            os2 = tt.get("OS/2")
            weight = os2.usWeightClass if os2 else 400
            width = os2.usWidthClass if os2 else 5
            panose_serif = os2.panose.bSerifStyle if os2 else 0
            panose_mono = os2.panose.bProportion == 9 if os2 else False
            panose_hand = os2.panose.bFamilyType == 3 if os2 else False
            italic = bool(os2 and os2.fsSelection & 1)
            post = tt.get("post")
            italic = italic or bool(post and post.italicAngle)
            mono = panose_mono or bool(post and post.isFixedPitch)
    except (OSError, TTLibError, KeyError, AttributeError, AssertionError, ValueError, TypeError):
        return None
    if not family:
        return None
    full = f"{family} {style} {path.name}"
    if _EXCLUDE.search(full):
        return None
    try:
        cmap = _cmap(str(path))
    except (OSError, TTLibError, KeyError, AttributeError, AssertionError, ValueError, TypeError):
        return None
    if not cmap:
        return None

    tags: set[str] = set()
    mono = mono or bool(_MONO_NAMES.search(full))
    if mono:
        tags.add("mono")
    if _SERIF_NAMES.search(family) and not re.search(r"sans", family, re.IGNORECASE):
        tags.add("serif")
    elif _SANS_NAMES.search(family):
        tags.add("sans")
    elif 2 <= panose_serif <= 10:
        tags.add("serif")
    elif panose_serif in (11, 12, 13, 15):
        tags.add("sans")
    bold_name = re.search(r"bold|black|heavy|demi", style, re.IGNORECASE)
    light_name = re.search(r"light|thin|hairline", style, re.IGNORECASE)
    # A style name outranks a contradicting OS/2 weight (Sora Bold claims weight 160).
    if bold_name or (weight >= 600 and not light_name):
        tags.add("bold")
    if light_name or (weight <= 300 and not bold_name):
        tags.add("light")
    if italic or re.search(r"italic|oblique", style, re.IGNORECASE):
        tags.add("italic")
    if (width and width <= 4) or _CONDENSED_NAMES.search(full):
        tags.add("condensed")
    if (weight >= 800 and not light_name) or (weight <= 200 and not bold_name):
        tags.add("display")
    if _DISPLAY_NAMES.search(full):
        tags.add("display")
    if panose_hand or _HANDWRITING_NAMES.search(full):
        tags.add("handwriting")
    if all(ord(c) in cmap for c in _CASE_PAIRS):
        try:
            if _draws_capitals(pil):
                tags.add("caps")
        except (OSError, ValueError):  # a glyph FreeType cannot render: judged by the cmap
            pass
    # OS/2 ulUnicodeRange bits are unreliable (STIX claims CJK), so ask the cmap itself:
    # hiragana "あ" and the ideograph "一".
    if 0x3042 in cmap and 0x4E00 in cmap:
        tags.add("cjk")
    return Font(path=path, family=family, style=style, tags=frozenset(tags))


def _draws_capitals(pil: ImageFont.FreeTypeFont) -> bool:
    """True when the lowercase letters of ``_CASE_PAIRS`` are capitals or small capitals.

    Two signs, measured on this machine's 703 faces: all-caps faces draw "a e n r" as tall as
    "A E N R" (height ratio >= 0.95; ordinary faces 0.48-0.83), and small-caps faces draw each
    lowercase letter with its capital's shape (median correlation of the two glyphs scaled to
    24 x 24 >= 0.7; ordinary faces <= 0.55)."""
    glyphs = {}
    for ch in _CASE_PAIRS:
        mask = pil.getmask(ch, mode="L")
        img = Image.frombytes("L", mask.size, bytes(mask)) if 0 not in mask.size else None
        bbox = img.getbbox() if img is not None else None
        if bbox is None:
            return False
        glyph = np.asarray(img.crop(bbox).resize((24, 24), Image.BILINEAR), np.float32)
        glyphs[ch] = (bbox[3] - bbox[1], glyph - glyph.mean())
    corr = []
    for lo, up in zip(_CASE_PAIRS[::2], _CASE_PAIRS[1::2], strict=True):
        a, b = glyphs[lo][1], glyphs[up][1]
        corr.append(float((a * b).sum()) / max(1e-6, math.sqrt((a * a).sum() * (b * b).sum())))
    ratio = np.median([glyphs[c][0] for c in "aenr"]) / np.median([glyphs[c][0] for c in "AENR"])
    return bool(np.median(corr) >= 0.7 or ratio >= 0.95)


def _font_files(dirs: Sequence[Path]) -> list[Path]:
    files: set[Path] = set()
    for d in dirs:
        if not d.is_dir():
            continue
        for root, _, names in os.walk(d, followlinks=True):
            for n in names:
                if n.lower().endswith(FONT_SUFFIXES):
                    files.add(Path(root, n).resolve())
    return sorted(files)


def _matplotlib_font_dir() -> Path | None:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        return None
    return Path(matplotlib.get_data_path(), "fonts", "ttf")


@lru_cache(maxsize=16)
def _find_fonts_cached(extra: tuple[Path, ...], include_system: bool) -> tuple[Font, ...]:
    dirs: list[Path] = []
    mpl = _matplotlib_font_dir()
    if mpl is not None:
        dirs.append(mpl)
    if include_system:
        dirs.extend(Path(d).expanduser() for d in SYSTEM_FONT_DIRS)
    dirs.extend(extra)
    fonts: dict[tuple[str, str], Font] = {}
    for path in _font_files(dirs):
        font = _read_font(path)
        # The same face is often installed twice (matplotlib's DejaVu and the system's): keep the
        # first path in sorted order so the list, and with it every render, is reproducible.
        if font is not None and (font.family, font.style) not in fonts:
            fonts[(font.family, font.style)] = font
    return tuple(sorted(fonts.values(), key=lambda f: (f.family, f.style, str(f.path))))


def find_fonts(extra_dirs: Sequence[str | Path] = (), include_system: bool = True) -> list[Font]:
    """All usable text fonts, sorted by (family, style, path); the scan is cached per arguments.

    Looks in matplotlib's bundled font folder (DejaVu, always present), the system folders in
    ``SYSTEM_FONT_DIRS`` when ``include_system``, and ``extra_dirs`` (searched recursively for
    ``.ttf .otf .ttc .otc``). Files that PIL or fontTools cannot open are skipped, as are symbol,
    dingbat, emoji and math fonts. A face installed twice is listed once.
    """
    extra = tuple(Path(d).expanduser().resolve() for d in extra_dirs)
    return list(_find_fonts_cached(extra, include_system))


def font_from_file(path: str | Path) -> Font:
    """A ``Font`` for one file (e.g. a user's font outside the searched folders).

    Raises ``DataError`` naming the file when it is missing or not a readable font.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"font file {str(p)!r} does not exist")
    font = _read_font(p.resolve())
    if font is None:
        raise DataError(f"{str(p)!r} is not a readable text font (PIL/fontTools cannot open it)")
    return font
