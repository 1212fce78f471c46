"""Real-crop augmentation and the weighted, augmented training mix (``PATH?repeat=K``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import make_folder
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader

from ocrlab.charset import Charset
from ocrlab.data.augment import Augment, Augmented, border_colour, join_crops
from ocrlab.data.datasets import FolderDataset
from ocrlab.data.specs import open_dataset
from ocrlab.data.transforms import Collate, LineTransform
from ocrlab.errors import DataError
from ocrlab.run_config import RunConfig
from ocrlab.train import build_datasets, train_set_transform

ONLY = {f"p_{k}": 0.0 for k in ("jitter", "rotate", "perspective", "blur", "colour", "invert")}


def _only(**kw) -> Augment:
    return Augment(**{**ONLY, **kw})


def _bar(w: int = 160, h: int = 48) -> Image.Image:
    """A grey crop with a thick black horizontal bar through its middle."""
    img = Image.new("L", (w, h), 200)
    ImageDraw.Draw(img).rectangle((20, h // 2 - 4, w - 20, h // 2 + 4), fill=0)
    return img


def _bar_angle(img: Image.Image) -> float:
    """The angle in degrees of the dark bar's centre line (least squares over its columns)."""
    a = np.asarray(img.convert("L"), np.float64)
    dark = a < 100
    cols = [x for x in range(a.shape[1]) if dark[:, x].sum() >= 3]
    ys = [np.flatnonzero(dark[:, x]).mean() for x in cols]
    slope = np.polyfit(cols, ys, 1)[0]
    return math.degrees(math.atan(slope))


@pytest.fixture
def real(tmp_path):
    rows = [(f"img/{i}.png", w) for i, w in enumerate(["alpha", "beta", "gamma", "delta"])]
    return make_folder(tmp_path / "real", rows)


# --- Augment ---------------------------------------------------------------------------------


def test_same_seed_same_image_other_seed_other_image():
    img = _bar().convert("RGB")
    a = [np.asarray(Augment()(img, np.random.default_rng(s))) for s in (5, 5, 6)]
    assert np.array_equal(a[0], a[1])
    assert a[0].shape != a[2].shape or not np.array_equal(a[0], a[2])


def test_none_preset_is_the_identity():
    img = _bar().convert("RGB")
    out, applied = Augment.preset("none").apply(img, np.random.default_rng(0))
    assert applied == [] and np.array_equal(np.asarray(out), np.asarray(img))


@pytest.mark.parametrize("seed", range(6))
def test_rotation_turns_the_text_by_the_drawn_angle_and_stays_within_the_limit(seed):
    out, applied = _only(p_rotate=1.0, rotate_deg=5.0).apply(_bar(), np.random.default_rng(seed))
    (note,) = applied
    angle = float(note.split("=")[1])
    assert abs(angle) <= 5.0
    assert abs(abs(_bar_angle(out)) - abs(angle)) < 0.6
    assert abs(_bar_angle(_bar())) < 0.1


def test_rotation_fills_the_corners_with_the_border_colour_not_black():
    out = _only(p_rotate=1.0, rotate_deg=5.0)(_bar(), np.random.default_rng(1))
    a = np.asarray(out)
    assert {int(a[0, 0]), int(a[0, -1]), int(a[-1, 0]), int(a[-1, -1])} == {200}


def test_jitter_moves_each_edge_by_at_most_its_share_of_the_height():
    img = _bar(160, 48)
    aug = _only(p_jitter=1.0, jitter=0.1)
    sizes = {aug(img, np.random.default_rng(s)).size for s in range(20)}
    assert len(sizes) > 5  # the crop box really moves
    for w, h in sizes:
        assert abs(w - 160) <= 2 * 0.1 * 48 + 1 and abs(h - 48) <= 2 * 0.1 * 48 + 1


def test_colour_and_invert_keep_the_geometry():
    img = _bar().convert("RGB")
    out = _only(p_colour=1.0, p_invert=1.0, p_blur=1.0)(img, np.random.default_rng(0))
    assert out.size == img.size
    # inverted: the bar is now the light part
    a = np.asarray(out.convert("L"), np.float64)
    assert a[24, 80] > a[2, 80]


def test_border_colour_is_the_median_of_the_edge():
    img = Image.new("RGB", (10, 6), (10, 20, 30))
    ImageDraw.Draw(img).point((0, 0), fill=(255, 255, 255))
    assert border_colour(img) == (10, 20, 30)
    assert border_colour(img.convert("L")) == int(np.asarray(img.convert("L"))[1, 0])


def test_bad_probability_and_preset():
    with pytest.raises(ValueError, match="p_rotate"):
        Augment(p_rotate=1.5)
    with pytest.raises(ValueError, match="unknown augmentation preset 'heavy'"):
        Augment.preset("heavy")


# --- Augmented (weights) -------------------------------------------------------------------


def test_repeat_weights_the_set_and_every_repetition_differs(real):
    base = FolderDataset(real)
    ds = Augmented(base, repeat=3, seed=2)
    assert len(ds) == 12
    assert [ds.text_at(j) for j in range(12)] == [base.text_at(j % 4) for j in range(12)]
    keys = [ds[j].key for j in (1, 5, 9)]
    assert keys == ["img/1.png#0", "img/1.png#1", "img/1.png#2"]
    imgs = [np.asarray(ds[j].image) for j in (1, 5, 9)]
    assert any(a.shape != imgs[0].shape or not np.array_equal(a, imgs[0]) for a in imgs[1:])
    with pytest.raises(IndexError, match="out of range for 12"):
        ds[12]


def test_augmented_item_is_deterministic_per_seed_and_index(real):
    a, b = (Augmented(FolderDataset(real), repeat=2, seed=7) for _ in range(2))
    c = Augmented(FolderDataset(real), repeat=2, seed=8)
    assert all(np.array_equal(np.asarray(a[j].image), np.asarray(b[j].image)) for j in range(8))
    assert any(
        np.asarray(a[j].image).shape != np.asarray(c[j].image).shape
        or not np.array_equal(np.asarray(a[j].image), np.asarray(c[j].image))
        for j in range(8)
    )


def test_augmented_items_are_the_same_in_dataloader_workers(real):
    ds = Augmented(FolderDataset(real), repeat=2, seed=3, transform=LineTransform())
    collate = Collate(Charset("abcdefghijklmnopqrstuvwxyz", name="t"), "error")
    batches = [
        next(iter(DataLoader(ds, batch_size=8, collate_fn=collate, num_workers=w))) for w in (0, 1)
    ]
    assert torch.equal(batches[0].images, batches[1].images)


def test_unaugmented_single_repeat_is_the_base(real):
    base = FolderDataset(real)
    ds = Augmented(base, augment=Augment.preset("none"))
    assert len(ds) == 4 and ds[2].key == "img/2.png"
    assert np.array_equal(np.asarray(ds[2].image), np.asarray(base[2].image))


def test_bad_repeat_and_base_with_its_own_transform(real):
    with pytest.raises(DataError, match="real: repeat must be >= 1, got 0"):
        Augmented(FolderDataset(real), repeat=0)
    with pytest.raises(ValueError, match="must not have a transform"):
        Augmented(FolderDataset(real, transform=LineTransform()))


def test_unreadable_image_passes_through_as_a_counted_skip(real):
    (real / "img/2.png").write_bytes(b"not a png")
    ds = Augmented(FolderDataset(real, skip_bad=True), repeat=2)
    assert ds[2] is None and ds[6] is None and ds[1] is not None
    assert ds.skipped["unreadable image"] == 2


# --- specs and the training mix -------------------------------------------------------------


def test_spec_repeat_augment_seed(real):
    ds = open_dataset(f"{real}?repeat=3,seed=4", transform=LineTransform())
    assert isinstance(ds, Augmented) and len(ds) == 12 and ds.seed == 4
    assert ds[0].image.shape[:2] == (1, 32)
    plain = open_dataset(f"{real / 'labels.tsv'}?augment=none")
    assert len(plain) == 4 and plain.augment == Augment.preset("none")
    assert "x3 with augmentation (seed 4)" in ds.report()


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("?repeat=0", "repeat must be >= 1"),
        ("?repeat=two", "invalid literal"),
        ("?weight=3", r"unknown option\(s\) \['weight'\]"),
        ("?augment=heavy", "unknown augmentation preset"),
        ("?repeat", "expected key=value"),
    ],
)
def test_bad_spec_names_the_spec(real, suffix, message):
    with pytest.raises(DataError, match=message) as err:
        open_dataset(f"{real}{suffix}")
    assert str(real) in str(err.value)


def test_bad_row_of_an_augmented_set_names_its_line(real):
    with open(real / "labels.tsv", "a", encoding="utf-8") as f:
        f.write("img/missing.png\tomega\n")
    with pytest.raises(DataError, match=r"labels.tsv:5: image 'img/missing.png' not found"):
        open_dataset(f"{real}?repeat=2")


def test_training_mix_of_real_and_synthetic(real):
    config = RunConfig()
    config.data.train = [f"{real}?repeat=5,seed=1", "synth:n=10,seed=3"]
    config.data.val = None
    train, val = build_datasets(config, Charset.preset("latin"))
    assert len(train) == 30 and val is None
    assert train_set_transform(train) is train.datasets[0].transform
    sample = train[7]
    assert sample.key == "real:img/3.png#1" and sample.image.shape[1] == 32
    assert train[25].image.shape[1] == 32  # the synthetic part gets the same transform


# --- join: word crops that teach spaces ------------------------------------------------------


def test_join_rows_crops_with_gaps_and_joins_labels(real):
    base = FolderDataset(real)
    width = {base[i].key: base[i].image.width for i in range(4)}
    ds = open_dataset(f"{real}?repeat=2,seed=5,join=2-3,augment=none")
    assert len(ds) == 8 and ds.join == (2, 3)
    counts = set()
    for j in range(len(ds)):
        s = ds[j]
        words = s.text.split(" ")
        counts.add(len(words))
        assert s.text == ds.text_at(j)
        assert words[0] == base.text_at(j % 4) and set(words) <= {"alpha", "beta", "gamma", "delta"}
        assert s.key.count("+") == len(words) - 1 and s.key.endswith(f"#{j // 4}")
        # unaugmented crops at their own height, side by side, with a gap between each pair
        widths = [width[k] for k in s.key.split("#")[0].split("+")]
        assert s.image.height == base[0].image.height
        assert sum(widths) + 0.3 * s.image.height * (len(words) - 1) <= s.image.width + len(words)
        assert s.image.width <= sum(widths) + 1.0 * s.image.height * (len(words) - 1) + len(words)
    assert counts <= {2, 3}
    again = open_dataset(f"{real}?repeat=2,seed=5,join=2-3,augment=none")
    assert all(
        np.array_equal(np.asarray(ds[j].image), np.asarray(again[j].image)) for j in range(8)
    )
    assert "2-3 crops joined per item" in ds.report()


def test_join_gap_is_the_left_crops_border_colour():
    rng = np.random.default_rng(0)
    left, right = Image.new("L", (40, 20), 30), Image.new("RGB", (50, 10), (200, 10, 10))
    row = join_crops([left, right], rng)
    a = np.asarray(row)
    assert row.height == 20 and 40 + 100 + 6 <= row.width <= 40 + 100 + 20
    gap = a[:, 40 : row.width - 100]
    assert (gap == 30).all() and (a[:, -100:] == (200, 10, 10)).all()


@pytest.mark.parametrize("value", ["0", "3-2", "two", "1-x"])
def test_bad_join_names_the_spec(real, value):
    with pytest.raises(DataError, match="join must") as err:
        open_dataset(f"{real}?join={value}")
    assert str(real) in str(err.value)


def test_a_joined_row_with_an_unreadable_crop_is_one_counted_skip(real):
    (real / "img/2.png").write_bytes(b"not a png")
    ds = Augmented(FolderDataset(real, skip_bad=True), repeat=2, seed=1, join=(3, 3))
    items = [ds[j] for j in range(len(ds))]
    bad = [j for j, s in enumerate(items) if s is None]
    assert bad and all("gamma" in ds.text_at(j).split(" ") for j in bad)
    assert all("gamma" not in s.text.split(" ") for s in items if s is not None)
