"""A leaner graph of the panel-letter recogniser: the same function in fewer operators.

The PP-OCRv4 recogniser in the rapidocr wheel was exported from Paddle op by op. Around most of
its convolutions sit a per-channel scale and shift (`Mul`, `Add`) and a hard-swish spelled as
four element-wise operators (`x * clip(x + 3, 0, 6) / 6`). ONNX Runtime's optimiser folds
neither, and on this CPU a third of the recogniser's time went to those element-wise passes
(its profiler). This module folds the scale and shift into the convolution's weights and bias
and writes each hard-swish as `x * HardSigmoid(x)` (alpha 1/6, beta 1/2: the same function), two
operators instead of four. The outputs match the shipped model's to within 1e-5 on printed
letters (tests/ingest/test_recogniser_graph.py; a few 1e-6 on random inputs); a batch of 8 crops
took 42 ms of CPU instead of 55, and bench/ingest_cpu.py reads the same panels.

Rewriting needs the `onnx` package, whose import alone costs about a second of CPU (ml_dtypes).
So the rewritten model is written once to the user's cache folder (pipeline/user_cache.py, under
ocr/), named by the source model's digest and REWRITE_VERSION, and later processes only load
that file. When the folder cannot be written or the rewrite fails, the shipped model is used:
slower, the same readings (each process tries again, a second's CPU, and says so in a warning).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from pipeline.io.atomic import atomic_path
from pipeline.user_cache import user_cache_dir

log = logging.getLogger(__name__)

REWRITE_VERSION = 1  # bump when the rewrite changes: the cached file's name carries it


def lean_model_path(source: Path) -> Path:
    """The rewritten model for `source`, made on first use; `source` itself if that fails."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = user_cache_dir("ocr") / f"{source.stem}.{digest}.lean{REWRITE_VERSION}.onnx"
    if target.is_file():
        return target
    try:
        # The temp file exists before onnx is imported: an unwritable folder costs nothing more.
        # Parallel workers may race; the last rename wins, with the same bytes.
        with atomic_path(target) as tmp:
            tmp.write_bytes(rewrite_bytes(source.read_bytes()))
    except Exception as exc:  # noqa: BLE001 - any failure leaves the original model, which is correct
        log.warning("panel-letter recogniser: using the original model (%s: %s)", type(exc).__name__, exc)
        return source
    return target


def rewrite_bytes(data: bytes) -> bytes:
    """The serialized model with its convolutions' affine tails folded and hard-swishes fused."""
    import onnx  # only here: see the module docstring

    model = onnx.load_from_string(data)
    _Rewriter(model.graph).run()
    onnx.checker.check_model(model)
    return model.SerializeToString()


class _Rewriter:
    """Graph surgery on one GraphProto; constants become initializers so they can be read."""

    def __init__(self, graph) -> None:
        from onnx import numpy_helper

        self.graph, self.np = graph, numpy_helper
        self.consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.nodes = []
        for node in graph.node:
            attrs = list(node.attribute)
            if node.op_type == "Constant" and len(attrs) == 1 and attrs[0].name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(attrs[0].t)
            else:
                self.nodes.append(node)
        self.outputs = {o.name for o in graph.output}
        self.folded = self.fused = 0

    def run(self) -> None:
        while self._fold_one():
            pass
        for node in list(self.nodes):
            self._fuse_hardswish(node)
        used = {name for node in self.nodes for name in node.input}
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        del self.graph.initializer[:]
        self.graph.initializer.extend(self.np.from_array(np.asarray(v), k) for k, v in self.consts.items() if k in used)

    def _consumers(self, name: str) -> list:
        return [n for n in self.nodes if name in n.input]

    def _scalar(self, name: str) -> float | None:
        value = self.consts.get(name)
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    def _fold_one(self) -> bool:
        """Conv -> Mul/Add by a constant (scalar or per output channel) becomes one Conv."""
        for conv in self.nodes:
            if conv.op_type != "Conv" or conv.input[1] not in self.consts:
                continue
            out = conv.output[0]
            users = self._consumers(out)
            if len(users) != 1 or out in self.outputs or users[0].op_type not in ("Mul", "Add"):
                continue
            op = users[0]
            other = [name for name in op.input if name != out]
            if len(other) != 1 or other[0] not in self.consts:
                continue
            weight = self.consts[conv.input[1]]
            has_bias = len(conv.input) > 2 and conv.input[2] != ""
            if weight.ndim != 4 or (has_bias and conv.input[2] not in self.consts):
                continue  # 2-D convolutions with a constant bias (or none) only
            channels = weight.shape[0]
            k = self.consts[other[0]].astype(np.float32)
            if k.size == 1 and k.ndim <= 4:  # a scalar broadcasts without changing the output's shape
                per_channel = np.full(channels, k.reshape(-1)[0], np.float32)
            elif k.shape in ((channels, 1, 1), (1, channels, 1, 1)):  # one value per output channel
                per_channel = k.reshape(channels)
            else:
                continue
            bias = self.consts[conv.input[2]] if has_bias else np.zeros(channels, np.float32)
            if op.op_type == "Mul":
                weight, bias = weight * per_channel.reshape(channels, 1, 1, 1), bias * per_channel
            else:
                bias = bias + per_channel
            names = (f"{op.output[0]}/lean_w", f"{op.output[0]}/lean_b")
            self.consts[names[0]], self.consts[names[1]] = weight.astype(np.float32), bias.astype(np.float32)
            x = conv.input[0]
            del conv.input[:]
            conv.input.extend([x, *names])
            conv.output[0] = op.output[0]
            self.nodes.remove(op)
            self.folded += 1
            return True
        return False

    def _fuse_hardswish(self, add) -> None:
        """x -> Add(3) -> Clip(0, 6) -> Mul(x, .) -> Div(6) becomes Mul(x, HardSigmoid(x))."""
        if add.op_type != "Add" or add not in self.nodes:
            return
        three = [name for name in add.input if self._scalar(name) == 3.0]
        if len(three) != 1 or len(add.input) != 2:
            return
        x = next(name for name in add.input if name != three[0])
        clips = self._consumers(add.output[0])
        if len(clips) != 1 or clips[0].op_type != "Clip" or len(clips[0].input) != 3:
            return
        clip = clips[0]
        if (self._scalar(clip.input[1]), self._scalar(clip.input[2])) != (0.0, 6.0):
            return
        muls = self._consumers(clip.output[0])
        if len(muls) != 1 or muls[0].op_type != "Mul" or x not in muls[0].input:
            return
        mul = muls[0]
        divs = self._consumers(mul.output[0])
        if len(divs) != 1 or divs[0].op_type != "Div" or self._scalar(divs[0].input[1]) != 6.0:
            return
        div = divs[0]
        from onnx import helper

        gate = helper.make_node("HardSigmoid", [x], [f"{add.output[0]}/lean_gate"], alpha=1 / 6, beta=0.5)
        self.nodes[self.nodes.index(add)] = gate
        self.nodes.remove(clip)
        self.nodes.remove(div)
        del mul.input[:]
        mul.input.extend([x, gate.output[0]])
        mul.output[0] = div.output[0]
        self.fused += 1
