"""ViT-FIQA: a face ViT with a learnable quality token (Atzori, Boutros, Damer 2025).

Patches (P x P, stride P) -> linear embedding + learned positions; a learnable quality token is concatenated
to the patch tokens and the whole sequence runs through pre-norm Transformer encoders. Outputs: the patch
tokens -> FC -> face embedding (trained with a margin-penalty softmax), and the quality token -> regression
head (trained on the certainty ratio). Parameter names follow insightface's face ViT (``patch_embed.proj``,
``pos_embed``, ``blocks.i.attn.qkv`` ...) so official weights map with few renames (``fiqa.checkpoints``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    patch: int
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    embedding: int = 512
    image: int = 112


PRESETS = {
    "vit_tiny": ViTConfig(patch=16, dim=96, depth=4, heads=3, mlp_ratio=2.0),  # CPU-trainable
    "vit_small_cpu": ViTConfig(patch=14, dim=192, depth=6, heads=3),
    "vit_s": ViTConfig(patch=9, dim=512, depth=12, heads=8),  # the paper's ViT-S: patch 9, dim 512, depth 12
}


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attention = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attention @ v).transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU6()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTFIQA(nn.Module):
    """(N, 3, 112, 112) -> (embedding (N, E), quality (N, 1)); ``quality_only`` for the served graph."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        grid = (config.image - config.patch) // config.patch + 1
        self.num_patches = grid * grid
        self.patch_embed = PatchEmbed(config.patch, config.dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, config.dim))
        self.quality_token = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.blocks = nn.ModuleList(Block(config.dim, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim)
        self.feature = nn.Sequential(
            nn.Linear(config.dim * self.num_patches, config.dim, bias=False),
            nn.BatchNorm1d(config.dim),
            nn.Linear(config.dim, config.embedding, bias=False),
            nn.BatchNorm1d(config.embedding),
        )
        self.qs = nn.Linear(config.dim, 1)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.quality_token, std=0.02)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x) + self.pos_embed
        x = torch.cat([self.quality_token.expand(patches.shape[0], -1, -1), patches], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.tokens(x)
        return self.feature(tokens[:, 1:].flatten(1)), self.qs(tokens[:, 0])


class QualityOnly(nn.Module):
    """The served ViT-FIQA graph: only the quality-token head's output."""

    def __init__(self, model: ViTFIQA):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.qs(self.model.tokens(x)[:, 0])


def vit_fiqa(preset: str = "vit_tiny", embedding: int = 512) -> ViTFIQA:
    base = PRESETS[preset]
    return ViTFIQA(ViTConfig(base.patch, base.dim, base.depth, base.heads, base.mlp_ratio, embedding))
