"""Visualization: what the Q-Former's queries look at, which pixels a reading depends on, the
model drawn from its config, and training curves (plotly figures, exportable to HTML/PNG/SVG/PDF).

- extraction and statistics: :func:`query_attention` -> :class:`QueryAttention` (``attention``)
- figures of one line's attention: ``figures``; over a run: ``curves``
- captum attribution: ``attribution``; the architecture figure: ``model_figure``
- speed, real time, Python vs C and the speed/accuracy frontier: ``speed``
- a study's scores, differences, gradient mechanism and loss weights: ``study``

Every name is imported on first use (module ``__getattr__``): ``import ocrlab.viz`` costs
nothing, plotly and captum load only with the functions that need them, and a module that fails
to import breaks only its own names.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .attention import (
        AttentionError,
        CharacterReading,
        QueryAttention,
        QueryStats,
        query_attention,
        query_attention_batch,
    )
    from .attribution import (
        Attribution,
        attribute_character,
        attribute_lm_loss,
        attribution_figure,
        gradient_x_attention,
    )
    from .curves import attention_over_training, read_metrics, training_curves
    from .figures import (
        attention_grid,
        attention_matrix,
        attention_overlay,
        correspondence_figure,
        query_stats_figure,
    )
    from .model_figure import model_figure
    from .plotting import save_figure
    from .speed import (
        frontier_figure,
        frontier_points_from_bench,
        latency_figure,
        python_vs_c_figure,
        realtime_figure,
        throughput_figure,
    )
    from .study import (
        study_curves_figure,
        study_delta_figure,
        study_figures,
        study_mechanism_figure,
        study_scores_figure,
        study_weights_figure,
    )

_EXPORTS = {
    "attention": [
        "AttentionError",
        "CharacterReading",
        "QueryAttention",
        "QueryStats",
        "query_attention",
        "query_attention_batch",
    ],
    "figures": [
        "attention_grid",
        "attention_matrix",
        "attention_overlay",
        "correspondence_figure",
        "query_stats_figure",
    ],
    "plotting": ["save_figure"],
    "curves": ["attention_over_training", "read_metrics", "training_curves"],
    "attribution": [
        "Attribution",
        "attribute_character",
        "attribute_lm_loss",
        "attribution_figure",
        "gradient_x_attention",
    ],
    "model_figure": ["model_figure"],
    "speed": [
        "frontier_figure",
        "frontier_points_from_bench",
        "latency_figure",
        "python_vs_c_figure",
        "realtime_figure",
        "throughput_figure",
    ],
    "study": [
        "study_curves_figure",
        "study_delta_figure",
        "study_figures",
        "study_mechanism_figure",
        "study_scores_figure",
        "study_weights_figure",
    ],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

# a literal list, so that linters and IDEs see the names imported above (must match _EXPORTS)
__all__ = [
    "AttentionError",
    "Attribution",
    "CharacterReading",
    "QueryAttention",
    "QueryStats",
    "attention_grid",
    "attention_matrix",
    "attention_over_training",
    "attention_overlay",
    "attribute_character",
    "attribute_lm_loss",
    "attribution_figure",
    "correspondence_figure",
    "frontier_figure",
    "frontier_points_from_bench",
    "gradient_x_attention",
    "latency_figure",
    "model_figure",
    "python_vs_c_figure",
    "query_attention",
    "query_attention_batch",
    "query_stats_figure",
    "read_metrics",
    "realtime_figure",
    "save_figure",
    "study_curves_figure",
    "study_delta_figure",
    "study_figures",
    "study_mechanism_figure",
    "study_scores_figure",
    "study_weights_figure",
    "throughput_figure",
    "training_curves",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'ocrlab.viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``ocrlab.viz.model_figure`` the function. Importing a submodule binds its name on
    the package, so ``import ocrlab.viz.model_figure`` (the module of the same name) would
    otherwise shadow the function for every later ``from ocrlab.viz import model_figure``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _MODULE_OF:
            value = getattr(value, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
