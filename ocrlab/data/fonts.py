"""Font discovery for the synthetic renderer: which font files exist and which characters each covers.

Glyph coverage is read from each font's Unicode ``cmap`` table with fontTools rather than by
rendering a character and comparing it with the ``.notdef`` box: the cmap is exact (a font either
maps a code point to a glyph or it does not, so tofu is caught even when a font's ``.notdef`` is
blank), costs one table parse per font instead of one rasterisation per (font, character), and
gives the metadata (weight, width, italic, fixed pitch) that the style tags come from. fontTools
is a dependency of matplotlib, so it is present wherever ocrlab runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import ImageFont

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
    r"signwriting|mayannumerals|indicsiyaqnumbers",
    re.IGNORECASE,
)

_SERIF_NAMES = re.compile(
    r"serif|roman|times|libertine|caladea|c059|p052|bookman|georgia|garamond|baskerville|"
    r"century|schoolbook|palatino|termes|pagella|bonum|cambria|tinos|stix|gelasio|merriweather",
    re.IGNORECASE,
)
_SANS_NAMES = re.compile(
    r"sans|gothic|grotesk|helvet|arial|roboto|lato|open ?sans|cantarell|carlito|biolinum|"
    r"heros|adventor|verdana|ubuntu|fira|inconsolata|noto sans",
    re.IGNORECASE,
)
_MONO_NAMES = re.compile(r"mono|code|courier|inconsolata|consol|typewriter|cursor", re.IGNORECASE)
_CONDENSED_NAMES = re.compile(r"condensed|narrow|\bcond\b|compressed", re.IGNORECASE)
_DISPLAY_NAMES = re.compile(
    r"display|black|heavy|ultra|poster|hairline|chancery|z003|shadow|outline|stencil|impact",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Font:
    """One font face on disk.

    ``family`` and ``style`` come from the font's name table (typographic family where present,
    so "Lato Black" is family "Lato", style "Black"). ``tags`` is a subset of
    ``{"serif", "sans", "mono", "bold", "light", "italic", "condensed", "display", "cjk"}``.
    For ``.ttc``/``.otc`` collections the face at index 0 is used.
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
        """True when every non-whitespace character of ``text`` has a glyph in this font."""
        cmap = self.codepoints()
        return all(ord(ch) in cmap for ch in text if not ch.isspace())

    def missing(self, text: str) -> list[str]:
        """The distinct non-whitespace characters of ``text`` this font has no glyph for."""
        cmap = self.codepoints()
        return sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})


@cache
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True, fontNumber=0) as tt:
        return frozenset(tt.getBestCmap() or ())


def _read_font(path: Path) -> Font | None:
    """Metadata and tags of ``path``; None when fontTools or PIL cannot read it as a font."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        ImageFont.truetype(str(path), 12)
        with TTFont(str(path), lazy=True, fontNumber=0) as tt:
            names = tt["name"]
            family = names.getDebugName(16) or names.getDebugName(1)
            style = names.getDebugName(17) or names.getDebugName(2) or "Regular"
            os2 = tt.get("OS/2")
            weight = os2.usWeightClass if os2 else 400
            width = os2.usWidthClass if os2 else 5
            panose_serif = os2.panose.bSerifStyle if os2 else 0
            panose_mono = os2.panose.bProportion == 9 if os2 else False
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
    if weight >= 600 or re.search(r"bold|black|heavy|demi", style, re.IGNORECASE):
        tags.add("bold")
    if weight <= 300 or re.search(r"light|thin|hairline", style, re.IGNORECASE):
        tags.add("light")
    if italic or re.search(r"italic|oblique", style, re.IGNORECASE):
        tags.add("italic")
    if (width and width <= 4) or _CONDENSED_NAMES.search(full):
        tags.add("condensed")
    if weight >= 800 or weight <= 200 or _DISPLAY_NAMES.search(full):
        tags.add("display")
    # OS/2 ulUnicodeRange bits are unreliable (STIX claims CJK), so ask the cmap itself:
    # hiragana "あ" and the ideograph "一".
    if 0x3042 in cmap and 0x4E00 in cmap:
        tags.add("cjk")
    return Font(path=path, family=family, style=style, tags=frozenset(tags))


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
    from ocrlab.errors import DataError

    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"font file {str(p)!r} does not exist")
    font = _read_font(p.resolve())
    if font is None:
        raise DataError(f"{str(p)!r} is not a readable text font (PIL/fontTools cannot open it)")
    return font
