"""The frozen LM's loss on the dev texts alone, by where the text sits after a soft prompt:
the LM's own ``<bos> text`` layout, 32 zero queries at positions 0..31 with the text from 32
(``prompt_positions: sequential``), and 32 zero queries all at 0 with the text from 1 (``shared``).

    .venv/bin/python benchmarks/qformer_reading/lm_positions.py [CHECKPOINT] [OUT_JSON]
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

from ocrlab.data.specs import open_dataset
from ocrlab.models import OCRModel

SETS = ("synth:n=200,seed=12,preset=scene", "synth:n=200,seed=7")


def loss(bridge: Any, prompt: torch.Tensor, texts: list[str], layout: str) -> float:
    """The bridge's own LM loss on ``texts`` after ``prompt`` (B, P, D), nats per token, with
    the text placed by ``layout`` (``prompt_positions``)."""
    bridge.config.prompt_positions = layout
    nats, tokens = bridge.score_prompt(prompt, texts).nats()
    return round(nats / tokens, 3)


def main(checkpoint: str = "models/ocrlab-small-v3", out: str | None = None) -> int:
    bridge = OCRModel.from_pretrained(checkpoint).eval().lm_bridge
    embed = bridge.lm.get_input_embeddings()
    bos = bridge.tokenizer.bos_token_id
    results = {"checkpoint": checkpoint, "queries": 32, "sets": {}}
    for spec in SETS:
        ds = open_dataset(spec)
        texts = [ds[i].text for i in range(len(ds))]
        B = len(texts)

        zeros = torch.zeros(B, 32, embed.embedding_dim)  # (B, 32, D)
        with torch.no_grad():
            row = {
                # one BOS "query" at position 0, the text from 1: the LM's own layout
                "bos_native": loss(bridge, embed(torch.full((B, 1), bos)), texts, "shared"),
                "zero32_sequential": loss(bridge, zeros, texts, "sequential"),
                "zero32_shared": loss(bridge, zeros, texts, "shared"),
            }
        row["mean_chars"] = round(sum(map(len, texts)) / len(texts), 2)
        results["sets"][spec] = row
        print(spec, row)
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
