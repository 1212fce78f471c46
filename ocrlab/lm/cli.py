"""``ocrlab lm ...`` subcommands. The lead's ``ocrlab/cli.py`` calls :func:`add_lm_commands`."""

from __future__ import annotations

import argparse
import shlex
import sys

# Each subcommand imports what it runs inside its handler: building the parser (`--help`, an
# argument error) loads neither torch nor transformers, and one command does not pay for
# another's dependencies (the optional extras among them).


def add_lm_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lm pretrain`` to the ``ocrlab`` parser's subcommands (handlers return an exit code)."""
    lm = subparsers.add_parser("lm", help="the embedded causal language model")
    lsub = lm.add_subparsers(dest="lm_command", required=True)
    pre = lsub.add_parser(
        "pretrain",
        help="train the small character LM the OCR model's LM loss uses, and save it",
        description="Trains a GPT-2- or Llama-style character LM on ocrlab's text source and saves "
        "it in Hugging Face format (loadable offline with AutoModelForCausalLM.from_pretrained), "
        "with lm_report.json: held-out perplexity per character vs a unigram baseline.",
    )
    pre.add_argument("--out", required=True, help="output directory, e.g. models/ocrlab-charlm")
    pre.add_argument("--arch", choices=["gpt2", "llama"], default="gpt2")
    pre.add_argument("--size", choices=["small", "tiny"], default="small")
    pre.add_argument("--steps", type=int, default=None, help="default: 2000 small, 200 tiny")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--lang", default="en", help="text source and charset language (en, ja)")
    pre.add_argument("--text", default=None, help="text source spec, e.g. corpus:/path.txt")
    pre.add_argument("--charset", default=None, help="charset preset (default: from --lang)")
    pre.add_argument("--batch-size", type=int, default=64)
    pre.add_argument("--lr", type=float, default=None)
    pre.add_argument("--eval-lines", type=int, default=1000)
    pre.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    pre.set_defaults(func=_cmd_lm_pretrain)

    conv = lsub.add_parser(
        "convert",
        help="store an LM's weights in another dtype and re-measure its perplexity",
    )
    conv.add_argument("lm_dir")
    conv.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    conv.set_defaults(func=_cmd_lm_convert)


def _cmd_lm_convert(args: argparse.Namespace) -> int:
    from .pretrain import convert_lm_dtype

    report = convert_lm_dtype(args.lm_dir, args.dtype)
    print(
        f"stored {args.lm_dir} in {args.dtype}: held-out perplexity "
        f"{report['perplexity']:.3f} -> {report['perplexity_saved_weights']:.3f}"
    )
    return 0


def _cmd_lm_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import pretrain_char_lm

    charset = None
    if args.charset is not None:
        from ocrlab.charset import Charset

        charset = Charset.preset(args.charset)
    report = pretrain_char_lm(
        args.out,
        arch=args.arch,
        size=args.size,
        steps=args.steps,
        seed=args.seed,
        lang=args.lang,
        text_source=args.text,
        charset=charset,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_lines=args.eval_lines,
        device=args.device,
        overwrite=args.overwrite,
        command=shlex.join(["ocrlab", *sys.argv[1:]]),
    )
    verdict = "beats" if report["beats_unigram"] else "does NOT beat"
    print(
        f"wrote {args.out}: held-out perplexity {report['perplexity']:.2f} per character "
        f"({verdict} the unigram baseline {report['unigram_perplexity']:.2f}); "
        f"{report['params']:,} parameters, {report['train_seconds']:.0f} s"
    )
    return 0
