from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ocrlab.config import ConfigError, apply_overrides, from_dict, load_config, save_config, to_dict


@dataclass
class Inner:
    layers: int = 2
    dropout: float = 0.1
    name: str | None = None


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    widths: list[int] = field(default_factory=lambda: [1, 2])
    flag: bool = False


def test_round_trip_through_dict():
    cfg = Outer(inner=Inner(layers=4, name="x"), widths=[3], flag=True)
    assert from_dict(Outer, to_dict(cfg)) == cfg


def test_int_is_accepted_for_float_and_kept_float():
    cfg = from_dict(Outer, {"inner": {"dropout": 0}})
    assert cfg.inner.dropout == 0.0 and isinstance(cfg.inner.dropout, float)


def test_unknown_key_names_its_path():
    with pytest.raises(ConfigError, match=r"inner\.layer\b"):
        from_dict(Outer, {"inner": {"layer": 3}})


def test_wrong_type_names_its_path():
    with pytest.raises(ConfigError, match=r"inner\.layers"):
        from_dict(Outer, {"inner": {"layers": "many"}})


def test_dotted_overrides_parse_yaml_scalars():
    data = apply_overrides({}, ["inner.layers=6", "flag=true", "widths=[4, 8]", "inner.name=abc"])
    cfg = from_dict(Outer, data)
    assert cfg == Outer(inner=Inner(layers=6, name="abc"), widths=[4, 8], flag=True)


def test_malformed_override():
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        apply_overrides({}, ["inner.layers"])


def test_yaml_file_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    save_config(Outer(inner=Inner(layers=5)), path)
    assert load_config(Outer, path, ["flag=yes"]) == Outer(inner=Inner(layers=5), flag=True)


def test_missing_and_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inner: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)


def test_a_preset_fills_the_fields_and_the_fields_beside_it_override_it():
    from ocrlab.models.config import EncoderConfig
    from ocrlab.run_config import RunConfig

    run = from_dict(RunConfig, {"model": {"encoder": {"preset": "tiny", "dropout": 0.3}}})
    tiny = EncoderConfig.PRESETS["tiny"]
    assert run.model.encoder.d_model == tiny["d_model"] == 32
    assert run.model.encoder.channels == tiny["channels"]
    assert run.model.encoder.dropout == 0.3, "a field given beside the preset wins"
    assert from_dict(EncoderConfig, {"preset": "small"}) == EncoderConfig(), "small: the defaults"
    # written back resolved: a saved config holds the sizes, not a name whose table may change
    assert "preset" not in to_dict(run.model.encoder)
    with pytest.raises(ConfigError, match=r"model\.encoder\.preset: unknown EncoderConfig preset"):
        from_dict(RunConfig, {"model": {"encoder": {"preset": "huge"}}})
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(Outer, {"inner": {"preset": "tiny"}})  # no PRESETS table: not a key
