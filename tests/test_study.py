"""Studies: grid expansion and checks, resumption, the report and its statistics, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ocrlab.train
from ocrlab.cli import main
from ocrlab.study import (
    RunSpec,
    StudyError,
    expand_grid,
    fingerprint,
    load_grid,
    mechanism_summary,
    run_config,
    run_study,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
TINY_GRID = ROOT / "configs" / "study" / "tiny.yaml"
LM_GRID = ROOT / "configs" / "study" / "lm_loss.yaml"


def write_grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text.replace("BASE", str(ROOT / "configs" / "tiny.yaml")))
    return path


def test_shipped_grid_expands_to_every_configuration_and_seed():
    grid = load_grid(LM_GRID)
    specs = expand_grid(grid, seeds=3)
    assert len(specs) == 3 * len(grid.configs) >= 3 * 9
    assert [s.seed for s in specs[: len(grid.configs)]] == [0] * len(grid.configs), "seed-major"
    assert len({s.run_id for s in specs}) == len(specs)
    for name in ("ctc_only", "lm_0.1", "lm_1.0", "ctc_0.1_lm_1.0", "lm_step", "lm_ramp",
                 "uncertainty", "gradnorm"):  # fmt: skip
        assert name in grid.configs
    assert grid.baseline == "ctc_only"
    only = expand_grid(grid, seeds=1, only=["gradnorm"])
    assert [s.config for s in only] == ["ctc_only", "gradnorm"], "the baseline is always kept"
    assert [s.seed for s in expand_grid(grid, seeds=5)][-1] == 4


def test_grid_configurations_resolve_to_what_they_say():
    grid = load_grid(LM_GRID)
    step = run_config(grid, RunSpec("lm_step", 2))
    assert step.loss.lm_weight.kind == "step" and step.train.seed == 2
    assert run_config(grid, RunSpec("gradnorm", 0)).loss.balance.kind == "gradnorm"
    assert run_config(grid, RunSpec("ctc_only", 0)).loss.lm_weight.value == 0.0
    assert run_config(grid, RunSpec("ctc_0.1_lm_1.0", 0)).loss.ctc_weight.value == 0.1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("base: BASE\nconfigs: {}\neval: {sets: {a: 'synth:n=2'}}", "names no configuration"),
        ("base: BASE\nconfigs: {a: {}}\nbaseline: b\neval: {sets: {a: 'synth:n=2'}}", "baseline"),
        ("base: BASE\nconfigs: {a: {loss.nope: 1}}\neval: {sets: {x: 'synth:n=2'}}", "'a'"),
        ("base: BASE\nconfigs: {a: {}}\neval: {sets: {}}", "no evaluation set"),
        ("base: BASE\nconfigs: {a: {}}\neval: {sets: {x: 'synth:n=2'}}\nsteps: 3", "unknown key"),
        ("base: nowhere.yaml\nconfigs: {a: {}}\neval: {sets: {x: 'synth:n=2'}}", "does not exist"),
        ("base: BASE\nconfigs: {a: {}}\nseeds: []\neval: {sets: {x: 'synth:n=2'}}", "seeds"),
    ],
)
def test_bad_grids_are_refused_with_the_reason(tmp_path, text, error):
    with pytest.raises(StudyError, match=error):
        load_grid(write_grid(tmp_path, text))


def test_a_missing_required_eval_set_is_an_error_and_an_optional_one_a_note(tmp_path):
    from ocrlab.study import available_sets

    grid = load_grid(
        write_grid(
            tmp_path,
            "base: BASE\nconfigs: {a: {}}\neval: {sets: {real: {data: /nope/labels.tsv, "
            "optional: true}, s: 'synth:n=2'}}",
        )
    )
    ok, skipped = available_sets(grid)
    assert [s.name for s in ok] == ["s"] and "/nope/labels.tsv" in skipped["real"]
    grid.eval_sets[0].optional = False
    with pytest.raises(StudyError, match="'real'"):
        available_sets(grid)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    results = run_study(TINY_GRID, out, seeds=2, only=["lm_1.0"], progress=False, command="t")
    return out, results


def test_tiny_study_writes_results_report_and_figures(tiny_study):
    out, results = tiny_study
    assert results["runs_finished"] == results["runs_planned"] == 4
    assert set(results["summary"]) == {"ctc_only", "lm_1.0"}
    clean = results["summary"]["lm_1.0"]["sets"]["clean"]["cer"]
    assert clean["n"] == 2 and clean["low"] <= clean["mean"] <= clean["high"]
    row = results["comparisons"]["clean"]["cer"]["lm_1.0"]
    # the verdict follows from the numbers: noise unless Holm's p < 0.05, then the CER's sign
    expected = "noise" if row["p_holm"] >= 0.05 else ("better" if row["diff"] < 0 else "worse")
    assert row["verdict"] == expected and 0 < row["p_holm"] <= 1
    assert row["p_holm"] >= row["p"]  # Holm never lowers a p-value
    assert row["low"] <= row["diff"] <= row["high"] and row["seeds"] == [0, 1]
    assert results["summary"]["ctc_only"]["lm_decode_cer"]["n"] == 2  # the branch exists
    assert results["summary"]["lm_1.0"]["lm_decode_cer"]["n"] == 2
    assert results["summary"]["lm_1.0"]["mechanism"]["lm_share_early"]["n"] == 2
    assert results["summary"]["ctc_only"]["mechanism"] is None
    report = (out / "report.md").read_text()
    assert "## Answers" in report and "Does the LM loss help" in report
    assert "`lm_1.0`" in report and "## Set `made_up`" in report
    assert "Command: `t`" in report
    assert (out / "figures" / "delta_cer.html").stat().st_size > 1000
    assert json.loads((out / "results.json").read_text())["baseline"] == "ctc_only"
    per_run = json.loads((out / "runs" / "lm_1.0" / "seed1" / "result.json").read_text())
    assert len(per_run["sets"]["clean"]["errors"]) == 24
    assert per_run["series"]["grad"]["lm_share"], "gradient diagnostics were recorded"


def test_a_killed_study_redoes_only_what_is_missing(tiny_study, tmp_path, monkeypatch):
    src, _ = tiny_study
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    # one run finished but unscored (killed during evaluation), one cut during training
    (out / "runs" / "lm_1.0" / "seed1" / "result.json").unlink()
    real_train = ocrlab.train.train
    partial = out / "runs" / "ctc_only" / "seed1"
    shutil.rmtree(partial)
    config = run_config(load_grid(TINY_GRID), RunSpec("ctc_only", 1), out)
    real_train(config, partial, progress=False, stop_after=4)
    (partial / "fingerprint.txt").write_text(fingerprint(config))
    calls = []

    def spy(config, run_dir, *, resume=False, progress=True, stop_after=None):
        calls.append((Path(run_dir).relative_to(out).as_posix(), resume))
        return real_train(config, run_dir, resume=resume, progress=False, stop_after=stop_after)

    monkeypatch.setattr(ocrlab.train, "train", spy)
    results = run_study(TINY_GRID, out, seeds=2, only=["lm_1.0"], progress=False)
    assert sorted(calls) == [("runs/ctc_only/seed1", True), ("runs/lm_1.0/seed1", True)]
    assert results["runs_finished"] == 4
    assert json.loads((partial / "result.json").read_text())["steps"] == 8
    calls.clear()
    run_study(TINY_GRID, out, seeds=2, only=["lm_1.0"], progress=False)
    assert calls == [], "a finished study trains nothing"


def test_a_changed_configuration_is_not_mixed_with_old_results(tiny_study, tmp_path):
    src, _ = tiny_study
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    text = TINY_GRID.read_text().replace("train.max_steps: 8", "train.max_steps: 9")
    grid = tmp_path / "changed.yaml"
    grid.write_text(text.replace("base: ../tiny.yaml", f"base: {ROOT / 'configs' / 'tiny.yaml'}"))
    with pytest.raises(StudyError, match="different configuration"):
        run_study(grid, out, seeds=2, only=["lm_1.0"], progress=False)


def test_report_only_and_cli(tiny_study, tmp_path, capsys):
    src, _ = tiny_study
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    (out / "report.md").unlink()
    code = main(["study", "--grid", str(TINY_GRID), "--out", str(out), "--seeds", "2",
                 "--configs", "lm_1.0", "--report-only"])  # fmt: skip
    assert code == 0 and (out / "report.md").is_file()
    assert "4/4 runs" in capsys.readouterr().out
    results = write_report(out, figures=False)  # reads out/grid.yaml
    assert results["baseline"] == "ctc_only"
    assert main(["study", "--grid", str(tmp_path / "none.yaml"), "--out", str(out)]) == 2


def test_mechanism_summary_finds_when_the_lm_share_vanishes():
    steps = list(range(0, 200, 10))
    share = [0.3] * 5 + [0.1] * 5 + [0.004] * 10
    s = mechanism_summary(
        {"step": steps, "lm_share": share, "grad_ratio_lm_ctc": [1.0] * 20,
         "grad_cosine": [0.0] * 20, "grad_norm_ctc": [1] * 20, "grad_norm_lm": [1] * 20}
    )  # fmt: skip
    assert s["lm_share_early"] == pytest.approx(0.3) and s["lm_share_late"] == pytest.approx(0.004)
    assert s["vanishes_at_step"] == 100 and s["threshold"] == pytest.approx(0.06)
    steady = mechanism_summary({**{k: [0.2] * 20 for k in ("lm_share", "grad_ratio_lm_ctc",
                                "grad_cosine")}, "step": steps})  # fmt: skip
    assert steady["vanishes_at_step"] is None
    blip = mechanism_summary({**{k: [0.2] * 19 + [0.001] for k in ("lm_share", "grad_ratio_lm_ctc",
                              "grad_cosine")}, "step": steps})  # fmt: skip
    assert blip["vanishes_at_step"] is None, "one low last record is not vanishing"
    tiny = mechanism_summary({**{k: [0.002] * 20 for k in ("lm_share", "grad_ratio_lm_ctc",
                              "grad_cosine")}, "step": steps})  # fmt: skip
    assert tiny["never_above_threshold"] and tiny["vanishes_at_step"] is None
