"""Pretrain the small embedded character LM on ocrlab's own text source.

The OCR model needs a frozen causal LM, and nothing may download at run time, so ocrlab makes one:
a GPT-2- or Llama-style model over the charset's characters (:func:`build_char_tokenizer`),
trained on generated text lines and saved in Hugging Face format, so that
``AutoModelForCausalLM.from_pretrained(out_dir)`` and ``AutoTokenizer.from_pretrained(out_dir)``
load it offline like any hub LM.

Each line is one training sequence ``<bos> chars <eos>``: the OCR model's LM sees one line at a
time too. Quality is measured as held-out perplexity per character against the character-unigram
perplexity of the same held-out text (see :func:`unigram_perplexity`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ocrlab.charset import Charset
from ocrlab.data.text import WordfreqText, make_text_source
from ocrlab.errors import OcrlabError
from ocrlab.files import atomic_dir

from .tokenizer import build_char_tokenizer

# transformers (the `model` extra) is imported in the functions that build or load an LM, so
# the text sampling and the report helpers here work without it.

__all__ = [
    "ARCHS",
    "EVAL_OFFSET",
    "SIZES",
    "build_char_lm",
    "evaluate_perplexity",
    "pretrain_char_lm",
    "unigram_perplexity",
]

ARCHS = ("gpt2", "llama")

SIZES: dict[str, dict[str, int]] = {
    # CPU default: ~3.3 M parameters, a few minutes of training on 2 cores.
    "small": {"layers": 4, "hidden": 256, "heads": 4, "intermediate": 1024, "context": 128},
    # Tests: trains in seconds.
    "tiny": {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128, "context": 64},
}

DEFAULT_STEPS = {"small": 2000, "tiny": 200}

EVAL_OFFSET = 1_000_000_000
"""Held-out lines are the text source's lines from this index on; training reads from index 0.
A deterministic source of effectively unbounded lines (``WordfreqText``) never repeats a line
index, so the two never share a sample (a small corpus file can still repeat identical lines)."""


def build_char_lm(arch: str, size: str, tokenizer: Any) -> nn.Module:
    """A randomly initialized causal LM of ``arch`` ("gpt2" | "llama") and ``size`` (see
    :data:`SIZES`) whose vocabulary and special-token ids are the tokenizer's."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    if arch not in ARCHS:
        raise OcrlabError(f"unknown LM architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if size not in SIZES:
        raise OcrlabError(f"unknown LM size {size!r}; choose one of {', '.join(SIZES)}")
    s = SIZES[size]
    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gpt2":
        config = GPT2Config(
            n_layer=s["layers"],
            n_embd=s["hidden"],
            n_head=s["heads"],
            n_inner=s["intermediate"],
            n_positions=s["context"],
            # Generated text is unlimited, so the LM never sees a line twice: no dropout needed.
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **ids,
        )
        return GPT2LMHeadModel(config)
    config = LlamaConfig(
        num_hidden_layers=s["layers"],
        hidden_size=s["hidden"],
        num_attention_heads=s["heads"],
        num_key_value_heads=s["heads"],
        intermediate_size=s["intermediate"],
        max_position_embeddings=s["context"],
        tie_word_embeddings=True,  # a small vocabulary: tying saves parameters, as in GPT-2
        **ids,
    )
    return LlamaForCausalLM(config)


def _line_batch(
    tokenizer: Any, texts: Sequence[str], max_len: int, *, eos: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """``<bos> text [<eos>]`` per line, cut to ``max_len`` tokens and right-padded.

    Returns ids (B, L), mask (B, L) long 1 = real token, labels (B, L) with -100 on padding and
    on the leading BOS, and the characters each line kept (fewer than ``len(text)`` when cut).
    """
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    rows = [
        ([start, *ids] + ([tokenizer.eos_token_id] if eos else []))[:max_len] for ids in encoded
    ]
    L = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(rows), L), pad, dtype=torch.long)  # (B, L)
    mask = torch.zeros((len(rows), L), dtype=torch.long)  # (B, L)
    labels = torch.full((len(rows), L), -100, dtype=torch.long)  # (B, L)
    kept = []
    for b, (r, text, full) in enumerate(zip(rows, texts, encoded, strict=True)):
        ids[b, : len(r)] = torch.tensor(r)
        mask[b, : len(r)] = 1
        labels[b, 1 : len(r)] = torch.tensor(r[1:])
        cut = len(r) - 1 < len(full)
        kept.append(len(tokenizer.decode(r[1 : len(r)])) if cut else len(text))
    return ids, mask, labels, kept


@torch.no_grad()
def evaluate_perplexity(
    model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int = 64
) -> float:
    """Perplexity per character of ``texts`` under a causal LM.

    Each line is scored as ``<bos> text`` (GPT-2-style tokenizers without BOS start from EOS):
    the summed negative log-likelihood of the text's tokens, divided by the number of characters
    (code points), exponentiated. The line-ending EOS is not scored, so the number is comparable
    with :func:`unigram_perplexity` over the same characters; with the char tokenizer it is the
    plain per-token perplexity, and with a sub-word tokenizer it is still per character.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    max_len = model.config.max_position_embeddings  # GPT2Config aliases n_positions
    nll, chars = 0.0, 0
    for i in range(0, len(texts), batch_size):
        chunk = [t for t in texts[i : i + batch_size] if t]
        if not chunk:
            continue
        ids, mask, labels, kept = _line_batch(tokenizer, chunk, max_len, eos=False)
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)  # (B, L)
        logits = model(input_ids=ids, attention_mask=mask).logits  # (B, L, V)
        # The model's own loss is a mean; the sum is needed here, so shift by hand:
        # logits at t predict the token at t + 1.
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, L-1, V)
        target = labels[:, 1:]  # (B, L-1)
        scored = target != -100
        picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, L-1)
        nll -= picked[scored].sum().item()
        chars += sum(kept)
    model.train(was_training)
    if chars == 0:
        raise OcrlabError("evaluate_perplexity: no characters to score (all texts empty)")
    return math.exp(nll / chars)


def unigram_perplexity(texts: Sequence[str]) -> float:
    """Perplexity per character of ``texts`` under the character-unigram model fitted on those
    same texts: the lowest perplexity any context-free character model can reach on them, so an
    LM that beats it has learned context, not just character frequencies."""
    counts = Counter(ch for t in texts for ch in t)
    n = sum(counts.values())
    if n == 0:
        raise OcrlabError("unigram_perplexity: no characters (all texts empty)")
    return math.exp(-sum(c * math.log(c / n) for c in counts.values()) / n)


def _text_sampler(text_source: Any, lang: str, seed: int) -> tuple[Callable[[int], str], str]:
    """(index -> line, description) for a text source object, a spec string or None."""
    if text_source is None or isinstance(text_source, str):
        if text_source is None:
            text_source = WordfreqText(lang=lang, seed=seed)
            described = f"WordfreqText(lang={lang!r}, seed={seed})"
        else:
            described = text_source
            text_source = make_text_source(text_source, seed=seed)
    else:
        described = repr(text_source)
    sample = getattr(text_source, "sample", None)
    if sample is None and not callable(text_source):
        raise OcrlabError(f"text source {described} has neither .sample(i) nor __call__(i)")
    return (sample or text_source), described


def _default_charset(lang: str) -> Any:
    return Charset.preset("ja" if lang == "ja" else "latin")


def _save_lm(folder: Path, model: Any, tokenizer: Any, report: dict[str, Any]) -> None:
    """The LM folder: weights (safetensors), tokenizer, and ``lm_report.json``."""
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "lm_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def pretrain_char_lm(
    out_dir: str | os.PathLike[str],
    arch: str = "gpt2",
    size: str = "small",
    steps: int | None = None,
    seed: int = 0,
    lang: str = "en",
    *,
    text_source: Any = None,
    charset: Any = None,
    batch_size: int = 64,
    lr: float | None = None,
    warmup: int | None = None,
    eval_lines: int = 1000,
    device: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Train a small causal character LM and save it (model + tokenizer + ``lm_report.json``).

    Args:
        out_dir: the directory to write; refused if it exists unless ``overwrite``. Written to a
            temporary sibling first and renamed, so a crash never leaves a half-written LM.
        arch: "gpt2" or "llama".
        size: "small" (CPU default: 4 layers x 256, context 128) or "tiny" (tests).
        steps: optimizer steps (default 2000 for small, 200 for tiny).
        seed: seeds the weights and the default text source.
        lang: language of the default text source and charset ("en" -> ``latin``, "ja" -> ``ja``).
        text_source: None (``WordfreqText(lang, seed)``), a spec string for
            ``ocrlab.data.text.make_text_source`` ("corpus:/path.txt"), or any object with
            ``.sample(i) -> str`` or ``__call__(i) -> str``.
        charset: a ``Charset``, a string of characters or None (the ``lang`` preset). Texts are
            passed through ``charset.normalize`` when it has one; characters still outside it
            become ``<unk>`` (counted in the report as ``unk_rate``).
        batch_size: lines per step.
        lr: peak AdamW learning rate (default 3e-3 tiny, 1e-3 small), cosine decay after
            ``warmup`` steps (default 5% of steps).
        eval_lines: held-out lines for the perplexity comparison.
        device: torch device; default CUDA when available, else CPU.
        progress: show a tqdm bar.
        command: recorded in the report (the CLI passes its command line).

    Returns:
        The report also written to ``out_dir/lm_report.json``: held-out ``perplexity`` and
        ``unigram_perplexity`` per character, ``beats_unigram``, the configuration, parameter
        count, timing and the command.
    """
    from transformers import get_cosine_schedule_with_warmup

    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise OcrlabError(
            f"{out_dir} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    if size not in SIZES:
        raise OcrlabError(f"unknown LM size {size!r}; choose one of {', '.join(SIZES)}")
    steps = DEFAULT_STEPS[size] if steps is None else steps
    if steps < 1:
        raise OcrlabError(f"steps must be >= 1, got {steps}")
    lr = (3e-3 if size == "tiny" else 1e-3) if lr is None else lr
    warmup = max(1, steps // 20) if warmup is None else warmup
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    sample, text_described = _text_sampler(text_source, lang, seed)
    charset = _default_charset(lang) if charset is None else charset
    normalize = getattr(charset, "normalize", lambda t: t)
    tokenizer = build_char_tokenizer(charset)

    def line(i: int) -> str:
        return normalize(sample(i))

    torch.manual_seed(seed)
    model = build_char_lm(arch, size, tokenizer).to(device)
    context = SIZES[size]["context"]
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.95),
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, steps)

    unk = tokenizer.unk_token_id
    unk_count, token_count = 0, 0
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(steps), desc=f"pretrain {arch}-{size}", disable=not progress)
    for step in bar:
        texts = [line(step * batch_size + i) for i in range(batch_size)]
        ids, mask, labels, _ = _line_batch(tokenizer, texts, context, eos=True)
        unk_count += int((ids == unk).sum())
        token_count += int((labels != -100).sum())
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)  # (B, L)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    train_seconds = time.perf_counter() - start

    heldout = [line(EVAL_OFFSET + i) for i in range(eval_lines)]
    ppl = evaluate_perplexity(model, tokenizer, heldout)
    uni = unigram_perplexity(heldout)
    tail = losses[-max(1, steps // 10) :]
    report: dict[str, Any] = {
        "command": command
        or f"pretrain_char_lm({str(out_dir)!r}, arch={arch!r}, size={size!r}, "
        f"steps={steps}, seed={seed}, lang={lang!r})",
        "arch": arch,
        "size": size,
        "model": SIZES[size],
        "params": n_params,
        "vocab_size": len(tokenizer),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "warmup": warmup,
        "seed": seed,
        "lang": lang,
        "text_source": text_described,
        "device": device,
        "train_seconds": round(train_seconds, 2),
        "final_train_loss": sum(tail) / len(tail),
        "unk_rate": unk_count / max(1, token_count),
        "heldout_lines": len(heldout),
        "heldout_chars": sum(len(t) for t in heldout),
        "perplexity": ppl,
        "unigram_perplexity": uni,
        "beats_unigram": ppl < uni,
        "note": "per-character perplexity of held-out lines (EOS not scored); the unigram "
        "baseline is fitted on the held-out text itself, the best any context-free model can do",
    }

    model = model.to("cpu")
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    with atomic_dir(out_dir) as tmp:
        _save_lm(tmp, model, tokenizer, report)
        if out_dir.exists() and not overwrite:
            raise OcrlabError(f"{out_dir} appeared while training; not overwriting it")
    return report


def convert_lm_dtype(lm_dir: str | os.PathLike[str], dtype: str = "float16") -> dict[str, Any]:
    """Store a pretrained LM's weights in ``dtype`` (half the bytes for float16), then measure
    the held-out perplexity again with the stored weights (read back as float32, as the OCR
    model's ``LMConfig.dtype`` loads them) and record both in ``lm_report.json``.

    The frozen LM only scores text during training, so rounding its weights once is harmless
    when the perplexity barely moves — the report shows whether it did.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm_dir = Path(lm_dir)
    report_path = lm_dir / "lm_report.json"
    if not report_path.is_file():
        raise OcrlabError(
            f"{lm_dir} holds no lm_report.json: not an LM made by `ocrlab lm pretrain`"
        )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    torch_dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
    if dtype not in torch_dtype:
        raise OcrlabError(f"dtype {dtype!r}; choose one of {', '.join(torch_dtype)}")
    model = AutoModelForCausalLM.from_pretrained(lm_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(lm_dir, local_files_only=True)
    sample, _ = _text_sampler(None, report["lang"], report["seed"])
    normalize = getattr(_default_charset(report["lang"]), "normalize", lambda t: t)
    heldout = [normalize(sample(EVAL_OFFSET + i)) for i in range(report["heldout_lines"])]
    model = model.to(torch_dtype[dtype])
    rounded = AutoModelForCausalLM.from_config(model.config).float()
    rounded.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    report["saved_dtype"] = dtype
    report["perplexity_saved_weights"] = evaluate_perplexity(rounded.eval(), tokenizer, heldout)

    with atomic_dir(lm_dir) as tmp:
        _save_lm(tmp, model, tokenizer, report)
    return report
