"""Weights of a BN-folded MobileFaceNet ONNX graph (the ``fr_feature`` teacher) loaded into our ``MobileFaceNet``.

``fr_feature`` is the paper's MobileFaceNet with every BatchNorm folded into its convolution's bias: 50 Conv,
33 PRelu, 12 Add and a final Reshape. Its convolutions, in graph order, are exactly our ``mobilefacenet``
preset's in module order (stem 2, 15 bottlenecks x 3, expand, global depthwise, linear projection), so each
folded conv maps onto our conv + a BatchNorm that is the identity plus that bias. The result is a PyTorch copy
of the teacher that can be fine-tuned (DifFIQA(R) starts its regressor from the labelling FR network).

The teacher reads BGR with its own normalisation; we fold the change of input (channel order, mean, scale)
into the stem convolution so the copy reads the project's ``PREPROCESS``. Only the stem's zero padding sees a
different constant (a border effect of about 0.004 of one input step), so parity is close, not bit-exact.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from fiqa.models.mobilefacenet import MobileFaceNet, mobilefacenet
from fiqa.models.served import PREPROCESS
from service.registry import Preprocess, Registry


def folded_layers(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """(conv (weight, bias) pairs, PReLU slopes), each in graph order."""
    graph = onnx.load(str(path)).graph
    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    convs, slopes = [], []
    for node in graph.node:
        if node.op_type == "Conv":
            if len(node.input) < 3:
                raise ValueError(f"conv {node.name!r} has no bias: not a BN-folded MobileFaceNet")
            convs.append((tensors[node.input[1]], tensors[node.input[2]]))
        elif node.op_type == "PRelu":
            slopes.append(tensors[node.input[1]].reshape(-1))
        elif node.op_type not in ("Add", "Reshape", "Flatten"):
            raise ValueError(f"unexpected op {node.op_type} in a MobileFaceNet graph")
    return convs, slopes


def input_change(source: Preprocess, target: Preprocess) -> tuple[float, float, bool]:
    """(a, c, reverse): source-normalised input = a * target-normalised input + c, channels reversed if asked."""
    # pixel = target_input / target.scale + target.mean; source_input = (pixel - source.mean) * source.scale
    a = source.scale / target.scale
    c = (target.mean - source.mean) * source.scale
    return a, c, source.channel_order != target.channel_order


def identity_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, bias: np.ndarray) -> None:
    """Make ``bn`` the map x -> x + bias in eval mode."""
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.bias.copy_(torch.from_numpy(bias))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)


def conv_modules(model: MobileFaceNet) -> list[tuple[nn.Conv2d, nn.Module]]:
    """Our (conv, the BatchNorm after it) pairs in the graph's order."""
    blocks = [model.stem[0], model.stem[1]]
    for block in model.blocks:
        blocks.extend(block.body)
    blocks.extend([model.expand, model.gdconv])
    pairs = [(seq[0], seq[1]) for seq in blocks]
    pairs.append((model.project, model.features))
    return pairs


def prelu_modules(model: MobileFaceNet) -> list[nn.PReLU]:
    return [m for m in model.modules() if isinstance(m, nn.PReLU)]


def mobilefacenet_from_onnx(path: Path, source: Preprocess, target: Preprocess) -> MobileFaceNet:
    """Our paper-size MobileFaceNet carrying the ONNX graph's weights, reading ``target``-normalised input."""
    convs, slopes = folded_layers(path)
    model = mobilefacenet("mobilefacenet", embedding=convs[-1][0].shape[0])
    ours, prelus = conv_modules(model), prelu_modules(model)
    if len(convs) != len(ours) or len(slopes) != len(prelus):
        raise ValueError(f"{path}: {len(convs)} convs / {len(slopes)} PReLUs, ours {len(ours)} / {len(prelus)}")
    a, c, reverse = input_change(source, target)
    for index, ((weight, bias), (conv, bn)) in enumerate(zip(convs, ours, strict=True)):
        if index == 0:
            bias = bias + c * weight.sum(axis=(1, 2, 3))
            weight = a * (weight[:, ::-1] if reverse else weight)
        if conv.weight.shape != weight.shape:
            raise ValueError(f"conv {index}: ONNX {weight.shape} vs ours {tuple(conv.weight.shape)}")
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(weight.copy()).reshape(conv.weight.shape))
        identity_bn(bn, bias.astype(np.float32))
    for slope, prelu in zip(slopes, prelus, strict=True):
        with torch.no_grad():
            prelu.weight.copy_(torch.tensor(slope.copy()))
    return model.eval()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="fr_feature", help="a served MobileFaceNet face-recognition model")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path("data/runs/fr_feature_backbone/backbone.pt"))


def main(args: argparse.Namespace) -> int:
    registry = Registry(args.models_dir)
    card = registry[args.model]
    if card.preprocess is None:
        raise SystemExit(f"{args.model}: its card states no preprocessing")
    model = mobilefacenet_from_onnx(registry.file_of(args.model), card.preprocess, PREPROCESS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"preset": "mobilefacenet", "state_dict": model.state_dict(), "source": args.model}, args.out)
    print(f"wrote {args.out}: {args.model} as a MobileFaceNet reading {PREPROCESS.channel_order} input")
    return 0
