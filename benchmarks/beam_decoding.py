"""What beam search with a word-frequency LM adds to greedy CTC decoding on real words, and what
it costs. Weights are chosen on a tuning set (SVT train: real words, neither trained on nor a
test set) and then measured once on the test set with the chosen decoder.

    python benchmarks/beam_decoding.py models/ocrlab-small-v4 \\
        --tune ../shared/data/real_train/svt_train_cs \\
        --test ../shared/data/iiit5k_test_cs/labels_alnum_lower.tsv \\
        --lines ../shared/data/uw3_printed_lines \\
        --out benchmarks/results/beam_decoding.json

The network runs once per set (its log-probabilities are kept); each decoder then decodes the
same log-probabilities, so the times are the decoders' alone (ms per word, one thread).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ocrlab.data.specs import open_dataset
from ocrlab.data.transforms import Collate, LineTransform
from ocrlab.metrics import apply_protocol, score
from ocrlab.models import OCRModel
from ocrlab.models.ctc import CTCHead, make_decoder

GRID = [
    "greedy",
    "beam:width=10,lm=none",
    *(
        f"beam:width=10,lm=words,lm_weight={w},word_bonus={b}"
        for w in (0.2, 0.35, 0.5, 0.75, 1.0, 1.5)
        for b in (0.0, 3.0)
    ),
]


@torch.inference_mode()
def log_probs_of(model: OCRModel, spec: str, protocol: str):
    """[(log_probs (T, C), reference)] of every sample whose label the protocol keeps."""
    dataset = open_dataset(spec, skip_empty=True)
    loader = DataLoader(
        dataset, batch_size=64, collate_fn=Collate(transform=LineTransform(max_width=2048))
    )
    out = []
    for batch in tqdm(loader, desc=f"forward {Path(spec).name}", leave=False):
        o = model(batch.images, batch.widths)
        lp = CTCHead.log_probs(o.ctc_logits)
        for i, ref in enumerate(batch.texts):
            if apply_protocol(ref, protocol):
                out.append((lp[i, : int(o.lengths[i])].clone(), ref))
    return out


def run(model: OCRModel, items, spec: str, protocol: str) -> dict:
    decode = make_decoder(spec)
    preds = []
    t0 = time.perf_counter()
    for lp, _ in tqdm(items, desc=spec, leave=False):
        preds.append(decode(lp[None], None, model.charset)[0].text)
    seconds = time.perf_counter() - t0
    s = score(preds, [r for _, r in items], protocol=protocol)
    return {
        "decoder": spec,
        "n": s.n,
        "accuracy": s.accuracy,
        "cer": s.cer,
        "ms_per_word": 1000 * seconds / max(1, len(items)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--tune", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--protocol", default="alnum36")
    ap.add_argument("--lines", default=None, help="a set of lines read with the chosen decoder too")
    ap.add_argument("--out", default="benchmarks/results/beam_decoding.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = OCRModel.from_pretrained(args.checkpoint).eval()
    tune = log_probs_of(model, args.tune, args.protocol)
    tuning = [run(model, tune, spec, args.protocol) for spec in GRID]
    best = max(tuning[2:], key=lambda r: (r["accuracy"], -r["cer"]))
    test = log_probs_of(model, args.test, args.protocol)
    testing = [
        run(model, test, spec, args.protocol) for spec in ("greedy", "beam:width=10,lm=none")
    ]
    testing.append(run(model, test, best["decoder"], args.protocol))
    lines = []
    if args.lines:
        items = log_probs_of(model, args.lines, "exact")
        lines = [run(model, items, spec, "exact") for spec in ("greedy", best["decoder"])]
    report = {
        "command": "python benchmarks/beam_decoding.py "
        f"{args.checkpoint} --tune {args.tune} --test {args.test} --protocol {args.protocol}"
        + (f" --lines {args.lines}" if args.lines else ""),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread, "
        f"{platform.python_version()}",
        "chosen_on_tune": best["decoder"],
        "tune": tuning,
        "test": testing,
        "lines": lines,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for name, rows in (("tune", tuning), ("test", testing), ("lines", lines)):
        if not rows:
            continue
        unit, protocol = ("lines", "exact") if name == "lines" else ("words", args.protocol)
        print(f"\n{name} ({rows[0]['n']} {unit}, {protocol})")
        for r in rows:
            print(
                f"  {r['decoder']:<55} acc {100 * r['accuracy']:5.1f}%  "
                f"CER {100 * r['cer']:5.2f}%  {r['ms_per_word']:6.2f} ms/{unit[:-1]}"
            )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
