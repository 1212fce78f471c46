"""Helpers shared by several test files (imported as ``from helpers import ...``)."""

from __future__ import annotations

import string
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ocrlab.lm import build_char_tokenizer

CHARS = string.printable[:95]  # the latin preset's characters


def save_tiny_lm(arch: str, out: Path) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = build_char_tokenizer(CHARS)
    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=128, **ids))
    else:
        config = LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=128,
            **ids,
        )
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def line_image(text: str, w: int = 60, h: int = 20) -> Image.Image:
    img = Image.new("RGB", (w, h), "white")
    ImageDraw.Draw(img).text((2, 4), text, fill="black")
    return img


def make_folder(root, rows, *, extra: str = "", labels: str = "labels.tsv"):
    """Write images for ``rows`` [(relpath, text)] and a labels.tsv (``extra`` appended raw)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (rel, text) in enumerate(rows):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        line_image(text or "x", w=40 + 10 * i).save(path)
        lines.append(f"{rel}\t{text}\n")
    (root / labels).write_text("".join(lines) + extra, encoding="utf-8")
    return root
