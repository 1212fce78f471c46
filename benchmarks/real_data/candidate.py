"""Score a candidate for the default model on the sets its decision rule names, beside the
shipped model's card numbers, and keep its training log: the CTC path on UW3, IIIT5K (greedy)
and the default-preset synthetic lines, the Q-Former branch (``--reading``) on lines and scene
words. Writes OUT/results.json (every command with its JSON answer) and copies the run's
metrics.jsonl and run.json.

    .venv/bin/python benchmarks/real_data/candidate.py runs/small-v8 --out benchmarks/real_data/small_v8 \\
        --what "small-v8: ..."
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
from pathlib import Path

from ocrlab.files import write_json

DATA = "../shared/data"
CTC_SETS = (
    ("uw3_cer", [f"{DATA}/uw3_printed_lines"]),
    (
        "iiit5k_alnum36_accuracy",
        [f"{DATA}/iiit5k_test_cs", "--labels", "labels_alnum_lower.tsv", "--protocol", "alnum36"],
    ),
    ("synth_seed7_cer", ["synth:n=2000,seed=7"]),
    ("svt_cer", [f"{DATA}/real_train/svt_train_cs"]),
)
READING_SETS = ("synth:n=500,seed=7", "synth:n=500,seed=12,preset=scene")


def ocrlab_eval(checkpoint: str, data: list[str], *extra: str) -> dict:
    argv = ["ocrlab", "eval", checkpoint, "--data", *data, *extra, "--json"]
    done = subprocess.run(
        [".venv/bin/" + argv[0], *argv[1:]], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed:\n{done.stderr[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(shlex.join(argv), "->", {k: row[k] for k in ("cer", "accuracy") if k in row})
    return {"command": shlex.join(argv), **row}


def shipped(model: Path) -> dict:
    """The shipped model's numbers on the same commands, from its eval_results.jsonl."""
    rows = [json.loads(line) for line in (model / "eval_results.jsonl").read_text().splitlines()]

    def find(data: str, **want):
        for r in rows:
            if r["data"] == data and all(r.get(k) == v for k, v in want.items()):
                return r
        return None

    out = {"source": str(model / "eval_results.jsonl")}
    for key, (data, *rest) in CTC_SETS:
        labels = rest[rest.index("--labels") + 1] if "--labels" in rest else None
        r = find(data, decoder="greedy", labels=labels)
        if r:
            out[key] = round(r["accuracy" if "accuracy" in key else "cer"], 4)
    for spec in READING_SETS:
        r = find(spec, decoder="greedy")
        if r and "reading" in r:
            out[f"reading {spec}"] = {
                k: round(r["reading"][k], 4)
                for k in ("lm_cer", "query_info", "query_cosine", "char_coverage")
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="the training run folder (its checkpoints/last)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--what", required=True, help="one sentence: what the candidate is")
    ap.add_argument("--shipped", type=Path, default=Path("models/ocrlab-small-v6"))
    args = ap.parse_args()
    ckpt = str(args.run / "checkpoints" / "last")
    results = {
        "what": args.what,
        "shipped_same_commands": shipped(args.shipped),
        "evals": [ocrlab_eval(ckpt, data) for _, data in CTC_SETS],
        "reading": [ocrlab_eval(ckpt, [spec], "--reading") for spec in READING_SETS],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.jsonl", "run.json"):
        shutil.copy(args.run / name, args.out / name)
    write_json(args.out / "results.json", results)
    print(f"-> {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
