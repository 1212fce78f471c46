"""ONNX export of the CTC path: numerics against PyTorch, dynamic axes, the self-contained
file, the onnxruntime recognizer, int8 quantization, the CLI, and bad files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ocrlab.charset import Charset
from ocrlab.cli import main
from ocrlab.data.synth import render_line
from ocrlab.export import (
    CTCInference,
    ExportError,
    OnnxRecognizer,
    export_onnx,
    max_logit_difference,
    quantize_int8,
    weights_fingerprint,
)
from ocrlab.models import DEFAULT_CHECKPOINT, OCRModel
from ocrlab.run_config import load_run_config

TEXTS = ["Hello world", "ok", "12.50 EUR", "The quick brown fox jumps", "a"]


def tiny_model(lm_path: str | None = None, context: str = "bilstm", seed: int = 0) -> OCRModel:
    config = load_run_config("configs/tiny.yaml").model
    config.encoder.context = context
    if lm_path is None:
        config.qformer.enabled = False
    else:
        config.lm.name_or_path = lm_path
    torch.manual_seed(seed)
    model = OCRModel(config).eval()
    # Trained-looking BatchNorm statistics, so that folding them into the convs is tested.
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) * 0.4 - 0.2)
    return model


def lines(n: int = len(TEXTS)):
    return [render_line(t, seed=i, degrade=False, look="document") for i, t in enumerate(TEXTS)][:n]


@pytest.fixture(scope="module")
def model(tiny_lm) -> OCRModel:
    """A tiny model *with* a Q-Former and LM: the export must leave them out."""
    return tiny_model(tiny_lm)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory) -> Path:
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def test_logits_match_pytorch_across_widths_and_batch_sizes(model, exported):
    # widths from one frame (4 px) to 512 px, batches of 1..8 lines of mixed widths
    diff = max_logit_difference(
        model, exported, widths=(4, 8, 37, 128, 300, 512), batch_sizes=(1, 3, 8)
    )
    assert diff < 1e-4


def test_graph_has_dynamic_axes_no_batchnorm_and_no_qformer(model, exported):
    proto = onnx.load(str(exported))
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*proto.graph.input, *proto.graph.output]
    }
    assert dims["images"][1:3] == [1, 32]
    assert isinstance(dims["images"][0], str) and isinstance(dims["images"][3], str)
    assert dims["widths"] == [dims["images"][0]]
    assert isinstance(dims["logits"][1], str) and dims["logits"][2] == len(model.charset)
    ops = Counter(n.op_type for n in proto.graph.node)
    assert ops["LSTM"] == 1  # one bidirectional LSTM per layer, with sequence_lens
    assert ops["BatchNormalization"] == 0  # folded into the convolutions
    names = " ".join(i.name for i in proto.graph.initializer)
    assert "qformer" not in names and "lm" not in names.split(".")
    n_weights = sum(int(np.prod(i.dims)) for i in proto.graph.initializer)
    ctc_params = sum(p.numel() for p in [*model.encoder.parameters(), *model.ctc_head.parameters()])
    assert n_weights < 1.2 * ctc_params  # the Q-Former and LM are not in the file


def test_file_stands_alone_with_its_charset(model, exported):
    rec = OnnxRecognizer(exported)
    assert rec.charset == model.charset
    assert rec.height == 32 and rec.stride == 4
    assert rec.metadata["fingerprint"] == weights_fingerprint(model)
    assert rec.quantization == "none"


def test_recognizer_reads_like_ocrmodel_recognize(model, exported):
    images = lines()
    ours = OnnxRecognizer(exported, threads=1).recognize(images, batch_size=2)
    theirs = model.recognize(images, batch_size=2)
    assert [r.text for r in ours] == [r.text for r in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.spans == b.spans
        flat = lambda spans: [x for span in spans for x in span]  # noqa: E731
        assert flat(a.pixel_spans) == pytest.approx(flat(b.pixel_spans))
        assert a.confidence == pytest.approx(b.confidence, rel=1e-3, abs=1e-6)


def test_padding_does_not_change_a_lines_logits(exported):
    rec = OnnxRecognizer(exported, threads=1)
    gen = torch.Generator().manual_seed(1)
    alone = torch.rand(1, 1, 32, 40, generator=gen) * 2 - 1
    wide = torch.ones(2, 1, 32, 200)  # padding is normalized white
    wide[0, :, :, :40] = alone[0]
    wide[1] = torch.rand(1, 32, 200, generator=gen) * 2 - 1
    a, la = rec.run(alone.numpy(), np.array([40]))
    b, lb = rec.run(wide.numpy(), np.array([40, 200]))
    assert la.tolist() == [10] and lb.tolist() == [10, 50]
    assert np.abs(a[0] - b[0, :10]).max() < 1e-5


def test_given_charset_must_fit_the_output(exported):
    same_size = Charset([chr(0x100 + i) for i in range(95)], name="other")
    assert OnnxRecognizer(exported, same_size).charset is same_size
    with pytest.raises(ExportError, match=r"outputs 96 classes but charset 'alnum36' has 37"):
        OnnxRecognizer(exported, Charset.preset("alnum36"))


def test_bad_files_get_clear_errors(tmp_path, exported):
    with pytest.raises(ExportError, match="ONNX file not found"):
        OnnxRecognizer(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf \x00\xff" * 10)
    with pytest.raises(ExportError, match=r"junk\.onnx: not a readable ONNX file"):
        OnnxRecognizer(junk)
    # an ONNX file from another model: valid, but not an ocrlab export
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "other", [x], [y])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(other))
    with pytest.raises(ExportError, match=r"other\.onnx: not an ocrlab CTC export"):
        OnnxRecognizer(other)
    rec = OnnxRecognizer(exported)
    with pytest.raises(ExportError, match=r"W a multiple of 4, got \(1, 1, 32, 30\)"):
        rec.run(np.zeros((1, 1, 32, 30), np.float32), np.array([30]))


def test_int8_quantizes_matmul_and_lstm_and_keeps_metadata(model, exported, tmp_path):
    int8 = quantize_int8(exported, tmp_path / "tiny.int8.onnx")
    ops = Counter(n.op_type for n in onnx.load(str(int8)).graph.node)
    assert ops["DynamicQuantizeLSTM"] == 1 and ops["LSTM"] == 0
    assert ops["MatMulInteger"] == 2  # projection + CTC head
    assert ops["ConvInteger"] == 0  # convolutions stay fp32
    rec = OnnxRecognizer(int8, threads=1)
    assert "int8" in rec.quantization and "LSTM" in rec.quantization
    assert rec.metadata["fingerprint"] == weights_fingerprint(model)
    # int8 changes the numbers, but only a little relative to their spread
    images = torch.rand(2, 1, 32, 96) * 2 - 1
    widths = torch.tensor([96, 50])
    got, _ = rec.run(images.numpy(), widths.numpy())
    with torch.inference_mode():
        want = model(images, widths).ctc_logits.numpy()
    assert np.abs(got - want).max() < 0.1 * (want.max() - want.min())


@pytest.mark.parametrize("context", ["transformer", "none"])
def test_export_module_matches_other_context_stages(context):
    model = tiny_model(context=context)
    module = CTCInference(model)
    images = torch.rand(3, 1, 32, 64) * 2 - 1
    widths = torch.tensor([64, 30, 1])
    with torch.inference_mode():
        want = model(images, widths)
        logits, lengths = module(images, widths)
    assert lengths.tolist() == want.lengths.tolist() == [16, 8, 1]
    assert torch.allclose(logits, want.ctc_logits, atol=1e-5)


def test_cli_export_with_int8(tmp_path, capsys):
    checkpoint = tiny_model(seed=3).save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "out" / "model.onnx"
    # the TorchScript exporter keeps this test fast; the dynamo path is tested above
    assert main(["export", str(checkpoint), "--out", str(out), "--int8", "--torchscript"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "(ok)" in text
    assert (tmp_path / "out" / "model.int8.onnx").is_file()
    assert OnnxRecognizer(out).charset == Charset.preset("latin")
    assert main(["export", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_shipped_model_exports_within_1e_4(tmp_path):
    model = OCRModel.from_pretrained(DEFAULT_CHECKPOINT)
    path = export_onnx(model, tmp_path / "small.onnx")
    assert max_logit_difference(model, path, widths=(16, 256), batch_sizes=(1, 4)) < 1e-4
    images = lines(3)
    assert [r.text for r in OnnxRecognizer(path).recognize(images)] == [
        r.text for r in model.recognize(images)
    ]
