"""Official checkpoints -> our modules: key mapping for CR-FIQA, MagFace, ViT-FIQA and DifFIQA(R) weights.

A user holding those published files can load them here, then export and serve them like our own models.
Each layout is a list of (official prefix, our prefix) renames plus keys to drop; ``from_official`` applies
them and loads strictly (a missing or unexpected key is an error, not a silent partial load), and
``to_official`` writes our weights in the official layout (used by the tests, and to hand weights back).

Layouts, as the official code bases name their parameters:
- ``crfiqa``: insightface iResNet-50/100 names plus the ``qs`` quality head, often saved from
  DistributedDataParallel (``module.`` prefix).
- ``magface``: iResNet-100 inside MagFace's builder: ``features.module.<iresnet key>`` in ``state_dict`` of the
  saved dict (the quality is the embedding norm; no extra head).
- ``vitfiqa``: insightface's face ViT names (``patch_embed.proj``, ``pos_embed``, ``blocks.i.attn.qkv`` ...,
  ``feature.0-3``) plus the quality token and ``qs`` head; the unused ``mask_token`` is dropped.
- ``diffiqa_r``: an iResNet backbone under ``backbone.`` and the regression MLP under ``head.`` (the layout of
  our ``QualityRegressor``, which mirrors the DifFIQA(R) description: FR model + regression head).
The exact prefixes of files we could not inspect offline are assumptions stated here; the renames are data,
so a different prefix is a one-line change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from fiqa.models.iresnet import LAYERS, IResNet, IResNetQuality
from fiqa.models.regressor import QualityRegressor
from fiqa.models.vit import PRESETS, ViTConfig, ViTFIQA

# Wrappers that training scripts add around the real module.
WRAPPERS = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class Layout:
    """How an official state_dict's keys relate to ours."""

    renames: tuple[tuple[str, str], ...] = ()  # (official prefix, our prefix), first match wins
    drop: tuple[str, ...] = ()  # official keys (prefixes) with no counterpart in our module
    nested: str | None = None  # the saved dict keeps the weights under this key


LAYOUTS: dict[str, Layout] = {
    "crfiqa": Layout(),
    "magface": Layout(renames=(("features.module.", ""),), nested="state_dict"),
    "vitfiqa": Layout(drop=("mask_token",)),
    "diffiqa_r": Layout(),
}


def unwrap(state: Mapping[str, torch.Tensor], nested: str | None = None) -> dict[str, torch.Tensor]:
    """The bare tensor dict: take ``nested`` if present, strip DataParallel / compile prefixes."""
    if nested and nested in state and isinstance(state[nested], Mapping):
        state = state[nested]
    out = {}
    for key, value in state.items():
        for wrapper in WRAPPERS:
            if key.startswith(wrapper):
                key = key[len(wrapper) :]
        out[key] = value
    return out


def map_keys(state: Mapping[str, torch.Tensor], layout: Layout) -> dict[str, torch.Tensor]:
    """Official keys -> our keys (dropping what has no counterpart)."""
    out = {}
    for key, value in unwrap(state, layout.nested).items():
        if any(key.startswith(prefix) for prefix in layout.drop):
            continue
        for official, ours in layout.renames:
            if key.startswith(official):
                key = ours + key[len(official) :]
                break
        out[key] = value
    return out


def _iresnet_depth(state: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    """Blocks per stage, read from the keys (so iResNet-18/50/100 load without being told which)."""
    depth = []
    for stage in (1, 2, 3, 4):
        blocks = {int(key.split(".")[1]) for key in state if key.startswith(f"layer{stage}.")}
        depth.append(max(blocks) + 1)
    return tuple(depth)


def _iresnet(state: Mapping[str, torch.Tensor], cls: type[IResNet] = IResNet) -> IResNet:
    """An iResNet shaped like ``state``: depth from the block keys, width from conv1, embedding from fc."""
    width = state["conv1.weight"].shape[0] / 64
    return cls(_iresnet_depth(state), embedding=state["fc.weight"].shape[0], width=width)


def build(kind: str, state: Mapping[str, torch.Tensor], preset: str | None = None) -> nn.Module:
    """An empty module shaped for the (already mapped) ``state``; ``preset`` (ViT only) gives the head count."""
    if kind == "crfiqa":
        return _iresnet(state, IResNetQuality)
    if kind == "magface":
        return _iresnet(state)
    if kind == "vitfiqa":
        dim, _, patch, _ = state["patch_embed.proj.weight"].shape
        depth = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
        ratio = state["blocks.0.mlp.fc1.weight"].shape[0] / dim
        heads = PRESETS[preset].heads if preset else PRESETS["vit_s"].heads  # not recoverable from weights
        return ViTFIQA(ViTConfig(patch, dim, depth, heads, ratio, state["feature.3.weight"].shape[0]))
    if kind == "diffiqa_r":
        trunk = {key[len("backbone.") :]: v for key, v in state.items() if key.startswith("backbone.")}
        embedding = trunk["fc.weight"].shape[0]
        return QualityRegressor(_iresnet(trunk), embedding=embedding, hidden=state["head.0.weight"].shape[0])
    raise ValueError(f"unknown checkpoint kind {kind!r}; known: {sorted(LAYOUTS)}")


def from_official(kind: str, checkpoint: Mapping[str, torch.Tensor], preset: str | None = None) -> nn.Module:
    """Our module with the official weights loaded strictly, in eval mode."""
    state = map_keys(checkpoint, LAYOUTS[kind])
    module = build(kind, state, preset)
    module.load_state_dict(state, strict=True)
    return module.eval()


def to_official(kind: str, module: nn.Module, wrap: str = "") -> dict[str, torch.Tensor]:
    """Our weights in the official layout (``wrap``: e.g. ``module.`` as DistributedDataParallel saves)."""
    layout = LAYOUTS[kind]
    out = {}
    for key, value in module.state_dict().items():
        for official, ours in layout.renames:
            if ours and key.startswith(ours):
                key = official + key[len(ours) :]
                break
        else:
            if layout.renames and layout.renames[0][1] == "":
                key = layout.renames[0][0] + key
        out[wrap + key] = value
    if kind == "vitfiqa":
        out[wrap + "mask_token"] = torch.zeros_like(module.quality_token)
    return {layout.nested: out} if layout.nested else out


def load_file(kind: str, path: str, preset: str | None = None) -> nn.Module:
    """Load an official checkpoint file (``torch.load`` with ``weights_only``) into our module."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return from_official(kind, checkpoint, preset)


__all__ = ["LAYERS", "LAYOUTS", "ViTFIQA", "from_official", "load_file", "map_keys", "to_official"]
