"""Contact sheets: a grid of line images with their labels, for looking at a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from .fonts import find_fonts

LABEL_SIZE = 15


@lru_cache(maxsize=64)
def _label_font(text: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font that can draw ``text`` (DejaVu first; a CJK face for Japanese labels)."""
    fonts = find_fonts()
    preferred = [f for f in fonts if f.family.startswith("DejaVu Sans") and f.style == "Book"]
    for font in [*preferred, *fonts]:
        if font.supports(text):
            return ImageFont.truetype(str(font.path), LABEL_SIZE)
    return ImageFont.load_default(LABEL_SIZE)


def contact_sheet(
    items: Sequence[tuple[Image.Image, str]],
    *,
    cols: int = 3,
    cell_width: int = 360,
    image_height: int = 48,
    title: str | None = None,
) -> Image.Image:
    """Lay out ``(image, label)`` pairs in a grid; each image is scaled to ``image_height``
    pixels (aspect kept, width capped at ``cell_width``) with its label in a line below it.
    The label is drawn with ``repr``-like quoting so leading/trailing spaces stay visible."""
    if not items:
        raise ValueError("contact_sheet needs at least one (image, label) pair")
    pad, label_h = 8, LABEL_SIZE + 6
    title_h = 28 if title else 0
    rows = (len(items) + cols - 1) // cols
    cell_h = image_height + label_h + pad
    sheet = Image.new(
        "RGB", (cols * (cell_width + pad) + pad, title_h + rows * cell_h + pad), "white"
    )
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 6), title, fill=(20, 20, 20), font=_label_font(title))
    for n, (image, label) in enumerate(items):
        row, col = divmod(n, cols)
        x, y = pad + col * (cell_width + pad), title_h + pad + row * cell_h
        image = image.convert("RGB")
        w = max(1, round(image.width * image_height / max(1, image.height)))
        image = image.resize((min(w, cell_width), image_height), Image.Resampling.BILINEAR)
        sheet.paste(image, (x, y))
        draw.rectangle((x - 1, y - 1, x + image.width, y + image_height), outline=(200, 200, 200))
        shown = f"“{label}”"
        font = _label_font(shown)
        while draw.textlength(shown, font=font) > cell_width and len(shown) > 4:
            shown = shown[:-2] + "…"
        draw.text((x, y + image_height + 3), shown, fill=(30, 30, 140), font=font)
    return sheet
