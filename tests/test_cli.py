"""The data commands end to end, through ``ocrlab.cli.main`` as a user calls them."""

from __future__ import annotations

import pytest
from PIL import Image

from ocrlab.cli import main
from ocrlab.data.specs import open_dataset, synth_dataset
from ocrlab.data.synth_io import rendered_samples


def test_synth_to_lmdb_then_show(tmp_path, capsys):
    out = tmp_path / "train.lmdb"
    assert main(["data", "synth", "--n", "12", "--seed", "4", "--out", str(out)]) == 0
    ds = open_dataset(out)
    expected = synth_dataset(n=12, seed=4)
    assert len(ds) == 12
    assert [ds[i].text for i in range(12)] == [expected[i].text for i in range(12)]
    # the stored image is the rendered one, pixel for pixel (PNG is lossless)
    assert ds[3].image.tobytes() == expected[3].image.tobytes()

    sheet = tmp_path / "sheet.png"
    assert main(["data", "show", str(out), "--n", "6", "--out", str(sheet)]) == 0
    img = Image.open(sheet)
    assert img.width > 300 and img.height > 100
    assert "wrote" in capsys.readouterr().out


def test_synth_to_folder_then_pack(tmp_path, capsys):
    folder = tmp_path / "dev"
    argv = ["data", "synth", "--n", "5", "--preset", "degraded", "--crop", "word"]
    assert main([*argv, "--out", str(folder)]) == 0
    assert (folder / "labels.tsv").is_file()
    packed = tmp_path / "dev.lmdb"
    assert main(["data", "pack", str(folder), "--out", str(packed)]) == 0
    a, b = open_dataset(folder), open_dataset(packed)
    assert [a[i].text for i in range(5)] == [b[i].text for i in range(5)]
    assert all(" " not in a[i].text for i in range(5)), "word crops hold single words"


def test_existing_output_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "x.lmdb"
    assert main(["data", "synth", "--n", "2", "--out", str(out)]) == 0
    assert main(["data", "synth", "--n", "3", "--out", str(out)]) == 2
    assert "x.lmdb" in capsys.readouterr().err
    assert len(open_dataset(out)) == 2, "the refused write left the old dataset as it was"
    assert main(["data", "synth", "--n", "3", "--out", str(out), "--overwrite"]) == 0
    assert len(open_dataset(out)) == 3


def test_missing_path_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["data", "show", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["data", "pack", str(missing), "--out", str(tmp_path / "o.lmdb")]) == 2
    assert not (tmp_path / "o.lmdb").exists()


def test_parallel_rendering_gives_the_same_samples():
    ds = synth_dataset(n=6, seed=11)
    assert list(rendered_samples(ds, workers=2)) == list(rendered_samples(ds, workers=1))


def test_help_is_plain_text_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "examples:" in text and "make demo" in text


def test_image_outputs_without_a_suffix_or_as_a_folder(tmp_path, capsys):
    spec = "synth:n=2,seed=1,preset=clean"
    assert main(["data", "show", spec, "--out", str(tmp_path / "sheet")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not an image file name; end it in .png" in err
    assert "Traceback" not in err
    assert main(["data", "show", spec, "--out", str(tmp_path)]) == 0  # a folder
    assert (tmp_path / "contact_sheet.png").is_file()
    assert main(["data", "showcase", "--out", str(tmp_path / "new") + "/"]) == 0
    assert (tmp_path / "new" / "synth_showcase.png").is_file()


def test_showcase_writes_a_contact_sheet(tmp_path):
    out = tmp_path / "demo.png"
    assert main(["data", "showcase", "--out", str(out)]) == 0
    img = Image.open(out)
    assert img.width >= 1000 and img.height >= 600
    # not a blank page: plenty of non-white pixels
    grey = img.convert("L")
    dark = sum(grey.histogram()[:200])
    assert dark > 0.05 * img.width * img.height
