"""Folder / synthetic datasets, LineTransform and collate: shapes, keys, and one test per bad input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from helpers import line_image, make_folder
from PIL import Image
from torch.utils.data import DataLoader

from ocrlab.data.datasets import ConcatDataset, FolderDataset, Sample, SyntheticLines, concat
from ocrlab.data.specs import open_dataset
from ocrlab.data.transforms import Batch, Collate, LineTransform, collate, prepare_lines
from ocrlab.errors import CharsetError, DataError, SkipSample

if importlib.util.find_spec("ocrlab.charset") is not None:
    from ocrlab.charset import Charset

    def make_charset(chars: str):
        return Charset(chars, name="test")

else:  # Part A not written yet: a stand-in with the same encode contract

    class _StandInCharset:
        def __init__(self, chars: str) -> None:
            self.chars = list(chars)
            self._ids = {c: i + 1 for i, c in enumerate(self.chars)}

        def encode(self, text, *, sample=None, policy="error", replacement=None):
            bad = sorted({c for c in text if c not in self._ids})
            if bad:
                if policy == "skip":
                    raise SkipSample(f"{sample}: skipped, characters {bad}")
                if policy == "error":
                    raise CharsetError(f"{sample}: characters not in charset: {bad}")
                text = "".join(c for c in text if c in self._ids)
            return [self._ids[c] for c in text]

    def make_charset(chars: str):
        return _StandInCharset(chars)


LOWER = "abcdefghijklmnopqrstuvwxyz "


@pytest.fixture
def folder(tmp_path):
    rows = [("img/a.png", "hello"), ("img/b.png", "world wide"), ("c.png", "abc")]
    return make_folder(tmp_path / "ds", rows)


# --- FolderDataset --------------------------------------------------------------------------


def test_folder_reads_samples(folder):
    ds = FolderDataset(folder)
    assert len(ds) == 3
    s = ds[1]
    assert isinstance(s, Sample)
    assert s.image.mode == "RGB" and s.image.size == (50, 20)
    assert (s.text, s.key) == ("world wide", "img/b.png")
    assert ds[-1].key == "c.png"
    with pytest.raises(IndexError):
        ds[3]
    assert ds.report() == "ds: 3 samples"


def test_folder_with_transform(folder):
    ds = FolderDataset(folder, transform=LineTransform(height=32))
    x = ds[0].image
    assert isinstance(x, torch.Tensor) and x.shape == (1, 32, 64)  # 40x20 -> 64x32


def test_folder_blank_comment_crlf_and_bom(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "one"), ("b.png", "two")])
    text = (root / "labels.tsv").read_text()
    crlf = "\ufeff# a comment\r\n\r\n" + text.replace("\n", "\r\n") + "\n\n  \n"
    (root / "labels.tsv").write_text(crlf, encoding="utf-8")
    ds = FolderDataset(root)
    assert [e.text for e in ds.entries] == ["one", "two"]
    assert [e.line for e in ds.entries] == [3, 4]


def test_folder_label_keeps_spaces_and_tabs_after_first(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", " two  words\tand tab")])
    assert FolderDataset(root)[0].text == " two  words\tand tab"


def test_folder_line_without_tab(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok")], extra="b.png has no tab\n")
    with pytest.raises(DataError, match=r"labels\.tsv:2: no tab"):
        FolderDataset(root)
    ds = FolderDataset(root, skip_bad=True)
    assert len(ds) == 1 and ds.skipped["malformed line"] == 1


def test_folder_missing_image_path(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok")], extra="missing/b.png\thi\n")
    with pytest.raises(DataError, match=r"labels\.tsv:2: image 'missing/b\.png' not found"):
        FolderDataset(root)
    ds = FolderDataset(root, skip_bad=True)
    assert len(ds) == 1 and ds.skipped["missing image"] == 1
    assert "skipped 1 (1 missing image)" in ds.report()


def test_folder_empty_label(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "")])
    with pytest.raises(DataError, match=r"labels\.tsv:2 \(b\.png\): empty label"):
        FolderDataset(root)
    ds = FolderDataset(root, skip_bad=True)
    assert [s.key for s in ds] == ["a.png"] and ds.skipped["empty label"] == 1


def test_folder_whitespace_label_is_empty(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "   ")])
    with pytest.raises(DataError, match="empty label"):
        FolderDataset(root)


def test_folder_out_of_charset_label_error_names_sample(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "Bad!")])
    with pytest.raises(CharsetError, match=r"labels\.tsv:2 \(b\.png\)"):
        FolderDataset(root, charset=make_charset(LOWER))


def test_folder_out_of_charset_label_skip_counts(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "Bad!"), ("c.png", "$")])
    ds = FolderDataset(root, charset=make_charset(LOWER), policy="skip")
    assert [s.key for s in ds] == ["a.png"]
    assert ds.skipped["out-of-charset label"] == 2
    assert "2 out-of-charset label" in ds.report()


def test_folder_out_of_charset_label_replace_keeps(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "bad!")])
    assert len(FolderDataset(root, charset=make_charset(LOWER), policy="replace")) == 2


def test_folder_corrupt_image(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "bad")])
    (root / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = FolderDataset(root)  # labels are fine; the image is decoded lazily
    with pytest.raises(DataError, match=r"ds/b\.png: "):
        ds[1]


def test_folder_corrupt_image_skip_bad_returns_none_and_collate_counts(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok"), ("b.png", "bad")])
    (root / "b.png").write_bytes(b"")
    ds = FolderDataset(root, skip_bad=True)
    assert ds[1] is None and ds.skipped["unreadable image"] == 1
    batch = collate([ds[0], ds[1]], make_charset(LOWER))
    assert len(batch) == 1 and batch.skipped == 1 and batch.keys == ["a.png"]


def test_folder_missing_labels_file(tmp_path):
    (tmp_path / "ds").mkdir()
    with pytest.raises(DataError, match=r"labels\.tsv: labels file not found"):
        FolderDataset(tmp_path / "ds")


def test_folder_missing_root(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        FolderDataset(tmp_path / "nope")


def test_folder_labels_not_utf8(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "ok")])
    with open(root / "labels.tsv", "ab") as f:
        f.write(b"a.png\t\xff\xfe latin-1?\n")
    with pytest.raises(DataError, match=r"labels\.tsv:2: not valid UTF-8"):
        FolderDataset(root)


def test_folder_with_nothing_usable(tmp_path):
    root = make_folder(tmp_path / "ds", [("a.png", "")])
    with pytest.raises(DataError, match=r"no usable samples .*1 empty label"):
        FolderDataset(root, skip_bad=True)


def test_folder_bad_policy(folder):
    with pytest.raises(ValueError, match="policy"):
        FolderDataset(folder, policy="ignore")


# --- LineTransform ------------------------------------------------------------------------


def test_line_transform_shape_and_values():
    a = np.full((16, 50), 255, np.uint8)
    a[:, :10] = 0
    x = LineTransform(height=32)(Image.fromarray(a))
    assert x.dtype == torch.float32 and x.shape == (1, 32, 100)
    assert x[0, :, :15].max() == pytest.approx(-1.0)  # black
    assert x[0, :, 30:].min() == pytest.approx(1.0)  # white
    assert LineTransform().pad_value == pytest.approx(1.0)


def test_line_transform_accepts_any_mode_and_arrays():
    t = LineTransform()
    rgba = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
    assert t(rgba).min() == pytest.approx(1.0)  # transparent -> white
    assert t(np.zeros((32, 8), np.uint8)).shape == (1, 32, 8)


def test_prepare_lines_sorts_by_width_and_maps_back(tmp_path):
    widths = [90, 30, 200, 60, 120]
    images = [Image.new("RGB", (w, 16), "white") for w in widths]
    path = tmp_path / "line.png"
    images[3].save(path)
    images[3] = path  # a path is read from disk like the others
    lines = prepare_lines(images, height=32, max_width=300, batch_size=2)
    assert len(lines) == 5 and lines.originals[3].size == (60, 16)
    got = [(idx, tuple(b.widths.tolist())) for idx, b in lines.batches()]
    assert got == [([1, 3], (60, 120)), ([0, 4], (180, 240)), ([2], (300,))]
    assert [idx for idx, _ in lines.batches(sort=False)] == [[0, 1], [2, 3], [4]]
    assert lines.scale(0) == pytest.approx(0.5) and lines.scale(2) == pytest.approx(200 / 300)
    batch = next(lines.batches())[1]
    assert batch.images.shape == (2, 1, 32, 120)
    assert torch.equal(batch.images[0, :, :, :60], lines.tensors[1])
    (tmp_path / "broken.png").write_text("no image")
    with pytest.raises(DataError, match=r"broken\.png"):
        prepare_lines([tmp_path / "broken.png"])
    with pytest.raises(DataError, match="image 1"):
        prepare_lines([images[0], b"not an image"])


def test_line_transform_width_rules():
    t = LineTransform(height=32, max_width=512, multiple=4)
    assert t.output_width(100, 32) == 100  # true width, not rounded to 4
    assert t.output_width(101, 64) == 50  # round(101 * 32 / 64) = 50
    assert t.output_width(1, 5000) == 4
    assert t.output_width(5000, 1) == 512
    with pytest.raises(ValueError):
        LineTransform(max_width=2, multiple=4)


# --- collate ------------------------------------------------------------------------------


def _samples(widths, texts):
    return [
        Sample(torch.full((1, 32, w), -1.0), t, f"k{i}")
        for i, (w, t) in enumerate(zip(widths, texts, strict=True))
    ]


def test_collate_shapes_widths_padding_targets():
    cs = make_charset(LOWER)
    batch = collate(_samples([10, 37, 21], ["ab", "hello", "z"]), cs)
    assert isinstance(batch, Batch) and len(batch) == 3
    assert batch.images.shape == (3, 1, 32, 40)  # widest 37 -> multiple of 4
    assert batch.widths.tolist() == [10, 37, 21]
    assert batch.widths.dtype == torch.long
    assert (batch.images[0, :, :, :10] == -1).all() and (batch.images[0, :, :, 10:] == 1).all()
    assert (batch.images[1, :, :, 37:] == 1).all()
    assert batch.target_lengths.tolist() == [2, 5, 1]
    assert batch.targets.dtype == torch.long and batch.targets.shape == (8,)
    assert batch.targets.tolist() == cs.encode("ab") + cs.encode("hello") + cs.encode("z")
    assert batch.texts == ["ab", "hello", "z"] and batch.keys == ["k0", "k1", "k2"]
    assert batch.skipped == 0


def test_collate_transforms_pil_images():
    samples = [
        Sample(line_image("ab", 30, 16), "ab", "a"),
        Sample(line_image("c", 9, 16), "c", "b"),
    ]
    batch = collate(samples, make_charset(LOWER))
    assert batch.widths.tolist() == [60, 18] and batch.images.shape == (2, 1, 32, 60)


def test_collate_out_of_charset_error_names_key():
    with pytest.raises(CharsetError, match="k1"):
        collate(_samples([8, 8], ["ok", "NO"]), make_charset(LOWER))


def test_collate_skip_policy_and_none_samples():
    samples = [*_samples([8, 8], ["ok", "NO"]), None]
    batch = Collate(make_charset(LOWER), policy="skip")(samples)
    assert batch.keys == ["k0"] and batch.skipped == 2


def test_collate_all_dropped_gives_empty_batch():
    batch = collate([None, None], make_charset(LOWER))
    assert len(batch) == 0 and batch.images.shape == (0, 1, 32, 4) and batch.skipped == 2


def test_collate_mismatched_heights():
    samples = [Sample(torch.zeros(1, 32, 8), "a", "x"), Sample(torch.zeros(1, 16, 8), "b", "y")]
    with pytest.raises(DataError, match=r"heights differ.*x: 32, y: 16"):
        collate(samples, make_charset(LOWER))


def test_collate_without_charset_for_inference():
    batch = collate(_samples([8], ["anything GOES"]), None)
    assert batch.targets.numel() == 0 and batch.target_lengths.tolist() == [0]


def test_batch_to_and_dataloader(folder):
    ds = FolderDataset(folder, transform=LineTransform())
    loader = DataLoader(ds, batch_size=2, collate_fn=Collate(make_charset(LOWER)))
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 1]
    moved = batches[0].to("cpu")
    assert moved.images.shape == batches[0].images.shape and moved.keys == batches[0].keys


# --- concat / open_dataset / synthetic -------------------------------------------------------


def test_concat_keys_name_the_dataset(tmp_path):
    a = make_folder(tmp_path / "first", [("a.png", "one")])
    b = make_folder(tmp_path / "second", [("a.png", "two"), ("b.png", "three")])
    both = concat(FolderDataset(a), FolderDataset(b))
    assert isinstance(both, ConcatDataset) and len(both) == 3
    assert [s.key for s in both] == ["first:a.png", "second:a.png", "second:b.png"]
    assert both[-1].key == "second:b.png"
    same = concat(FolderDataset(a), FolderDataset(a))
    assert [s.key for s in same] == ["first#0:a.png", "first#1:a.png"]


def test_open_dataset_folder_and_tsv(folder, tmp_path):
    assert len(open_dataset(folder)) == 3
    assert len(open_dataset(str(folder / "labels.tsv"))) == 3
    make_folder(tmp_path / "other", [("a.png", "x")], labels="train.tsv")
    ds = open_dataset(tmp_path / "other" / "train.tsv", skip_bad=True)
    assert isinstance(ds, FolderDataset) and len(ds) == 1


def test_open_dataset_nonexistent(tmp_path):
    with pytest.raises(DataError, match=r"nope\.lmdb: LMDB not found"):
        open_dataset(tmp_path / "nope.lmdb")
    with pytest.raises(DataError, match="no such dataset"):
        open_dataset(tmp_path / "nope")


def test_open_dataset_bad_synth_spec():
    with pytest.raises(DataError, match="unknown synth option"):
        open_dataset("synth:n=3,colour=red")
    with pytest.raises(DataError, match="integers"):
        open_dataset("synth:n=many")


class _FakeResult:
    def __init__(self, text, seed):
        rng = np.random.default_rng(seed)
        self.text = text
        self.image = Image.fromarray(rng.integers(0, 255, (24, 80, 3), np.uint8))


class _FakeText:
    def sample(self, index: int) -> str:
        return f"line {index}"


def test_synthetic_lines_with_stand_ins(monkeypatch):
    """SyntheticLines' own logic (keys, lengths, transform) with the renderer replaced by a fake."""
    import ocrlab.data.datasets as datasets

    fake = lambda i, seed, text, renderer, words: _FakeResult(text.sample(i), [seed, i])  # noqa: E731
    monkeypatch.setattr(datasets, "synth_sample", fake)
    ds = SyntheticLines(5, seed=7, text=_FakeText(), renderer=object(), transform=LineTransform())
    assert len(ds) == 5 and ds.name == "synth(seed=7)"
    s = ds[2]
    assert (s.text, s.key) == ("line 2", "synth-s7-000000002") and s.image.shape == (1, 32, 107)
    assert ds[-1].key == "synth-s7-000000004"
    assert torch.equal(ds[2].image, s.image)
    with pytest.raises(IndexError):
        ds[5]


def test_synthetic_word_crops_hold_one_word():
    ds = open_dataset("synth:n=40,seed=3")  # default preset: mixed line and word crops
    crops = [ds.render(i) for i in range(len(ds))]
    words = [r for r in crops if r.params["crop"] == "word"]
    lines = [r for r in crops if r.params["crop"] == "line"]
    assert words and lines, "the default preset mixes word crops and lines"
    assert all(" " not in r.text for r in words)
    assert any(" " in r.text for r in lines)


def test_synthetic_text_stays_inside_the_charset():
    from ocrlab.charset import Charset

    cs = Charset.preset("latin")
    ds = open_dataset("synth:n=60,seed=5", charset=cs)
    assert all(not cs.missing(ds.render(i).text) for i in range(len(ds)))


def test_synthetic_lines_real_parts_are_deterministic():
    ds = open_dataset("synth:n=3,seed=7,preset=clean")
    a, b = ds[1], ds[1]
    assert a.image.mode == "RGB" and a.text and a.key == "synth-s7-000000001"
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    other = open_dataset("synth:n=3,seed=8,preset=clean")[1]
    assert (other.text, other.image.size) != (a.text, a.image.size) or not np.array_equal(
        np.asarray(other.image), np.asarray(a.image)
    )


def test_the_shipped_real_samples_open_and_name_their_licence() -> None:
    """``samples/skimage_page``: the six real printed lines the notebooks show in a clone without
    the evaluation sets; each image readable, each label non-empty, the licence in SOURCE.md."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "samples" / "skimage_page"
    ds = open_dataset(str(root))
    samples = [ds[i] for i in range(len(ds))]
    assert len(samples) == 6 and not ds.skipped
    assert all(s.text and s.image.height >= 19 and s.image.width == 384 for s in samples)
    source = (root / "SOURCE.md").read_text()
    assert "BSD-3-Clause" in source and "sha256" in source
