"""LMDB and folder writers (atomic) and LmdbDataset: round trips and one test per bad input."""

from __future__ import annotations

import io

import lmdb
import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from ocrlab.data.datasets import FolderDataset, LmdbDataset
from ocrlab.data.lmdb_io import PackReport, pack_folder, write_folder, write_lmdb
from ocrlab.data.specs import open_dataset
from ocrlab.data.transforms import Collate, LineTransform
from ocrlab.errors import DataError


def _image(i: int, w: int = 48, h: int = 16) -> Image.Image:
    rng = np.random.default_rng(i)
    return Image.fromarray(rng.integers(0, 255, (h, w + i, 3), np.uint8))


def _samples(n: int):
    return [(_image(i), f"text {i}") for i in range(n)]


def _siblings(path):
    """Everything next to ``path`` whose name starts with it (temp / old dirs left behind)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def _raw_lmdb(path, items: dict[bytes, bytes]) -> None:
    env = lmdb.open(str(path), map_size=1 << 22)
    with env.begin(write=True) as txn:
        for k, v in items.items():
            txn.put(k, v)
    env.close()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# --- round trips ----------------------------------------------------------------------------


def test_lmdb_round_trip_labels_and_pixels(tmp_path):
    samples = _samples(7)
    out = tmp_path / "train.lmdb"
    assert write_lmdb(samples, out, progress=False) == 7
    assert (out / "data.mdb").is_file() and _siblings(out) == ["train.lmdb"]
    ds = LmdbDataset(out)
    assert len(ds) == 7 and ds.name == "train.lmdb"
    for i, (img, text) in enumerate(samples):
        s = ds[i]
        assert s.text == text and s.key == f"image-{i + 1:09d}"
        assert np.array_equal(np.asarray(s.image), np.asarray(img))


def test_lmdb_keys_are_str_standard(tmp_path):
    write_lmdb(_samples(2), tmp_path / "x.lmdb", progress=False)
    env = lmdb.open(str(tmp_path / "x.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        keys = [k for k, _ in txn.cursor()]
        assert txn.get(b"num-samples") == b"2"
        assert txn.get(b"label-000000002") == b"text 1"
    env.close()
    assert keys == [
        b"image-000000001",
        b"image-000000002",
        b"label-000000001",
        b"label-000000002",
        b"num-samples",
    ]


def test_lmdb_bytes_stored_unchanged_and_jpeg_format(tmp_path):
    raw = _png(_image(3))
    write_lmdb(
        [(raw, "bytes"), (_image(4), "pil")],
        tmp_path / "j.lmdb",
        image_format="JPEG",
        progress=False,
    )
    env = lmdb.open(str(tmp_path / "j.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"image-000000001") == raw
        assert txn.get(b"image-000000002")[:3] == b"\xff\xd8\xff"  # JPEG magic
    env.close()
    ds = LmdbDataset(tmp_path / "j.lmdb", transform=LineTransform())
    assert ds[1].image.shape[1:] == (32, 104)


def test_lmdb_unicode_labels_and_sample_objects(tmp_path):
    ds = FolderDataset(_folder(tmp_path / "src", ["日本語のテキスト", "naïve café"]))
    write_lmdb(ds, tmp_path / "u.lmdb", progress=False)
    assert [s.text for s in LmdbDataset(tmp_path / "u.lmdb")] == ["日本語のテキスト", "naïve café"]


def test_lmdb_map_grows_when_full(tmp_path):
    big = [
        (Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 256, 3), np.uint8)), "x")
        for i in range(20)
    ]
    n = write_lmdb(big, tmp_path / "g.lmdb", map_size=64 * 1024, commit_every=3, progress=False)
    assert n == 20 and len(LmdbDataset(tmp_path / "g.lmdb")) == 20


def test_lmdb_empty_dataset(tmp_path):
    assert write_lmdb([], tmp_path / "e.lmdb", progress=False) == 0
    assert len(LmdbDataset(tmp_path / "e.lmdb")) == 0


def test_open_dataset_lmdb(tmp_path):
    write_lmdb(_samples(2), tmp_path / "o.lmdb", progress=False)
    assert isinstance(open_dataset(str(tmp_path / "o.lmdb")), LmdbDataset)
    write_lmdb(_samples(2), tmp_path / "plain", progress=False)  # no .lmdb suffix
    assert isinstance(open_dataset(tmp_path / "plain"), LmdbDataset)


def test_dataloader_two_workers_over_lmdb(tmp_path):
    write_lmdb(_samples(10), tmp_path / "w.lmdb", progress=False)
    ds = LmdbDataset(tmp_path / "w.lmdb", transform=LineTransform())
    ds[0]  # open the env in the parent first: workers must not reuse it
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=Collate(None))
    texts = [t for batch in loader for t in batch.texts]
    assert texts == [f"text {i}" for i in range(10)]


# --- atomic writes --------------------------------------------------------------------------


class Boom(Exception):
    pass


def _failing(n_ok: int, exc: BaseException):
    yield from _samples(n_ok)
    raise exc


@pytest.mark.parametrize("exc", [Boom("disk on fire"), KeyboardInterrupt()])
def test_interrupted_lmdb_write_leaves_nothing(tmp_path, exc):
    out = tmp_path / "new.lmdb"
    with pytest.raises(type(exc)):
        write_lmdb(_failing(5, exc), out, progress=False)
    assert _siblings(out) == []


def test_interrupted_overwrite_keeps_old_target(tmp_path):
    out = tmp_path / "keep.lmdb"
    write_lmdb(_samples(3), out, progress=False)
    with pytest.raises(Boom):
        write_lmdb(_failing(5, Boom()), out, overwrite=True, commit_every=2, progress=False)
    assert _siblings(out) == ["keep.lmdb"]
    assert [s.text for s in LmdbDataset(out)] == ["text 0", "text 1", "text 2"]


def test_existing_target_needs_overwrite(tmp_path):
    out = tmp_path / "x.lmdb"
    write_lmdb(_samples(3), out, progress=False)
    with pytest.raises(DataError, match=r"x\.lmdb: already exists"):
        write_lmdb(_samples(1), out, progress=False)
    assert write_lmdb(_samples(1), out, overwrite=True, progress=False) == 1
    assert len(LmdbDataset(out)) == 1 and _siblings(out) == ["x.lmdb"]


def test_overwrite_then_reopen_reads_new_data(tmp_path):
    out = tmp_path / "r.lmdb"
    write_lmdb(_samples(3), out, progress=False)
    old = LmdbDataset(out)
    assert old[2].text == "text 2"  # this process now holds a handle on the old files
    write_lmdb([(_image(9), "new")], out, overwrite=True, progress=False)
    new = LmdbDataset(out)
    assert len(new) == 1 and new[0].text == "new"
    assert np.array_equal(np.asarray(new[0].image), np.asarray(_image(9)))


def test_write_rejects_empty_label(tmp_path):
    with pytest.raises(DataError, match="sample 2: empty label"):
        write_lmdb([(_image(0), "a"), (_image(1), "")], tmp_path / "x.lmdb", progress=False)
    assert _siblings(tmp_path / "x.lmdb") == []


def test_write_rejects_non_image_bytes(tmp_path):
    with pytest.raises(DataError, match="sample 1: bytes are not an encoded image"):
        write_lmdb([(b"hello", "a")], tmp_path / "x.lmdb", progress=False)


def test_folder_writer_round_trip_and_atomic(tmp_path):
    out = tmp_path / "synth"
    assert write_folder(_samples(4), out, progress=False) == 4
    assert (out / "images" / "000000001.png").is_file()
    ds = FolderDataset(out)
    assert [s.text for s in ds] == [f"text {i}" for i in range(4)]
    assert np.array_equal(np.asarray(ds[2].image), np.asarray(_image(2)))
    with pytest.raises(Boom):
        write_folder(_failing(2, Boom()), out, overwrite=True, progress=False)
    assert _siblings(out) == ["synth"] and len(FolderDataset(out)) == 4


def test_folder_writer_rejects_tab_in_label(tmp_path):
    with pytest.raises(DataError, match=r"sample 1: label 'a\\tb' holds a tab"):
        write_folder([(_image(0), "a\tb")], tmp_path / "f", progress=False)
    assert _siblings(tmp_path / "f") == []


# --- pack_folder ------------------------------------------------------------------------------


def _folder(root, texts, *, ext="png"):
    root.mkdir(parents=True)
    lines = []
    for i, text in enumerate(texts):
        _image(i).save(root / f"{i}.{ext}")
        lines.append(f"{i}.{ext}\t{text}\n")
    (root / "labels.tsv").write_text("".join(lines), encoding="utf-8")
    return root


def test_pack_folder_stores_original_bytes(tmp_path):
    src = _folder(tmp_path / "src", ["a", "b", "c"], ext="jpg")
    report = pack_folder(src, tmp_path / "p.lmdb", progress=False)
    assert isinstance(report, PackReport) and report.written == 3 and not report.skipped
    assert "packed 3 samples" in str(report)
    ds = LmdbDataset(tmp_path / "p.lmdb")
    env = lmdb.open(str(tmp_path / "p.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"image-000000002") == (src / "1.jpg").read_bytes()
    env.close()
    assert [s.text for s in ds] == ["a", "b", "c"]


def test_pack_folder_corrupt_image_errors_and_writes_nothing(tmp_path):
    src = _folder(tmp_path / "src", ["a", "b", "c"])
    (src / "1.png").write_bytes((src / "1.png").read_bytes()[:50])
    with pytest.raises(DataError, match=r"1\.png: truncated or corrupt"):
        pack_folder(src, tmp_path / "p.lmdb", progress=False)
    assert _siblings(tmp_path / "p.lmdb") == []


def test_pack_folder_skip_bad_counts(tmp_path):
    src = _folder(tmp_path / "src", ["a", "", "c"])
    (src / "2.png").write_text("not an image")
    report = pack_folder(src, tmp_path / "p.lmdb", skip_bad=True, progress=False)
    assert report.written == 1
    assert report.skipped == {"empty label": 1, "unreadable image": 1}
    assert "skipped 2" in str(report)
    assert [s.text for s in LmdbDataset(tmp_path / "p.lmdb")] == ["a"]


# --- bad LMDBs: one test each -------------------------------------------------------------------


def test_lmdb_path_missing(tmp_path):
    with pytest.raises(DataError, match=r"gone\.lmdb: LMDB not found"):
        LmdbDataset(tmp_path / "gone.lmdb")


def test_lmdb_dir_without_data_mdb(tmp_path):
    (tmp_path / "empty.lmdb").mkdir()
    with pytest.raises(DataError, match=r"empty\.lmdb: not an LMDB \(no data\.mdb"):
        LmdbDataset(tmp_path / "empty.lmdb")


def test_lmdb_not_an_lmdb_file(tmp_path):
    (tmp_path / "fake.lmdb").mkdir()
    (tmp_path / "fake.lmdb" / "data.mdb").write_bytes(b"this is not lmdb" * 300)
    with pytest.raises(DataError, match=r"fake\.lmdb: not a readable LMDB"):
        LmdbDataset(tmp_path / "fake.lmdb")


def test_lmdb_without_num_samples(tmp_path):
    _raw_lmdb(tmp_path / "n.lmdb", {b"image-000000001": _png(_image(0)), b"label-000000001": b"a"})
    with pytest.raises(DataError, match=r"n\.lmdb: LMDB has no 'num-samples' key"):
        LmdbDataset(tmp_path / "n.lmdb")


def test_lmdb_bad_num_samples(tmp_path):
    _raw_lmdb(tmp_path / "n.lmdb", {b"num-samples": b"lots"})
    with pytest.raises(DataError, match="'num-samples' is not a non-negative integer"):
        LmdbDataset(tmp_path / "n.lmdb")


def test_lmdb_missing_label_key(tmp_path):
    items = {
        b"num-samples": b"2",
        b"image-000000001": _png(_image(0)),
        b"label-000000001": b"a",
        b"image-000000002": _png(_image(1)),
    }
    _raw_lmdb(tmp_path / "m.lmdb", items)
    with pytest.raises(DataError, match=r"m\.lmdb:label-000000002: key missing"):
        LmdbDataset(tmp_path / "m.lmdb")
    ds = LmdbDataset(tmp_path / "m.lmdb", skip_bad=True)
    assert len(ds) == 1 and ds.skipped["missing label key"] == 1


def test_lmdb_missing_image_key(tmp_path):
    items = {
        b"num-samples": b"2",
        b"image-000000001": _png(_image(0)),
        b"label-000000001": b"a",
        b"label-000000002": b"b",
    }
    _raw_lmdb(tmp_path / "m.lmdb", items)
    ds = LmdbDataset(tmp_path / "m.lmdb")
    assert ds[0].text == "a"
    with pytest.raises(DataError, match=r"m\.lmdb:image-000000002: key missing"):
        ds[1]
    assert LmdbDataset(tmp_path / "m.lmdb", skip_bad=True)[1] is None


def test_lmdb_corrupt_image_value(tmp_path):
    items = {b"num-samples": b"1", b"image-000000001": b"junk", b"label-000000001": b"a"}
    _raw_lmdb(tmp_path / "c.lmdb", items)
    with pytest.raises(DataError, match=r"c\.lmdb:image-000000001: not an image file"):
        LmdbDataset(tmp_path / "c.lmdb")[0]


def test_lmdb_empty_label(tmp_path):
    items = {b"num-samples": b"1", b"image-000000001": _png(_image(0)), b"label-000000001": b""}
    _raw_lmdb(tmp_path / "e.lmdb", items)
    with pytest.raises(DataError, match=r"e\.lmdb:label-000000001: empty label"):
        LmdbDataset(tmp_path / "e.lmdb")


def test_lmdb_label_not_utf8(tmp_path):
    items = {b"num-samples": b"1", b"image-000000001": _png(_image(0)), b"label-000000001": b"\xff"}
    _raw_lmdb(tmp_path / "u.lmdb", items)
    with pytest.raises(DataError, match=r"u\.lmdb:label-000000001: label is not valid UTF-8"):
        LmdbDataset(tmp_path / "u.lmdb")


def test_lmdb_out_of_charset_label(tmp_path):
    from ocrlab import charset

    write_lmdb([(_image(0), "ok"), (_image(1), "NOT OK")], tmp_path / "c.lmdb", progress=False)
    cs = charset.Charset("abcdefghijklmnopqrstuvwxyz ", name="test")
    with pytest.raises(DataError, match=r"c\.lmdb:label-000000002"):
        LmdbDataset(tmp_path / "c.lmdb", charset=cs)
    ds = LmdbDataset(tmp_path / "c.lmdb", charset=cs, policy="skip")
    assert [s.text for s in ds] == ["ok"] and ds.skipped["out-of-charset label"] == 1
