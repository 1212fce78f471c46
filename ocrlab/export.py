"""ONNX export of the CTC reading path (encoder + CTC head; no Q-Former, no LM) and an
onnxruntime recognizer that reads like :meth:`OCRModel.recognize`.

The exported graph::

    images  (B, 1, 32, W) float32, W a multiple of 4, right-padded with normalized white
    widths  (B,) int64 true widths in pixels
    ->
    logits  (B, T, C) float32, T = W / 4, C = len(charset) (blank = 0)
    lengths (B,) int64 real frames per line, ceil(max(width, 1) / 4)

B and W are dynamic. The file stands alone: its ``metadata_props`` hold the charset, the
encoder config, the input height and the frame stride, so :class:`OnnxRecognizer` needs no
checkpoint.

Why a separate module (:class:`CTCInference`) is exported rather than ``OCRModel`` itself:

- ``Encoder.forward`` validates its inputs with data-dependent ``if``s, which ``torch.export``
  cannot trace; the export module computes the same thing without them.
- The BiLSTM reads only real frames through ``pack_padded_sequence``, which does not export:
  a line's backward direction must start at its *last real* frame, not at the padding. Each
  BiLSTM layer becomes one custom op, ``ocrlab::bilstm_layer``, exported as a single ONNX
  ``LSTM`` node (bidirectional, ``sequence_lens`` = the lines' frame counts), which is what
  packing means. In PyTorch the op runs the same thing in plain ops (every line reversed
  within its own length, a one-direction LSTM, reversed back). The op also keeps the width
  symbolic: a traced ``aten.lstm`` fixes the frame count to the example's.
- BatchNorm is folded into the preceding convolution (eval-mode statistics), so the graph has
  no BatchNormalization nodes; onnxruntime would fuse them too, but a folded file is smaller
  and quantizes more simply.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .charset import Charset
from .data.transforms import prepare_lines
from .errors import DataError, OcrlabError
from .files import atomic_file
from .models.ctc import CTCHead, Decoded, greedy_decode
from .models.encoder import Encoder, width_mask
from .models.model import Recognition

# onnx, onnxscript and onnxruntime (the `export` extra) are imported in the functions that use
# them: `ocrlab bench` imports this module for its engines, with or without the extra.

__all__ = [
    "INT8_OP_TYPES",
    "CTCInference",
    "ExportError",
    "OnnxRecognizer",
    "export_onnx",
    "max_logit_difference",
    "quantize_int8",
    "weights_fingerprint",
]

EXPORT_FORMAT = 1
INPUT_NAMES = ("images", "widths")
OUTPUT_NAMES = ("logits", "lengths")
_META_PREFIX = "ocrlab."

INT8_OP_TYPES = ("MatMul", "LSTM")
"""What :func:`quantize_int8` quantizes by default: every MatMul with a constant weight (the
``projection`` Linear(C2 -> d_model) and the CTC head Linear(d_model -> C)) and the LSTM
layers (onnxruntime's ``DynamicQuantizeLSTM``: int8 W and R, fp32 gates). The convolutions stay
fp32: onnxruntime's dynamic ``ConvInteger`` is slower than its fp32 conv on CPU."""


class ExportError(OcrlabError):
    """An ONNX file that cannot be written, read, or does not fit what it is used with."""


# -- the export module ---------------------------------------------------------------------


def _fold_batchnorm(module: nn.Module) -> None:
    """Replace every ``Sequential(Conv2d, BatchNorm2d)`` below ``module`` by one Conv2d with
    the BN's eval-mode scale and shift folded into its weight and bias (in place)."""
    for name, child in module.named_children():
        if (
            isinstance(child, nn.Sequential)
            and len(child) == 2
            and isinstance(child[0], nn.Conv2d)
            and isinstance(child[1], nn.BatchNorm2d)
        ):
            setattr(module, name, fuse_conv_bn_eval(child[0], child[1]))
        else:
            _fold_batchnorm(child)


def _reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, T, d), lengths (B,) -> (B, T, d): frames 0..L-1 of each line in reverse order,
    padded frames (t >= L) left where they are. Its own inverse."""
    B, T, d = x.shape
    t = torch.arange(T, device=x.device)[None, :].expand(B, T)  # (B, T)
    last = lengths[:, None] - 1  # (B, 1)
    index = torch.where(t <= last, last - t, t)  # (B, T)
    return x.gather(1, index[..., None].expand(B, T, d))  # (B, T, d)


def _torch_gate_order(m: torch.Tensor) -> torch.Tensor:
    """(4h, ...) in ONNX's gate order i, o, f, c -> PyTorch's i, f, g(=c), o."""
    i, o, f, c = m.chunk(4)
    return torch.cat([i, f, c, o])


def _onnx_gate_order(m: torch.Tensor) -> torch.Tensor:
    """(4h, ...) in PyTorch's gate order i, f, g, o -> ONNX's i, o, f, c(=g)."""
    i, f, g, o = m.chunk(4)
    return torch.cat([i, o, f, g])


def _bilstm_reference(
    x: torch.Tensor, lengths: torch.Tensor, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """One BiLSTM layer over the real frames only, in plain torch ops.

    x (B, T, I), lengths (B,) >= 1; weights in ONNX's LSTM layout: w (2, 4h, I), r (2, 4h, h),
    b (2, 8h) (input then recurrent bias), direction 0 forward, 1 backward -> (B, T, 2h), zero
    at padded frames. The backward direction starts at each line's last real frame: every
    line is reversed within its own length, run forward, and reversed back, so real frames
    never see padding (what ``pack_padded_sequence`` gives the encoder).
    """
    h = r.shape[-1]
    outs = []
    for k in range(2):
        params = [
            _torch_gate_order(w[k]),
            _torch_gate_order(r[k]),
            _torch_gate_order(b[k, : 4 * h]),
            _torch_gate_order(b[k, 4 * h :]),
        ]
        seq = x if k == 0 else _reverse_within_lengths(x, lengths)
        zeros = seq.new_zeros(1, seq.shape[0], h)  # (1, B, h)
        y, _, _ = torch.lstm(seq, (zeros, zeros), params, True, 1, 0.0, False, False, True)
        outs.append(y if k == 0 else _reverse_within_lengths(y, lengths))  # (B, T, h)
    keep = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]  # (B, T)
    return torch.cat(outs, dim=-1) * keep[..., None].to(x.dtype)  # (B, T, 2h)


@torch.library.custom_op("ocrlab::bilstm_layer", mutates_args=())
def bilstm_layer(
    x: torch.Tensor, lengths: torch.Tensor, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """One BiLSTM layer over real frames (see :func:`_bilstm_reference`), as one opaque op:
    ``torch.export`` then keeps the symbolic width through it (its traced ``aten.lstm`` fixes
    the frame count to the example's), and the exporter writes it as a single ONNX ``LSTM``
    node with ``sequence_lens`` (:func:`_bilstm_layer_onnx`)."""
    return _bilstm_reference(x, lengths, w, r, b)


@bilstm_layer.register_fake
def _(x, lengths, w, r, b):
    return x.new_empty(x.shape[0], x.shape[1], 2 * r.shape[-1])  # (B, T, 2h)


def _bilstm_layer_onnx(x, lengths, w, r, b):
    """ONNX translation of ``ocrlab::bilstm_layer``: a bidirectional LSTM whose
    ``sequence_lens`` make each line's backward pass start at its last real frame (outputs
    past a line's length are 0)."""
    from onnxscript import opset18 as op

    xt = op.Transpose(x, perm=[1, 0, 2])  # (T, B, I)
    lens = op.Cast(lengths, to=6)  # int32, as LSTM's sequence_lens must be
    y, _, _ = op.LSTM(
        xt, w, r, b, lens, hidden_size=r.shape[-1], direction="bidirectional"
    )  # (T, 2, B, h)
    y = op.Transpose(y, perm=[2, 0, 1, 3])  # (B, T, 2, h)
    return op.Reshape(y, op.Constant(value_ints=[0, 0, -1]))  # (B, T, 2h)


class CTCInference(nn.Module):
    """The CTC reading path of an :class:`~ocrlab.models.OCRModel`, in a traceable form.

    forward(images (B, 1, H, W), widths (B,) int64) -> (logits (B, W/4, C), lengths (B,)),
    the same numbers as ``OCRModel.forward(images, widths)``'s ``ctc_logits`` / ``lengths``
    (padded frames included: zero features, so their logits are the head's bias). No input
    checks: callers (:class:`OnnxRecognizer`) build valid batches with ``Collate``.

    Holds copies of the model's weights (BatchNorm folded when ``fold_batchnorm``; BiLSTM
    weights in ONNX's layout, buffers ``lstm_w{i}``, ``lstm_r{i}``, ``lstm_b{i}``); the model
    is not changed. ``opaque_lstm``: run each BiLSTM layer as the ``ocrlab::bilstm_layer``
    custom op (for the dynamo exporter) or inline (for the TorchScript exporter).
    """

    def __init__(self, model: nn.Module, *, fold_batchnorm: bool = True) -> None:
        super().__init__()
        encoder: Encoder = copy.deepcopy(model.encoder).eval()
        if fold_batchnorm:
            _fold_batchnorm(encoder)
        self.config = encoder.config
        self.stem = encoder.stem
        self.stage1, self.stage2, self.stage3 = encoder.stage1, encoder.stage2, encoder.stage3
        self.collapse = encoder.collapse
        self.projection = encoder.projection
        self.head = copy.deepcopy(model.ctc_head.proj)
        self.transformer = self.positions = None
        self.lstm_layers = 0
        self.opaque_lstm = True
        if isinstance(encoder.context, nn.LSTM):
            lstm = encoder.context
            self.lstm_layers = lstm.num_layers
            for i in range(lstm.num_layers):
                get = lambda kind, sfx, i=i: getattr(lstm, f"{kind}_l{i}{sfx}").detach()  # noqa: E731
                w = torch.stack([_onnx_gate_order(get("weight_ih", s)) for s in ("", "_reverse")])
                r = torch.stack([_onnx_gate_order(get("weight_hh", s)) for s in ("", "_reverse")])
                b = torch.stack(
                    [
                        torch.cat(
                            [
                                _onnx_gate_order(get("bias_ih", s)),
                                _onnx_gate_order(get("bias_hh", s)),
                            ]
                        )
                        for s in ("", "_reverse")
                    ]
                )
                self.register_buffer(f"lstm_w{i}", w.clone())  # (2, 4h, I)
                self.register_buffer(f"lstm_r{i}", r.clone())  # (2, 4h, h)
                self.register_buffer(f"lstm_b{i}", b.clone())  # (2, 8h)
        elif encoder.context is not None:
            self.transformer = encoder.context
            self.positions = encoder.positions
        self.eval()

    def forward(self, images: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        W = images.shape[-1]
        widths = widths.clamp(min=1)  # an empty line still gets one position (as Encoder)
        m1 = width_mask(widths, 1, W)  # (B, W)
        m2 = width_mask(widths, 2, W // 2)  # (B, W/2)
        m4 = width_mask(widths, 4, W // 4)  # (B, W/4)
        c2 = m2[:, None, None, :].to(images.dtype)  # (B, 1, 1, W/2)
        c4 = m4[:, None, None, :].to(images.dtype)  # (B, 1, 1, W/4)

        # The same sequence as Encoder.forward (see its padding notes).
        x = images * m1[:, None, None, :].to(images.dtype)  # (B, 1, H, W)
        x = F.relu(self.stem(x)) * c2  # (B, stem, H/2, W/2)
        x = self.stage1(x, c2)  # (B, C0, H/2, W/2)
        x = self.stage2(x, c4)  # (B, C1, H/4, W/4)
        x = self.stage3(x, c4)  # (B, C2, H/8, W/4)
        x = F.relu(self.collapse(x)).squeeze(2)  # (B, C2, W/4)
        keep = m4[..., None].to(images.dtype)  # (B, W/4, 1)
        x = self.projection(x.transpose(1, 2)) * keep  # (B, W/4, d)
        lengths = m4.sum(1)  # (B,)

        layer = torch.ops.ocrlab.bilstm_layer if self.opaque_lstm else _bilstm_reference
        for i in range(self.lstm_layers):
            w, r, b = (getattr(self, f"lstm_{k}{i}") for k in "wrb")
            x = layer(x, lengths, w, r, b) * keep  # (B, T, d)
        if self.transformer is not None:
            x = self.transformer(self.positions(x), src_key_padding_mask=~m4) * keep
        return self.head(x), lengths  # (B, T, C), (B,)


# -- export --------------------------------------------------------------------------------


def weights_fingerprint(model: nn.Module) -> str:
    """SHA-1 of what the exported graph computes with: the encoder + CTC head weights, their
    config and the charset. Stored in the file (``ocrlab.fingerprint``) so that a caller can
    tell whether an ONNX file was exported from a given model."""
    h = hashlib.sha1()
    h.update(json.dumps(asdict(model.encoder.config), sort_keys=True).encode())
    h.update(json.dumps(model.charset.to_dict(), sort_keys=True).encode())
    state = {**model.encoder.state_dict(prefix="encoder."), **model.ctc_head.state_dict()}
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _metadata(model: nn.Module) -> dict[str, str]:
    enc = model.encoder
    return {
        "format": str(EXPORT_FORMAT),
        "fingerprint": weights_fingerprint(model),
        "charset": json.dumps(model.charset.to_dict(), ensure_ascii=False),
        "encoder": json.dumps(asdict(enc.config)),
        "height": str(enc.config.height),
        "stride": str(enc.output_stride),
        "num_classes": str(len(model.charset)),
        "quantization": "none",
    }


def _set_metadata(proto: Any, meta: dict[str, str]) -> None:
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in meta.items():
        full = _META_PREFIX + key
        if full in existing:
            existing[full].value = value
        else:
            entry = proto.metadata_props.add()
            entry.key, entry.value = full, value


@contextlib.contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _without_log_message(fragment: str):
    """Drop root-logger records containing ``fragment`` (onnxruntime's quantizer advises
    shape pre-processing on every call; it is for static QDQ quantization, and its symbolic
    shape inference cannot follow this graph's dynamic width anyway)."""

    def keep(record: logging.LogRecord) -> bool:
        return fragment not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _fix_shape_annotations(proto: Any) -> None:
    """Drop the exporter's intermediate shape annotations (onnxruntime infers its own, and a
    dimension fixed to the example's size would only mislead a reader of the graph) and give
    the outputs' dynamic axes readable names."""
    del proto.graph.value_info[:]
    names = {"logits": ("batch", "frames", None), "lengths": ("batch",)}
    for output in proto.graph.output:
        for dim, name in zip(output.type.tensor_type.shape.dim, names[output.name], strict=True):
            if name is not None:
                dim.Clear()
                dim.dim_param = name


def _check_dynamic(proto: Any, module: CTCInference, example_width: int) -> None:
    """Run the new graph on batch sizes and widths other than the traced example's and
    compare with the module: an axis the exporter fixed by mistake fails here, not later."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    gen = torch.Generator().manual_seed(0)
    for B, W in ((1, 8), (3, example_width + 36)):
        images = torch.rand(B, module.config.in_channels, module.config.height, W, generator=gen)
        widths = torch.tensor([W, 4, W // 2][:B], dtype=torch.long)
        with torch.inference_mode():
            want, want_len = module(images, widths)
        try:
            got, got_len = session.run(None, {"images": images.numpy(), "widths": widths.numpy()})
        except Exception as exc:  # onnxruntime's Fail/InvalidArgument
            raise ExportError(f"the exported graph fails on batch {B}, width {W}: {exc}") from None
        if got.shape != tuple(want.shape) or got_len.tolist() != want_len.tolist():
            raise ExportError(
                f"the exported graph gives logits {got.shape} for batch {B}, width {W}; "
                f"PyTorch gives {tuple(want.shape)}: an axis was not exported as dynamic"
            )
        diff = float(np.abs(got - want.numpy()).max())
        if diff > 1e-3:
            raise ExportError(
                f"the exported graph differs from PyTorch by {diff:.2e} (B={B}, W={W})"
            )


def _save_atomic(proto: Any, path: Path) -> None:
    """Write an ONNX ModelProto as one file (weights inside), via temp file + rename."""
    import onnx

    with atomic_file(path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int | None = None,
    dynamo: bool = True,
    fold_batchnorm: bool = True,
    example_width: int = 64,
) -> Path:
    """Export ``model``'s CTC path (encoder + CTC head) to one self-contained ONNX file.

    Args:
        model: an :class:`~ocrlab.models.OCRModel` (any Q-Former/LM branch is left out).
        path: the ``.onnx`` file to write (atomically; weights inside the file).
        opset: ONNX opset (None: the exporter's default, 18+ for the dynamo exporter).
        dynamo: use ``torch.export`` + onnxscript (torch 2.x's default exporter) with
            ``dynamic_shapes``; False uses the TorchScript exporter with ``dynamic_axes``.
        fold_batchnorm: fold BN into the convolutions first (see the module docstring).
        example_width: width of the example batch that is traced (any multiple of 4; the
            exported axes are dynamic).

    Returns the path. The batch and width axes are dynamic; W must be a multiple of 4 at run
    time (``Collate`` pads to that). Check the numbers with :func:`max_logit_difference`.
    """
    import onnx

    if not hasattr(model, "encoder") or not hasattr(model, "ctc_head"):
        raise ExportError(f"export_onnx needs an OCRModel, got {type(model).__name__}")
    if example_width % 4 or example_width < 8:
        raise ExportError(f"example_width must be a multiple of 4 and >= 8, got {example_width}")
    path = Path(path)
    module = CTCInference(model, fold_batchnorm=fold_batchnorm)
    H = module.config.height
    # B = 2, not 1: torch.export specializes size-1 dimensions to constants.
    images = torch.zeros(2, module.config.in_channels, H, example_width)
    widths = torch.tensor([example_width, example_width // 2], dtype=torch.long)

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=4096)
            quarter = torch.export.Dim("width_div_4", min=1, max=16384)
            with warnings.catch_warnings(), _quiet_logger("torch.onnx"):
                # torch.export's notes on LSTM flat weights, treespecs and a missing
                # torchvision are not actionable here
                warnings.simplefilter("ignore")
                program = torch.onnx.export(
                    module,
                    (images, widths),
                    input_names=list(INPUT_NAMES),
                    output_names=list(OUTPUT_NAMES),
                    opset_version=opset,
                    dynamo=True,
                    dynamic_shapes={"images": {0: batch, 3: 4 * quarter}, "widths": {0: batch}},
                    custom_translation_table={
                        torch.ops.ocrlab.bilstm_layer.default: _bilstm_layer_onnx
                    },
                    optimize=True,
                    verbose=False,
                )
            proto = program.model_proto
            _fix_shape_annotations(proto)
        else:
            module.opaque_lstm = False  # the TorchScript exporter traces aten.lstm itself
            torch.onnx.export(
                module,
                (images, widths),
                str(raw),
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                opset_version=opset or 17,
                dynamo=False,
                dynamic_axes={
                    "images": {0: "batch", 3: "width"},
                    "widths": {0: "batch"},
                    "logits": {0: "batch", 1: "frames"},
                    "lengths": {0: "batch"},
                },
            )
            proto = onnx.load(str(raw))
    _check_dynamic(proto, module, example_width)
    _set_metadata(proto, _metadata(model))
    proto.doc_string = (
        "ocrlab CTC path: images (B,1,H,W) float32 + widths (B,) int64 -> logits (B,W/4,C), "
        "lengths (B,)"
    )
    _save_atomic(proto, path)
    return path


def max_logit_difference(
    model: nn.Module,
    onnx_path: str | os.PathLike,
    *,
    widths: Sequence[int] = (8, 36, 128, 300, 512),
    batch_sizes: Sequence[int] = (1, 3, 8),
    seed: int = 0,
    threads: int | None = None,
) -> float:
    """Largest |logit difference| between PyTorch (``model.forward``) and the ONNX file over
    random batches: for each batch size and widest width, lines of random widths up to it
    (the first exactly that wide), random pixels, padding as ``Collate`` makes it. Real frames
    only (padded frames are compared too, they hold the head's bias on both sides)."""
    rec = OnnxRecognizer(onnx_path, model.charset, threads=threads)
    gen = torch.Generator().manual_seed(seed)
    H = model.config.encoder.height
    worst = 0.0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for B in batch_sizes:
            for W in widths:
                Wp = -(-W // 4) * 4
                w = torch.randint(1, W + 1, (B,), generator=gen)
                w[0] = W
                images = torch.rand(B, 1, H, Wp, generator=gen) * 2 - 1  # (B, 1, H, Wp)
                for b in range(B):
                    images[b, :, :, int(w[b]) :] = 1.0  # normalized white padding
                out = model(images, w)
                logits, lengths = rec.run(images.numpy(), w.numpy())
                if lengths.tolist() != out.lengths.tolist():
                    raise ExportError(
                        f"{onnx_path}: lengths {lengths.tolist()} differ from PyTorch's "
                        f"{out.lengths.tolist()} (batch {B}, width {W})"
                    )
                diff = np.abs(logits - out.ctc_logits.numpy()).max()
                worst = max(worst, float(diff))
    model.train(was_training)
    return worst


# -- int8 ----------------------------------------------------------------------------------


def quantize_int8(
    onnx_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    op_types: Sequence[str] = INT8_OP_TYPES,
    per_channel: bool = True,
) -> Path:
    """Dynamic int8 quantization (onnxruntime.quantization.quantize_dynamic) of an exported
    file: weights of ``op_types`` (default :data:`INT8_OP_TYPES`: MatMul, LSTM) become int8,
    activations are quantized per batch at run time. ``per_channel``: one scale per output
    row (keeps the CTC head and LSTM gates accurate). The ocrlab metadata is copied and
    ``ocrlab.quantization`` records what was done. Writes ``out_path`` atomically."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, out = Path(onnx_path), Path(out_path)
    meta = read_metadata(src)
    with tempfile.TemporaryDirectory() as tmp, _without_log_message("pre-processing"):
        q = Path(tmp) / "int8.onnx"
        quantize_dynamic(
            str(src),
            str(q),
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
        )
        proto = onnx.load(str(q))
    meta["quantization"] = (
        f"dynamic int8 (onnxruntime quantize_dynamic, weights QInt8"
        f"{' per channel' if per_channel else ''}) of {', '.join(op_types)}"
    )
    _set_metadata(proto, meta)
    _save_atomic(proto, out)
    return out


# -- running -------------------------------------------------------------------------------


def read_metadata(path: Path) -> dict[str, str]:
    """The ``ocrlab.*`` metadata of an ONNX file (keys without the prefix)."""
    import onnx

    if not path.is_file():
        raise ExportError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for a bad file
        raise ExportError(f"{path}: not a readable ONNX file ({exc})") from None
    return {
        p.key[len(_META_PREFIX) :]: p.value
        for p in proto.metadata_props
        if p.key.startswith(_META_PREFIX)
    }


class OnnxRecognizer:
    """Reads lines with an ONNX file written by :func:`export_onnx` (or :func:`quantize_int8`),
    through onnxruntime, with the same preprocessing (``LineTransform`` + ``Collate``) and the
    same greedy decoder as :meth:`OCRModel.recognize`, so the texts are the same.

    Args:
        path: the ``.onnx`` file.
        charset: None reads the charset stored in the file; a given one must have as many
            classes as the model's output (else :class:`ExportError`).
        threads: onnxruntime intra-op threads (None: onnxruntime's default, one per core).
        providers: onnxruntime execution providers (default: CPU).

    Raises :class:`ExportError` naming the file when it is missing, not ONNX, not an ocrlab
    export (another model's file), or its inputs/outputs are not this module's.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        charset: Charset | None = None,
        *,
        threads: int | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        meta = read_metadata(self.path)
        if "charset" not in meta or "height" not in meta:
            raise ExportError(
                f"{self.path}: not an ocrlab CTC export (no ocrlab.charset/ocrlab.height "
                "metadata); make one with `ocrlab export CHECKPOINT --out FILE.onnx`"
            )
        if int(meta.get("format", "0")) > EXPORT_FORMAT:
            raise ExportError(f"{self.path}: written by a newer ocrlab (format {meta['format']})")
        self.metadata = meta
        try:
            stored = Charset.from_dict(json.loads(meta["charset"]), source=f"{self.path} metadata")
        except (json.JSONDecodeError, DataError) as exc:
            raise ExportError(f"{self.path}: its stored charset is unreadable ({exc})") from None
        num_classes = int(meta.get("num_classes", len(stored)))
        if charset is not None and len(charset) != num_classes:
            raise ExportError(
                f"{self.path} outputs {num_classes} classes but charset {charset.name!r} has "
                f"{len(charset)} (characters + blank): the file and charset do not match"
            )
        self.charset = charset if charset is not None else stored
        self.height = int(meta["height"])
        self.stride = int(meta.get("stride", "4"))
        self.quantization = meta.get("quantization", "none")

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=list(providers)
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ExportError(f"{self.path}: onnxruntime cannot load it ({exc})") from None
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != list(INPUT_NAMES) or outputs != list(OUTPUT_NAMES):
            raise ExportError(
                f"{self.path}: inputs {inputs} -> outputs {outputs}, expected "
                f"{list(INPUT_NAMES)} -> {list(OUTPUT_NAMES)}"
            )

    def run(self, images: np.ndarray | torch.Tensor, widths: np.ndarray | torch.Tensor):
        """images (B, 1, H, W) float32, W % 4 == 0; widths (B,) -> (logits (B, W/4, C) float32,
        lengths (B,) int64), as numpy arrays."""
        images = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
        widths = np.ascontiguousarray(np.asarray(widths, dtype=np.int64))
        if images.ndim != 4 or images.shape[2] != self.height or images.shape[3] % 4:
            raise ExportError(
                f"{self.path}: input must be (B, 1, {self.height}, W) with W a multiple of 4, "
                f"got {images.shape}"
            )
        logits, lengths = self.session.run(None, {"images": images, "widths": widths})
        return logits, lengths

    def decode(self, logits: np.ndarray, lengths: np.ndarray) -> list[Decoded]:
        """Greedy CTC decoding of (B, T, C) logits: ``ocrlab.models.ctc.greedy_decode``."""
        return greedy_decode(
            CTCHead.log_probs(torch.from_numpy(logits)), torch.from_numpy(lengths), self.charset
        )

    def recognize(
        self,
        images: Sequence[Any],
        *,
        batch_size: int = 32,
        max_width: int | None = 2048,
    ):
        """Read line images (paths, bytes, PIL images or arrays) -> one
        :class:`~ocrlab.models.Recognition` per image, in order, exactly as
        :meth:`OCRModel.recognize` (width-sorted batches, same pixel spans)."""
        lines = prepare_lines(
            images, height=self.height, max_width=max_width, batch_size=batch_size
        )
        results: list[Any] = [None] * len(lines)
        for idx, batch in lines.batches():
            logits, lengths = self.run(batch.images.numpy(), batch.widths.numpy())
            for i, dec in zip(idx, self.decode(logits, lengths), strict=True):
                scale = lines.scale(i)
                results[i] = Recognition.from_decoded(dec, self.stride, scale)
        return results
