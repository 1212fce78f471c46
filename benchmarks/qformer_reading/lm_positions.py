"""The frozen LM's loss on the dev texts alone, by where the text sits after a soft prompt:
the LM's own ``<bos> text`` layout, 32 zero queries at positions 0..31 with the text from 32
(``prompt_positions: sequential``), and 32 zero queries all at 0 with the text from 1 (``shared``).

    .venv/bin/python benchmarks/qformer_reading/lm_positions.py [CHECKPOINT] [OUT_JSON]
"""

from __future__ import annotations

import json
import sys

import torch

from ocrlab.data.datasets import open_dataset
from ocrlab.models import OCRModel
from ocrlab.models.lm import IGNORE_INDEX

SETS = ("synth:n=200,seed=12,preset=scene", "synth:n=200,seed=7")


def main(checkpoint: str = "models/ocrlab-small-v3", out: str | None = None) -> int:
    bridge = OCRModel.from_pretrained(checkpoint).eval().lm_bridge
    lm = bridge.lm
    embed = lm.get_input_embeddings()
    bos = bridge.tokenizer.bos_token_id
    results = {"checkpoint": checkpoint, "queries": 32, "sets": {}}
    for spec in SETS:
        ds = open_dataset(spec)
        texts = [ds[i].text for i in range(len(ds))]
        ids, mask = bridge.tokenize(texts)  # (B, L) text + EOS
        B, L = ids.shape
        labels = ids.masked_fill(mask == 0, IGNORE_INDEX)  # (B, L)

        def loss(prefix: torch.Tensor, positions: torch.Tensor) -> float:
            P = prefix.shape[1]
            out = lm(
                inputs_embeds=torch.cat([prefix, embed(ids)], dim=1),  # (B, P + L, D)
                attention_mask=torch.cat([mask.new_ones(B, P), mask], dim=1),
                position_ids=positions[None].expand(B, -1),  # (B, P + L)
                labels=torch.cat([ids.new_full((B, P), IGNORE_INDEX), labels], dim=1),
            )
            return round(float(out.loss), 3)

        zeros = torch.zeros(B, 32, embed.embedding_dim)  # (B, 32, D)
        with torch.no_grad():
            row = {
                "bos_native": loss(embed(torch.full((B, 1), bos)), torch.arange(1 + L)),
                "zero32_sequential": loss(zeros, torch.arange(32 + L)),
                "zero32_shared": loss(
                    zeros, torch.cat([torch.zeros(32, dtype=torch.long), torch.arange(1, L + 1)])
                ),
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
