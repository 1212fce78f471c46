"""The nested config that builds an :class:`~ocrlab.models.OCRModel`.

One place sets the sizes that depend on each other (``OCRConfig.__post_init__``): the Q-Former's
``encoder_width`` follows its source stage, the CTC head's class count follows the charset.
The whole config is saved inside every checkpoint and run folder and rebuilds the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class EncoderConfig:
    """CNN (+ optional context stage) mapping a (B, 1, 32, W) line to (B, W/4, d_model).

    ``channels[i]`` / ``blocks[i]`` give the width and residual-block count of stage ``i``;
    the stem and the first downsampling halve the width (stride 4 in total), later ones only the
    height. ``context`` adds a sequence model after the CNN: "none", "bilstm" or "transformer".
    The defaults are the ``small`` preset. A config picks a preset by name,
    ``encoder: {preset: tiny}``, and may set any field beside it (:data:`PRESETS`).
    """

    #: The encoder sizes the project is tested and benchmarked with, the one place they are
    #: defined (``benchmarks/bench_encoder_flops.py`` measures them, ``benchmarks/results/
    #: encoder.json``):
    #: ``tiny``: tests, ~15k parameters, d_model 32, a one-layer BiLSTM;
    #: ``small``: the CPU default (the field defaults), ~0.45 GFLOP per 32x128 crop, of which
    #: the 2-layer BiLSTM at d_model 512 is 0.2, so the CNN is half the width of ``base``;
    #: ``base``: GPU, about 4x ``small`` (wider CNN, more blocks), same d_model and BiLSTM.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {
            "stem_channels": 8,
            "channels": [8, 16, 16],
            "blocks": [1, 1, 1],
            "d_model": 32,
            "context_layers": 1,
            "context_heads": 4,
            "dropout": 0.0,
        },
        "small": {},
        "base": {"stem_channels": 32, "channels": [64, 128, 256], "blocks": [2, 3, 3]},
    }

    in_channels: int = 1
    height: int = 32
    stem_channels: int = 16
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    blocks: list[int] = field(default_factory=lambda: [1, 2, 2])
    d_model: int = 512
    context: str = "bilstm"
    context_layers: int = 2
    context_heads: int = 8
    dropout: float = 0.1


@dataclass
class QFormerConfig:
    """BLIP-2 Q-Former over one named encoder stage (``source_stage``).

    ``positions``: what the keys learn of *where* a feature sits. ``Blip2QFormerModel`` adds no
    position information to ``encoder_hidden_states`` (a ViT's features carry their own), so the
    source stage gets ``none`` (the queries read an unordered set), ``sinusoidal`` (fixed codes
    of the frame index, any width), ``relative`` (the same codes of the frame's place as a
    fraction of the line's real width: every line spans the same codes; meant to let queries
    that spread over short words spread over long lines too, which a 500-step warm pilot did
    not show: ``benchmarks/qformer_reading/README.md``, section 7) or ``learned`` (one vector per position up
    to ``max_positions``; wider lines reuse the last one) before cross-attention. The CTC path
    never sees them.
    """

    enabled: bool = True
    num_queries: int = 16
    hidden_size: int = 512
    num_layers: int = 2
    num_heads: int = 8
    intermediate_size: int = 1024
    cross_attention_frequency: int = 1
    source_stage: str = "cnn"
    dropout: float = 0.1
    positions: str = "none"  # none | sinusoidal | relative | learned
    max_positions: int = 512  # learned positions: a 2048-pixel line at stride 4


@dataclass
class LMConfig:
    """The frozen causal LM that reads the projected queries.

    ``name_or_path``: a Hugging Face hub name (used only when cached locally; nothing downloads
    at run time) or a local directory, e.g. the embedded LM ``ocrlab lm pretrain`` writes.
    """

    name_or_path: str = "models/ocrlab-charlm"
    max_text_tokens: int = 64
    # where the LM's absolute positions put the text after the soft prompt: "sequential" (the
    # queries take positions 0..Q-1 and the text starts at Q, where an LM trained on lines from
    # position 0 has rarely been) or "shared" (every query sits at position 0, BOS's slot, and
    # the text at 1, 2, ... where the LM learned it) or "spread" (the text as in "shared", the
    # queries spread over the text's positions 1..max_text_tokens, the last at 0)
    prompt_positions: str = "sequential"
    dtype: str = "float32"
    local_files_only: bool = True  # False lets a hub name download (the user's opt-in)


@dataclass
class OCRConfig:
    charset: str = "latin"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    lm: LMConfig = field(default_factory=LMConfig)
