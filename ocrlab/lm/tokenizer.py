"""A character tokenizer for the embedded LM: one token per character, spaces included.

An OCR charset is small (95 characters for ``latin``, a few thousand for ``ja``), so the embedded LM
reads characters, not sub-words: its per-token perplexity is a per-character perplexity and every
charset character is reachable. The tokenizer is a Hugging Face ``PreTrainedTokenizerFast`` built
on a ``tokenizers`` WordLevel model, so ``save_pretrained`` / ``AutoTokenizer.from_pretrained``
work like for any other LM.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ocrlab.errors import OcrlabError

# tokenizers and transformers (the `model` extra) are imported where the tokenizer is built.

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from ocrlab.charset import Charset

__all__ = ["SPECIAL_TOKENS", "build_char_tokenizer"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
"""Ids 0..3 of every char tokenizer, in this order; characters follow from id 4."""


def build_char_tokenizer(
    charset_or_chars: Charset | str | Sequence[str],
) -> PreTrainedTokenizerFast:
    """Build a tokenizer with one token per character of ``charset_or_chars``.

    ``charset_or_chars``: a :class:`~ocrlab.charset.Charset` (its ``.chars``), a string (each
    character) or a sequence of characters. Ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>``
    3, then the characters in the given order. Encoding adds no special tokens (callers add BOS /
    EOS where they want them); a character outside the vocabulary becomes ``<unk>``.
    ``decode(encode(t)) == t`` for every text of vocabulary characters, spaces included.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = list(getattr(charset_or_chars, "chars", charset_or_chars))
    if not chars:
        raise OcrlabError("build_char_tokenizer: no characters given")
    seen: set[str] = set()
    for ch in chars:
        if not isinstance(ch, str) or not ch:
            raise OcrlabError(f"build_char_tokenizer: {ch!r} is not a non-empty string")
        if ch in seen or ch in SPECIAL_TOKENS:
            raise OcrlabError(f"build_char_tokenizer: character {ch!r} appears twice")
        seen.add(ch)
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *chars])}

    # Every code point is a piece ([\s\S] also matches newlines, which "." would not); a charset
    # "character" of several code points (a base + combining mark) is matched first, whole.
    multi = sorted((c for c in chars if len(c) > 1), key=len, reverse=True)
    pattern = "|".join([*(re.escape(c) for c in multi), r"[\s\S]"])
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    # Fuse joins the pieces with nothing between them; WordLevel's default would insert spaces.
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
        model_max_length=1_000_000,
    )
