"""What the bridge can read when the features are perfect: the shipped Q-Former's configuration
(queries, layers, source positions) reads learned character embeddings, one frame per
character, instead of an encoder stage, and learns with a fresh projection against the same
frozen LM. LM-decoding CER on the card's sets, by text length, after each budget.

If this oracle reads 25-45-character lines well, what the lines lack lies in what the encoder
gives the queries; if it does not, the bridge itself (32 projected queries as a soft prompt to
the frozen character LM) is the limit, whatever the encoder does.

    .venv/bin/python benchmarks/qformer_reading/oracle.py models/ocrlab-small-v6 \\
        --steps 1500 --out benchmarks/qformer_reading/oracle.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import torch
from accelerate.utils import set_seed
from torch import nn
from tqdm import tqdm

from ocrlab.data.specs import open_dataset
from ocrlab.files import write_json
from ocrlab.metrics import score
from ocrlab.models.checkpoint import read_model_config
from ocrlab.models.lm import LMBridge
from ocrlab.models.qformer import QFormer

# the texts small-v8 trains on (words and lines of the default preset, long print lines, scene
# words) and the card's two evaluation sets
TRAIN = (
    "synth:n=20000,seed=69",
    "synth:n=15000,seed=71,preset=clean,text.min_chars=25,text.max_chars=45",
    "synth:n=8000,seed=73,preset=scene",
)
EVAL = ("synth:n=500,seed=12,preset=scene", "synth:n=500,seed=7")
BUCKETS = ((1, 8), (9, 16), (17, 24), (25, 64))


class Oracle(nn.Module):
    """Character embeddings (one frame each, padding masked) read by a Q-Former."""

    def __init__(self, config, charset) -> None:
        super().__init__()
        self.charset = charset
        width = 512  # the context stage's width in the small preset
        self.embed = nn.Embedding(len(charset) + 1, width)
        self.qformer = QFormer(config.qformer, width)

    def forward(self, texts: list[str]) -> torch.Tensor:
        norm = [self.charset.normalize(t) for t in texts]
        ids = [[self.charset.index(c) for c in t if c in self.charset] for t in norm]
        T = max(1, max(len(r) for r in ids))
        frames = torch.zeros(len(ids), T, dtype=torch.long)  # (B, T) 0 = padding
        for b, row in enumerate(ids):
            frames[b, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask = frames > 0  # (B, T)
        out = self.qformer(self.embed(frames), mask, output_attentions=False)
        return out.query_output  # (B, Q, H)


def texts_of(spec: str) -> list[str]:
    data = open_dataset(spec)
    return [data.text_at(i) for i in range(len(data))]


@torch.no_grad()
def evaluate(oracle: Oracle, bridge: LMBridge, texts: list[str]) -> dict:
    oracle.eval()
    preds, info_nats, info_chars, info_tokens = [], 0.0, 0, 0
    for i in range(0, len(texts), 50):
        batch = texts[i : i + 50]
        queries = oracle(batch)  # (B, Q, H)
        preds += bridge.generate(queries, max_new_tokens=bridge.config.max_text_tokens)
        prompt = bridge.project(queries)  # (B, Q, D)
        with_q, tokens = bridge.score_prompt(prompt, batch).nats()
        zero, _ = bridge.score_prompt(torch.zeros_like(prompt), batch).nats()
        info_nats += zero - with_q
        info_chars += sum(len(t) for t in batch)
        info_tokens += tokens
    oracle.train()
    scores = score(preds, texts)
    row = {
        "lm_cer": round(scores.cer, 4),
        "lm_accuracy": round(scores.accuracy, 4),
        # per scored token (characters + EOS), the unit of ocrlab.reading's query_info
        "query_info": round(info_nats / info_tokens, 3),
        "info_nats_per_char": round(info_nats / info_chars, 3),
    }
    for lo, hi in BUCKETS:
        pairs = [(r, p) for r, p in zip(texts, preds, strict=True) if lo <= len(r) <= hi]
        if pairs:
            s = score([p for _, p in pairs], [r for r, _ in pairs])
            row[f"lm_cer_{lo}-{hi}"] = {"n": len(pairs), "cer": round(s.cer, 4)}
    row["examples"] = [[r, p] for r, p in zip(texts[:4], preds[:4], strict=True)]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="the model whose Q-Former config and frozen LM are used")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval-at", type=int, nargs="*", default=[500, 1000])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--layout", default=None, help="lm.prompt_positions (default: the model's)")
    ap.add_argument("--queries", type=int, default=None, help="qformer.num_queries")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    config, charset = read_model_config(args.checkpoint)
    if args.layout:
        config.lm.prompt_positions = args.layout
    if args.queries:
        config.qformer.num_queries = args.queries
    oracle = Oracle(config, charset)
    bridge = LMBridge(config.lm, config.qformer.hidden_size)
    train = [t for spec in TRAIN for t in texts_of(spec)]
    evals = {spec: texts_of(spec) for spec in EVAL}
    params = [*oracle.parameters(), *bridge.language_projection.parameters()]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    # warm-up times cosine from step 0: the schedule the committed oracle_*.json ran with (not
    # ocrlab.train.optim.lr_lambda, whose cosine starts after the warm-up)
    warm = 100
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))
        ),
    )
    gen = torch.Generator().manual_seed(args.seed)
    results = {
        "command": "benchmarks/qformer_reading/oracle.py "
        + " ".join(f"{k}={v}" for k, v in vars(args).items()),
        "machine": f"{platform.machine()}, {args.threads} thread(s), torch {torch.__version__}",
        "train_texts": TRAIN,
        "layout": config.lm.prompt_positions,
        "qformer": vars(config.qformer),
        "evals": [],
    }
    start, losses = time.time(), []
    bar = tqdm(range(1, args.steps + 1), desc="oracle", mininterval=10)
    for step in bar:
        idx = torch.randint(len(train), (args.batch,), generator=gen).tolist()
        texts = [train[i] for i in idx]
        loss = bridge(oracle(texts), texts).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(lm=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
        if step in args.eval_at or step == args.steps:
            row = {"step": step, "minutes": round((time.time() - start) / 60, 1)}
            row["train_lm_loss"] = round(sum(losses[-100:]) / len(losses[-100:]), 4)
            row["sets"] = {spec: evaluate(oracle, bridge, t) for spec, t in evals.items()}
            results["evals"].append(row)
            print(json.dumps(row, default=str)[:1500])
            write_json(args.out, results)


if __name__ == "__main__":
    main()
