"""load_image: every image mode becomes RGB; every bad file is a DataError naming it."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ocrlab.data.image import load_image
from ocrlab.data.transforms import LineTransform
from ocrlab.errors import DataError


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _save(tmp_path, img: Image.Image, name: str, **kw) -> str:
    path = tmp_path / name
    img.save(path, **kw)
    return str(path)


def _line(w: int = 40, h: int = 16) -> Image.Image:
    """White background, a black bar in the middle: easy to check after conversions."""
    a = np.full((h, w, 3), 255, np.uint8)
    a[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 0
    return Image.fromarray(a)


# --- good inputs ----------------------------------------------------------------------------


def test_rgb_file_round_trip(tmp_path):
    img = _line()
    out = load_image(_save(tmp_path, img, "a.png"))
    assert out.mode == "RGB" and out.size == img.size
    assert np.array_equal(np.asarray(out), np.asarray(img))


def test_path_object_bytes_and_pil_inputs(tmp_path):
    img = _line()
    path = tmp_path / "a.png"
    img.save(path)
    for src in (path, path.read_bytes(), bytearray(path.read_bytes()), Image.open(path)):
        out = load_image(src)
        assert out.mode == "RGB"
        assert np.array_equal(np.asarray(out), np.asarray(img))


def test_16bit_png(tmp_path):
    a = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    img = Image.fromarray(a)
    assert img.mode == "I;16"
    out = load_image(_save(tmp_path, img, "a16.png"))
    assert out.mode == "RGB"
    assert np.asarray(out)[0, :, 0].tolist() == [0, 128, 255]


def test_32bit_integer_mode_i():
    img = Image.fromarray(np.array([[0, 300, 65535]], dtype=np.int32), mode="I")
    assert img.mode == "I"
    assert np.asarray(load_image(img))[0, :, 1].tolist() == [0, 1, 255]


def test_float_mode_f(tmp_path):
    img = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    out = load_image(_save(tmp_path, img, "f.tif"))
    assert np.asarray(out)[0, :, 2].tolist() == [0, 128, 255]


def test_rgba_composited_on_white(tmp_path):
    a = np.zeros((2, 2, 4), np.uint8)
    a[0, 0] = (0, 0, 0, 255)  # opaque black
    a[0, 1] = (0, 0, 0, 0)  # fully transparent black -> white
    a[1, :] = (0, 0, 0, 128)  # half transparent black -> mid grey
    out = np.asarray(load_image(_save(tmp_path, Image.fromarray(a, "RGBA"), "rgba.png")))
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert 120 <= out[1, 0, 0] <= 135


def test_la_mode(tmp_path):
    a = np.array([[[0, 255], [0, 0]]], np.uint8)  # (1, 2, 2): black opaque, black transparent
    out = np.asarray(load_image(_save(tmp_path, Image.fromarray(a, "LA"), "la.png")))
    assert out[0, 0].tolist() == [0, 0, 0] and out[0, 1].tolist() == [255, 255, 255]


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = 0  # index 0 (black) is transparent -> white
    path = _save(tmp_path, img, "p.png", transparency=0)
    assert Image.open(path).mode == "P"
    out = np.asarray(load_image(path))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [255, 0, 0]


def test_palette_without_transparency(tmp_path):
    img = _line().convert("P")
    out = load_image(_save(tmp_path, img, "p.gif"))
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(_line()))


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (8, 8), (0, 0, 0, 255))  # full black ink
    path = _save(tmp_path, img, "cmyk.jpg")
    assert Image.open(path).mode == "CMYK"
    out = np.asarray(load_image(path))
    assert out.shape == (8, 8, 3) and out.max() < 40


def test_1bit(tmp_path):
    img = _line().convert("1")
    out = np.asarray(load_image(_save(tmp_path, img, "b.png")))
    assert set(np.unique(out).tolist()) == {0, 255}


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (20, 10), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = _save(tmp_path, img, "rot.jpg", exif=exif.tobytes())
    assert load_image(path).size == (10, 20)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 255]], np.uint8), [0, 255]),
        (np.array([[[0], [255]]], np.uint8), [0, 255]),
        (np.array([[0, 65535]], np.uint16), [0, 255]),
        (np.array([[0.0, 1.0]], np.float32), [0, 255]),
        (np.array([[0.0, 255.0]], np.float64), [0, 255]),
        (np.array([[-1.0, 3.0]], np.float32), [0, 255]),
        (np.array([[False, True]]), [0, 255]),
        (np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8), [0, 255]),
        (np.array([[[0, 0, 0, 255], [0, 0, 0, 0]]], np.uint8), [0, 255]),
    ],
)
def test_numpy_arrays(array, expected):
    out = load_image(array)
    assert out.mode == "RGB" and out.size == (2, 1)
    assert np.asarray(out)[0, :, 0].tolist() == expected


def test_extreme_aspect_ratio_loads_and_transforms():
    tall = load_image(np.full((5000, 1), 255, np.uint8))
    wide = load_image(np.full((1, 5000), 255, np.uint8))
    assert tall.size == (1, 5000) and wide.size == (5000, 1)
    t = LineTransform()
    assert tuple(t(tall).shape) == (1, 32, 4)  # clamped up to `multiple`
    assert tuple(t(wide).shape) == (1, 32, 512)  # squeezed to max_width
    assert tuple(LineTransform(max_width=None)(wide).shape) == (1, 32, 160000)


# --- bad inputs: one test each -------------------------------------------------------------


def test_missing_path(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(DataError, match=r"nope\.png: image file not found"):
        load_image(path)


def test_directory_path(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_image(tmp_path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png: empty image file \(0 bytes\)"):
        load_image(path)


def test_zero_byte_bytes_named():
    with pytest.raises(DataError, match=r"shard3/key7: empty image data"):
        load_image(b"", name="shard3/key7")


def test_zero_size_image():
    with pytest.raises(DataError, match=r"<PIL image>: image has zero size \(0x0"):
        load_image(Image.new("RGB", (0, 0)))
    with pytest.raises(DataError, match=r"arr: image has zero size \(5x0"):
        load_image(np.zeros((0, 5), np.uint8), name="arr")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not pixels\n")
    with pytest.raises(DataError, match=r"notes\.png: not an image file"):
        load_image(path)


def test_corrupt_file(tmp_path):
    data = bytearray(_png_bytes(_line(200, 50)))
    data[60:-20] = bytes(len(data) - 80)  # keep the header, zero the compressed pixels
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"corrupt\.png: (truncated or corrupt|cannot open)"):
        load_image(path)


def test_truncated_png(tmp_path):
    data = _png_bytes(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    )
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.png: truncated or corrupt"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(buf, format="JPEG")
    data = buf.getvalue()
    with pytest.raises(DataError, match=r"cut\.jpg: truncated or corrupt"):
        load_image(data[: len(data) // 2], name="cut.jpg")


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` pixels but holds no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_decompression_bomb_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_claiming(100_000, 100_000))
    with pytest.raises(DataError, match=r"bomb\.png: image too large"):
        load_image(path)


@pytest.mark.parametrize("side", [12, 30])  # 144 px: PIL only warns; 900 px: PIL raises
def test_decompression_bomb_small_limit(tmp_path, monkeypatch, side):
    path = _save(tmp_path, Image.new("RGB", (side, side), "white"), "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DataError, match=r"big\.png: image too large"):
        load_image(path)


def test_bad_array_shape():
    with pytest.raises(DataError, match=r"<array>: array of shape \(2, 2, 2\) is not an image"):
        load_image(np.zeros((2, 2, 2), np.uint8))


def test_nan_float_array():
    with pytest.raises(DataError, match="NaN"):
        load_image(np.array([[np.nan, 1.0]], np.float32))


def test_unsupported_type():
    with pytest.raises(TypeError, match="load_image"):
        load_image(12345)  # type: ignore[arg-type]
