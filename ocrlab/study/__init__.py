"""Studies: every configuration of a grid, for every seed, on one step budget — then scored,
compared with statistics, and written up.

``ocrlab study --grid configs/study/lm_loss.yaml --seeds 3 --out DIR`` trains each run into
``DIR/runs/<config>/seed<k>/`` (an ordinary training run: ``metrics.jsonl``, checkpoints),
scores its final weights on every evaluation set with the CTC path (and the LM-decoding path on
one set), writes ``result.json`` beside it, and at the end ``DIR/results.json``, ``report.md`` and
``figures/``. A killed study continues where it stopped: finished runs (those with
``result.json``) are not redone, a run cut short resumes from its last checkpoint.
``--jobs N`` trains N runs at once, each in its own process with ``cores / N`` threads (on a CPU,
two one-thread runs read more lines per second than one two-thread run). Under
``accelerate launch -m ocrlab study ...`` each run trains data-parallel instead.

The grid file (YAML)::

    base: ../small.yaml          # a training preset, relative to this file
    set: {train.max_steps: 400}  # dotted overrides for every configuration
    seeds: [0, 1, 2]             # --seeds N uses the first N of these
    baseline: ctc_only           # what every configuration is compared against
    eval:
      sets:
        clean: synth:n=400,seed=900101,preset=clean
        iiit5k: {data: ../shared/data/iiit5k_test_cs/labels_alnum_lower.tsv,
                 protocol: alnum36, optional: true}   # skipped with a note when missing
      lm_decode: {set: clean, lines: 100}
    configs:
      ctc_only: {loss.lm_weight: {kind: constant, value: 0.0}}
      lm_0.3: {loss.lm_weight: {kind: constant, value: 0.3}}

Data paths in ``eval`` are relative to the working directory, like every ocrlab command.
Statistics: :mod:`ocrlab.stats`. Figures: :mod:`ocrlab.viz.study`.

The package: :mod:`.grid` (the grid file, each run's configuration, the study folder),
:mod:`.runner` (training and scoring the runs), :mod:`.analysis` (statistics, the report and
figures written), :mod:`.report` (the report's text).
"""

from .analysis import (
    analyze,
    collect,
    mechanism_summary,
    write_figures,
    write_report,
)
from .grid import (
    ALPHA,
    RESULT_NAME,
    WARMUP,
    EvalSet,
    Grid,
    RunSpec,
    StudyError,
    expand_grid,
    fingerprint,
    load_grid,
    read_result,
    run_config,
    run_path,
)
from .report import (
    format_report,
)
from .runner import (
    available_sets,
    lm_decode_predictions,
    read_series,
    run_one,
    run_study,
    score_run,
)

__all__ = [
    "ALPHA",
    "RESULT_NAME",
    "WARMUP",
    "EvalSet",
    "Grid",
    "RunSpec",
    "StudyError",
    "analyze",
    "available_sets",
    "collect",
    "expand_grid",
    "fingerprint",
    "format_report",
    "lm_decode_predictions",
    "load_grid",
    "mechanism_summary",
    "read_result",
    "read_series",
    "run_config",
    "run_one",
    "run_path",
    "run_study",
    "score_run",
    "write_figures",
    "write_report",
]
