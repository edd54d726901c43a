#!/usr/bin/python3
"""Self-contained PyTorch re-implementation of segment-anything's `modeling` package.

Module and parameter names follow the original code (facebookresearch/segment-anything,
`segment_anything/modeling/*.py` and `build_sam.py`), so an official state dict or a fixture's
`weights.pth` loads with `load_state_dict(..., strict=True)`. Also here:

- `build_sam_from_config(cfg)`: a model from a fixture-format config dict (snake_case keys as in
  ../shared/fixtures/sam/*/config.json); `build_sam_vit_b/l/h()` and `SAM_PRESETS` for the
  official shapes (random init; load a checkpoint yourself).
- LoRA as SAMed applies it: an optional dict `{"blocks.{i}.{q,v}.{a,b}": tensor}` (A is [r, C],
  B is [C, r], no scaling) added to the q and v slices of each encoder block's fused qkv output.
- `ResizeLongestSide` (the official transform: PIL bilinear resize of the uint8 image, like
  torchvision's `resize` on a PIL image, which the official code calls) and `Sam.preprocess`
  / `Sam.postprocess_masks`, plus `prepare_input` (uint8 HWC image -> padded NCHW input).
- Prompt-free decoding as SAMed does it: `Sam.decode(..., prompt-free)`: sparse embeddings
  empty [B, 0, C], dense = no_mask_embed expanded.
- A tiny safetensors reader/writer (`load_safetensors`, `save_safetensors`), since the
  `safetensors` package is not installed for Debian's python.

Run `/usr/bin/python3 bench/peer/sam_torch.py [fixture_dir]` to check this implementation against a
fixture folder (default ../shared/fixtures/sam/tiny); it prints one JSON object with the max abs
error per tensor group and exits non-zero if any tensor's max abs error exceeds
--tol * max(1, max|expected|) (tol 1e-5), or if weights.safetensors / weights_hf.safetensors do not
hold exactly the tensors of weights.pth (the latter under HF `SamModel` names).
"""
from __future__ import annotations

import json
import math
import re
import struct
import sys
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# common.py


class MLPBlock(nn.Module):
    def __init__(self, embedding_dim: int, mlp_dim: int, act: Type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class LayerNorm2d(nn.Module):
    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        x = self.weight[:, None, None] * x + self.bias[:, None, None]
        return x


# --------------------------------------------------------------------------------------------
# image_encoder.py


class ImageEncoderViT(nn.Module):
    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        norm_layer: Type[nn.Module] = nn.LayerNorm,
        act_layer: Type[nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        global_attn_indexes: Tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_embed = PatchEmbed(
            kernel_size=(patch_size, patch_size),
            stride=(patch_size, patch_size),
            in_chans=in_chans,
            embed_dim=embed_dim,
        )
        self.pos_embed: Optional[nn.Parameter] = None
        if use_abs_pos:
            self.pos_embed = nn.Parameter(
                torch.zeros(1, img_size // patch_size, img_size // patch_size, embed_dim)
            )
        self.blocks = nn.ModuleList()
        for i in range(depth):
            block = Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                norm_layer=norm_layer,
                act_layer=act_layer,
                use_rel_pos=use_rel_pos,
                rel_pos_zero_init=rel_pos_zero_init,
                window_size=window_size if i not in global_attn_indexes else 0,
                input_size=(img_size // patch_size, img_size // patch_size),
            )
            self.blocks.append(block)
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor, lora: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for i, blk in enumerate(self.blocks):
            blk_lora = None
            if lora is not None and f"blocks.{i}.q.a" in lora:
                p = f"blocks.{i}."
                blk_lora = (lora[p + "q.a"], lora[p + "q.b"], lora[p + "v.a"], lora[p + "v.b"])
            x = blk(x, blk_lora)
        x = self.neck(x.permute(0, 3, 1, 2))
        return x


class Block(nn.Module):
    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_layer: Type[nn.Module] = nn.LayerNorm,
        act_layer: Type[nn.Module] = nn.GELU,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        input_size: Optional[Tuple[int, int]] = None,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            rel_pos_zero_init=rel_pos_zero_init,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = norm_layer(dim)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=act_layer)
        self.window_size = window_size

    def forward(self, x: torch.Tensor, lora=None) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            H, W = x.shape[1], x.shape[2]
            x, pad_hw = window_partition(x, self.window_size)
        x = self.attn(x, lora)
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, pad_hw, (H, W))
        x = shortcut + x
        x = x + self.mlp(self.norm2(x))
        return x


class Attention(nn.Module):
    """Multi-head attention with relative position embeddings (encoder)."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        input_size: Optional[Tuple[int, int]] = None,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if self.use_rel_pos:
            assert input_size is not None
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def _qkv(self, x: torch.Tensor, lora) -> torch.Tensor:
        qkv = self.qkv(x)
        if lora is None:
            return qkv
        # SAMed's _LoRA_qkv: qkv[..., :C] += B_q(A_q(x)); qkv[..., -C:] += B_v(A_v(x))
        a_q, b_q, a_v, b_v = lora
        C = x.shape[-1]
        new_q = F.linear(F.linear(x, a_q), b_q)
        new_v = F.linear(F.linear(x, a_v), b_v)
        return torch.cat([qkv[..., :C] + new_q, qkv[..., C : 2 * C], qkv[..., 2 * C :] + new_v], dim=-1)

    def forward(self, x: torch.Tensor, lora=None) -> torch.Tensor:
        B, H, W, _ = x.shape
        # qkv with shape (3, B, nHead, H * W, C)
        qkv = self._qkv(x, lora).reshape(B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        # q, k, v with shape (B * nHead, H * W, C)
        q, k, v = qkv.reshape(3, B * self.num_heads, H * W, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        if self.use_rel_pos:
            attn = add_decomposed_rel_pos(attn, q, self.rel_pos_h, self.rel_pos_w, (H, W), (H, W))
        attn = attn.softmax(dim=-1)
        x = (attn @ v).view(B, self.num_heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
        x = self.proj(x)
        return x


def window_partition(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    B, H, W, C = x.shape
    pad_h = (window_size - H % window_size) % window_size
    pad_w = (window_size - W % window_size) % window_size
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window_size, window_size, Wp // window_size, window_size, C)
    windows = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, pad_hw: Tuple[int, int], hw: Tuple[int, int]
) -> torch.Tensor:
    Hp, Wp = pad_hw
    H, W = hw
    B = windows.shape[0] // (Hp * Wp // window_size // window_size)
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, Hp, Wp, -1)
    if Hp > H or Wp > W:
        x = x[:, :H, :W, :].contiguous()
    return x


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        rel_pos_resized = F.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1),
            size=max_rel_dist,
            mode="linear",
        )
        rel_pos_resized = rel_pos_resized.reshape(-1, max_rel_dist).permute(1, 0)
    else:
        rel_pos_resized = rel_pos
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos_resized[relative_coords.long()]


def add_decomposed_rel_pos(
    attn: torch.Tensor,
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    q_size: Tuple[int, int],
    k_size: Tuple[int, int],
) -> torch.Tensor:
    q_h, q_w = q_size
    k_h, k_w = k_size
    Rh = get_rel_pos(q_h, k_h, rel_pos_h)
    Rw = get_rel_pos(q_w, k_w, rel_pos_w)
    B, _, dim = q.shape
    r_q = q.reshape(B, q_h, q_w, dim)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, Rh)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, Rw)
    attn = (
        attn.view(B, q_h, q_w, k_h, k_w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    ).view(B, q_h * q_w, k_h * k_w)
    return attn


class PatchEmbed(nn.Module):
    def __init__(
        self,
        kernel_size: Tuple[int, int] = (16, 16),
        stride: Tuple[int, int] = (16, 16),
        padding: Tuple[int, int] = (0, 0),
        in_chans: int = 3,
        embed_dim: int = 768,
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        x = x.permute(0, 2, 3, 1)  # B C H W -> B H W C
        return x


# --------------------------------------------------------------------------------------------
# prompt_encoder.py


class PositionEmbeddingRandom(nn.Module):
    def __init__(self, num_pos_feats: int = 64, scale: Optional[float] = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: torch.Tensor) -> torch.Tensor:
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = 2 * np.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: Tuple[int, int]) -> torch.Tensor:
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        grid = torch.ones((h, w), device=device, dtype=torch.float32)
        y_embed = grid.cumsum(dim=0) - 0.5
        x_embed = grid.cumsum(dim=1) - 0.5
        y_embed = y_embed / h
        x_embed = x_embed / w
        pe = self._pe_encoding(torch.stack([x_embed, y_embed], dim=-1))
        return pe.permute(2, 0, 1)  # C x H x W

    def forward_with_coords(self, coords_input: torch.Tensor, image_size: Tuple[int, int]) -> torch.Tensor:
        coords = coords_input.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        return self._pe_encoding(coords.to(torch.float))  # B x N x C


class PromptEncoder(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: Tuple[int, int],
        input_image_size: Tuple[int, int],
        mask_in_chans: int,
        activation: Type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.num_point_embeddings: int = 4  # pos/neg point + 2 box corners
        point_embeddings = [nn.Embedding(1, embed_dim) for i in range(self.num_point_embeddings)]
        self.point_embeddings = nn.ModuleList(point_embeddings)
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        points = points + 0.5  # Shift to center of pixel
        if pad:
            padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
            padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
            points = torch.cat([points, padding_point], dim=1)
            labels = torch.cat([labels, padding_label], dim=1)
        point_embedding = self.pe_layer.forward_with_coords(points, self.input_image_size)
        point_embedding[labels == -1] = 0.0
        point_embedding[labels == -1] += self.not_a_point_embed.weight
        point_embedding[labels == 0] += self.point_embeddings[0].weight
        point_embedding[labels == 1] += self.point_embeddings[1].weight
        return point_embedding

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        boxes = boxes + 0.5  # Shift to center of pixel
        coords = boxes.reshape(-1, 2, 2)
        corner_embedding = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        corner_embedding[:, 0, :] += self.point_embeddings[2].weight
        corner_embedding[:, 1, :] += self.point_embeddings[3].weight
        return corner_embedding

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        return self.mask_downscaling(masks)

    def _get_batch_size(self, points, boxes, masks) -> int:
        if points is not None:
            return points[0].shape[0]
        elif boxes is not None:
            return boxes.shape[0]
        elif masks is not None:
            return masks.shape[0]
        else:
            return 1

    def _get_device(self) -> torch.device:
        return self.point_embeddings[0].weight.device

    def forward(self, points, boxes, masks) -> Tuple[torch.Tensor, torch.Tensor]:
        bs = self._get_batch_size(points, boxes, masks)
        sparse_embeddings = torch.empty((bs, 0, self.embed_dim), device=self._get_device())
        if points is not None:
            coords, labels = points
            point_embeddings = self._embed_points(coords, labels, pad=(boxes is None))
            sparse_embeddings = torch.cat([sparse_embeddings, point_embeddings], dim=1)
        if boxes is not None:
            box_embeddings = self._embed_boxes(boxes)
            sparse_embeddings = torch.cat([sparse_embeddings, box_embeddings], dim=1)
        if masks is not None:
            dense_embeddings = self._embed_masks(masks)
        else:
            dense_embeddings = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                bs, -1, self.image_embedding_size[0], self.image_embedding_size[1]
            )
        return sparse_embeddings, dense_embeddings


# --------------------------------------------------------------------------------------------
# transformer.py


class TwoWayTransformer(nn.Module):
    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: Type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList()
        for i in range(depth):
            self.layers.append(
                TwoWayAttentionBlock(
                    embedding_dim=embedding_dim,
                    num_heads=num_heads,
                    mlp_dim=mlp_dim,
                    activation=activation,
                    attention_downsample_rate=attention_downsample_rate,
                    skip_first_layer_pe=(i == 0),
                )
            )
        self.final_attn_token_to_image = DecoderAttention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding, image_pe, point_embedding):
        bs, c, h, w = image_embedding.shape
        image_embedding = image_embedding.flatten(2).permute(0, 2, 1)
        image_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = point_embedding
        keys = image_embedding
        for layer in self.layers:
            queries, keys = layer(queries=queries, keys=keys, query_pe=point_embedding, key_pe=image_pe)
        q = queries + point_embedding
        k = keys + image_pe
        attn_out = self.final_attn_token_to_image(q=q, k=k, v=keys)
        queries = queries + attn_out
        queries = self.norm_final_attn(queries)
        return queries, keys


class TwoWayAttentionBlock(nn.Module):
    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: Type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = DecoderAttention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = DecoderAttention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = DecoderAttention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries, keys, query_pe, key_pe):
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            attn_out = self.self_attn(q=q, k=q, v=queries)
            queries = queries + attn_out
        queries = self.norm1(queries)

        q = queries + query_pe
        k = keys + key_pe
        attn_out = self.cross_attn_token_to_image(q=q, k=k, v=keys)
        queries = queries + attn_out
        queries = self.norm2(queries)

        mlp_out = self.mlp(queries)
        queries = queries + mlp_out
        queries = self.norm3(queries)

        q = queries + query_pe
        k = keys + key_pe
        attn_out = self.cross_attn_image_to_token(q=k, k=q, v=queries)
        keys = keys + attn_out
        keys = self.norm4(keys)
        return queries, keys


class DecoderAttention(nn.Module):
    """`Attention` of transformer.py (renamed here only to avoid clashing with the encoder's)."""

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        assert self.internal_dim % num_heads == 0, "num_heads must divide embedding_dim."
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _separate_heads(self, x: torch.Tensor, num_heads: int) -> torch.Tensor:
        b, n, c = x.shape
        x = x.reshape(b, n, num_heads, c // num_heads)
        return x.transpose(1, 2)  # B x N_heads x N_tokens x C_per_head

    def _recombine_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n_heads, n_tokens, c_per_head = x.shape
        x = x.transpose(1, 2)
        return x.reshape(b, n_tokens, n_heads * c_per_head)

    def forward(self, q, k, v):
        q = self.q_proj(q)
        k = self.k_proj(k)
        v = self.v_proj(v)
        q = self._separate_heads(q, self.num_heads)
        k = self._separate_heads(k, self.num_heads)
        v = self._separate_heads(v, self.num_heads)
        _, _, _, c_per_head = q.shape
        attn = q @ k.permute(0, 1, 3, 2)
        attn = attn / math.sqrt(c_per_head)
        attn = torch.softmax(attn, dim=-1)
        out = attn @ v
        out = self._recombine_heads(out)
        out = self.out_proj(out)
        return out


# --------------------------------------------------------------------------------------------
# mask_decoder.py


class MLP(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int, sigmoid_output: bool = False) -> None:
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
        self.sigmoid_output = sigmoid_output

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        if self.sigmoid_output:
            x = torch.sigmoid(x)
        return x


class MaskDecoder(nn.Module):
    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        activation: Type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            [MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for i in range(self.num_mask_tokens)]
        )
        self.iou_prediction_head = MLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, multimask_output: bool):
        masks, iou_pred = self.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
        )
        if multimask_output:
            mask_slice = slice(1, None)
        else:
            mask_slice = slice(0, 1)
        masks = masks[:, mask_slice, :, :]
        iou_pred = iou_pred[:, mask_slice]
        return masks, iou_pred

    def predict_masks(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings):
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0)
        src = src + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : (1 + self.num_mask_tokens), :]

        src = src.transpose(1, 2).view(b, c, h, w)
        upscaled_embedding = self.output_upscaling(src)
        hyper_in_list: List[torch.Tensor] = []
        for i in range(self.num_mask_tokens):
            hyper_in_list.append(self.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :]))
        hyper_in = torch.stack(hyper_in_list, dim=1)
        b, c, h, w = upscaled_embedding.shape
        masks = (hyper_in @ upscaled_embedding.view(b, c, h * w)).view(b, -1, h, w)

        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred


# --------------------------------------------------------------------------------------------
# sam.py


class Sam(nn.Module):
    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: ImageEncoderViT,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: Sequence[float] = (123.675, 116.28, 103.53),
        pixel_std: Sequence[float] = (58.395, 57.12, 57.375),
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        # non-persistent, as in the original: not part of the state dict
        self.register_buffer("pixel_mean", torch.Tensor(list(pixel_mean)).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.Tensor(list(pixel_std)).view(-1, 1, 1), False)

    def decode(
        self,
        image_embeddings: torch.Tensor,
        point_coords: Optional[torch.Tensor] = None,
        point_labels: Optional[torch.Tensor] = None,
        boxes: Optional[torch.Tensor] = None,
        mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Low-res masks and IoU predictions for one set of prompts (coords in input pixels).

        With no prompt at all this is SAMed's prompt-free decoding: the prompt encoder returns
        sparse embeddings [B, 0, C] and dense = no_mask_embed expanded."""
        points = (point_coords, point_labels) if point_coords is not None else None
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        return self.mask_decoder(
            image_embeddings=image_embeddings,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )

    def postprocess_masks(self, masks: torch.Tensor, input_size: Tuple[int, ...], original_size: Tuple[int, ...]) -> torch.Tensor:
        masks = F.interpolate(
            masks,
            (self.image_encoder.img_size, self.image_encoder.img_size),
            mode="bilinear",
            align_corners=False,
        )
        masks = masks[..., : input_size[0], : input_size[1]]
        masks = F.interpolate(masks, original_size, mode="bilinear", align_corners=False)
        return masks

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        padh = self.image_encoder.img_size - h
        padw = self.image_encoder.img_size - w
        x = F.pad(x, (0, padw, 0, padh))
        return x


# --------------------------------------------------------------------------------------------
# utils/transforms.py (the image path of SamPredictor.set_image)


class ResizeLongestSide:
    """Official transform. `apply_image` = torchvision `resize(to_pil_image(img), (h, w))`, i.e.
    PIL `Image.resize((w, h), BILINEAR)` on the uint8 image (torchvision is not needed)."""

    def __init__(self, target_length: int) -> None:
        self.target_length = target_length

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        h, w = self.get_preprocess_shape(image.shape[0], image.shape[1], self.target_length)
        if (h, w) == tuple(image.shape[:2]):
            return np.array(image)  # PIL returns an identical copy for a same-size resize
        return np.array(Image.fromarray(image).resize((w, h), Image.BILINEAR))

    def apply_coords(self, coords: np.ndarray, original_size: Tuple[int, ...]) -> np.ndarray:
        old_h, old_w = original_size
        new_h, new_w = self.get_preprocess_shape(original_size[0], original_size[1], self.target_length)
        coords = np.array(coords, dtype=np.float64).copy()
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return coords

    def apply_boxes(self, boxes: np.ndarray, original_size: Tuple[int, ...]) -> np.ndarray:
        boxes = self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size)
        return boxes.reshape(-1, 4)

    @staticmethod
    def get_preprocess_shape(oldh: int, oldw: int, long_side_length: int) -> Tuple[int, int]:
        scale = long_side_length * 1.0 / max(oldh, oldw)
        newh, neww = oldh * scale, oldw * scale
        neww = int(neww + 0.5)
        newh = int(newh + 0.5)
        return (newh, neww)


def prepare_input(sam: Sam, image_u8_hwc: np.ndarray) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """SamPredictor.set_image: resize longest side, HWC->NCHW float, normalise, pad.
    Returns (input [1, 3, S, S], input_size (h, w) before padding)."""
    transform = ResizeLongestSide(sam.image_encoder.img_size)
    resized = transform.apply_image(np.ascontiguousarray(image_u8_hwc))
    x = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None, :, :, :]
    input_size = tuple(x.shape[-2:])
    return sam.preprocess(x.float()), input_size


# --------------------------------------------------------------------------------------------
# build_sam.py


SAM_PRESETS = {
    "vit_b": dict(encoder_embed_dim=768, encoder_depth=12, encoder_num_heads=12, encoder_global_attn_indexes=[2, 5, 8, 11]),
    "vit_l": dict(encoder_embed_dim=1024, encoder_depth=24, encoder_num_heads=16, encoder_global_attn_indexes=[5, 11, 17, 23]),
    "vit_h": dict(encoder_embed_dim=1280, encoder_depth=32, encoder_num_heads=16, encoder_global_attn_indexes=[7, 15, 23, 31]),
}
_COMMON = dict(
    image_size=1024, patch_size=16, window_size=14, prompt_embed_dim=256, decoder_depth=2,
    decoder_mlp_dim=2048, decoder_num_heads=8, iou_head_depth=3, iou_head_hidden_dim=256,
    mask_in_chans=16, mlp_ratio=4, num_multimask_outputs=3,
)
for _k in SAM_PRESETS:
    SAM_PRESETS[_k] = {**_COMMON, **SAM_PRESETS[_k]}


def build_sam_from_config(cfg: dict) -> Sam:
    """A SAM from a fixture-format config dict; missing architecture keys take ViT-B's values."""
    c = {**SAM_PRESETS["vit_b"], **{k: v for k, v in cfg.items() if k in SAM_PRESETS["vit_b"]}}
    image_size = c["image_size"]
    patch = c["patch_size"]
    emb = image_size // patch
    ped = c["prompt_embed_dim"]
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=c["encoder_depth"],
            embed_dim=c["encoder_embed_dim"],
            img_size=image_size,
            mlp_ratio=c["mlp_ratio"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=c["encoder_num_heads"],
            patch_size=patch,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=tuple(c["encoder_global_attn_indexes"]),
            window_size=c["window_size"],
            out_chans=ped,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=ped,
            image_embedding_size=(emb, emb),
            input_image_size=(image_size, image_size),
            mask_in_chans=c["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=c["num_multimask_outputs"],
            transformer=TwoWayTransformer(
                depth=c["decoder_depth"],
                embedding_dim=ped,
                mlp_dim=c["decoder_mlp_dim"],
                num_heads=c["decoder_num_heads"],
            ),
            transformer_dim=ped,
            iou_head_depth=c["iou_head_depth"],
            iou_head_hidden_dim=c["iou_head_hidden_dim"],
        ),
    )
    sam.eval()
    return sam


def build_sam_vit_b() -> Sam:
    return build_sam_from_config(SAM_PRESETS["vit_b"])


def build_sam_vit_l() -> Sam:
    return build_sam_from_config(SAM_PRESETS["vit_l"])


def build_sam_vit_h() -> Sam:
    return build_sam_from_config(SAM_PRESETS["vit_h"])


# --------------------------------------------------------------------------------------------
# safetensors (hand-written; the package is not installed for /usr/bin/python3)

_ST_DTYPES = {
    "F32": (np.float32, torch.float32), "F64": (np.float64, torch.float64), "F16": (np.float16, torch.float16),
    "I64": (np.int64, torch.int64), "I32": (np.int32, torch.int32), "I16": (np.int16, torch.int16),
    "I8": (np.int8, torch.int8), "U8": (np.uint8, torch.uint8), "BOOL": (np.bool_, torch.bool),
}
_ST_NAMES = {t: n for n, (_, t) in _ST_DTYPES.items()}


def load_safetensors(path: str, with_metadata: bool = False):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8 : 8 + n])
    base = 8 + n
    out: Dict[str, torch.Tensor] = {}
    meta = header.pop("__metadata__", None)
    for k, v in header.items():
        s, e = v["data_offsets"]
        arr = np.frombuffer(b[base + s : base + e], dtype=_ST_DTYPES[v["dtype"]][0]).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.copy())
    return (out, meta) if with_metadata else out


def save_safetensors(path: str, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> None:
    """Layout as in the fixtures: names sorted, data in name order, compact JSON header with keys
    in that order (`__metadata__` first when given), header padded with spaces to 8 bytes."""
    header: Dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    blobs = []
    off = 0
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        data = t.numpy().tobytes()
        header[k] = {"dtype": _ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for d in blobs:
            f.write(d)


# --------------------------------------------------------------------------------------------
# Hugging Face SamModel key names

HF_METADATA = {"shared_image_embedding.positional_embedding": "prompt_encoder.shared_embedding.positional_embedding"}


def _hf_mlp_name(rest: str, n: int) -> str:
    m = re.match(r"layers\.(\d+)\.(weight|bias)$", rest)
    i, wb = int(m.group(1)), m.group(2)
    if i == 0: return f"proj_in.{wb}"
    if i == n - 1: return f"proj_out.{wb}"
    return f"layers.{i-1}.{wb}"
def to_hf_key(k: str, iou_head_depth: int) -> str:
    """Original segment-anything state-dict key -> Hugging Face `SamModel` key (the naming of
    transformers' convert_sam_to_hf, checked tensor by tensor against the tiny fixture's
    weights_hf.safetensors). MLP heads: layers.0 -> proj_in, layers.{n-1} -> proj_out,
    layers.j -> layers.{j-1}; the positional matrix -> prompt_encoder.shared_embedding."""
    if k.startswith("image_encoder."):
        r = k[len("image_encoder."):]
        r = r.replace("patch_embed.proj.", "patch_embed.projection.")
        r = re.sub(r"^blocks\.", "layers.", r)
        r = re.sub(r"\.norm([12])\.", r".layer_norm\1.", r)
        r = {"neck.0.weight": "neck.conv1.weight", "neck.1.weight": "neck.layer_norm1.weight", "neck.1.bias": "neck.layer_norm1.bias",
             "neck.2.weight": "neck.conv2.weight", "neck.3.weight": "neck.layer_norm2.weight", "neck.3.bias": "neck.layer_norm2.bias"}.get(r, r)
        return "vision_encoder." + r
    if k.startswith("prompt_encoder."):
        r = k[len("prompt_encoder."):]
        if r == "pe_layer.positional_encoding_gaussian_matrix": return "prompt_encoder.shared_embedding.positional_embedding"
        r = re.sub(r"^point_embeddings\.", "point_embed.", r)
        m = re.match(r"mask_downscaling\.(\d)\.(weight|bias)$", r)
        if m: r = "mask_embed." + {"0": "conv1", "1": "layer_norm1", "3": "conv2", "4": "layer_norm2", "6": "conv3"}[m.group(1)] + "." + m.group(2)
        return "prompt_encoder." + r
    r = k[len("mask_decoder."):]
    r = re.sub(r"^(transformer\.layers\.\d+)\.norm(\d)\.", r"\1.layer_norm\2.", r)
    r = r.replace("transformer.norm_final_attn.", "transformer.layer_norm_final_attn.")
    m = re.match(r"output_upscaling\.(\d)\.(weight|bias)$", r)
    if m: r = {"0": "upscale_conv1", "1": "upscale_layer_norm", "3": "upscale_conv2"}[m.group(1)] + "." + m.group(2)
    m = re.match(r"(output_hypernetworks_mlps\.\d+)\.(layers\..*)$", r)
    if m: r = m.group(1) + "." + _hf_mlp_name(m.group(2), 3)
    m = re.match(r"iou_prediction_head\.(layers\..*)$", r)
    if m: r = "iou_prediction_head." + _hf_mlp_name(m.group(1), iou_head_depth)
    return "mask_decoder." + r


def to_hf_state_dict(sd: Dict[str, torch.Tensor], iou_head_depth: int) -> Dict[str, torch.Tensor]:
    out = {to_hf_key(k, iou_head_depth): v for k, v in sd.items()}
    assert len(out) == len(sd), "HF key mapping is not one-to-one"
    return out


# --------------------------------------------------------------------------------------------
# the fixture's outputs


def compute_fixture_outputs(sam: Sam, io: Dict[str, torch.Tensor], lora: Dict[str, torch.Tensor],
                            grad_probe_masks: torch.Tensor, grad_probe_iou: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Every derived tensor of a fixture's io.safetensors from the model, the image, the prompts,
    the LoRA tensors and the gradient probes (the names a fixture uses)."""
    out: Dict[str, torch.Tensor] = {}
    image = io["image_u8_hwc"].numpy()
    original_size = tuple(image.shape[:2])
    for p in sam.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        x, input_size = prepare_input(sam, image)
        out["input_nchw"] = x
        emb = sam.image_encoder(x)
        out["image_embeddings"] = emb
        out["dense_pe"] = sam.prompt_encoder.get_dense_pe()
        _, dense = sam.prompt_encoder(points=None, boxes=None, masks=None)
        out["no_mask_embed"] = dense.contiguous()
        m, i = sam.decode(emb, multimask_output=True)
        out["noprompt_multi_masks"], out["noprompt_multi_iou"] = m, i
        out["noprompt_multi_masks_original_size"] = sam.postprocess_masks(m, input_size, original_size)
        out["noprompt_single_masks"], out["noprompt_single_iou"] = sam.decode(emb, multimask_output=False)
        out["points_multi_masks"], out["points_multi_iou"] = sam.decode(
            emb, point_coords=io["point_coords"], point_labels=io["point_labels"], multimask_output=True)
        out["box_single_masks"], out["box_single_iou"] = sam.decode(emb, boxes=io["box_xyxy"], multimask_output=False)
        out["maskprompt_multi_masks"], out["maskprompt_multi_iou"] = sam.decode(
            emb, mask_input=io["mask_input"], multimask_output=True)

    # LoRA forward + gradients (base encoder frozen; prompt encoder / mask decoder trainable)
    lora_p = {k: v.detach().clone().requires_grad_(True) for k, v in lora.items()}
    trainable = {}
    for name, p in sam.named_parameters():
        if name.startswith("prompt_encoder.") or name.startswith("mask_decoder."):
            p.requires_grad_(True)
            p.grad = None
            trainable[name] = p
    lemb = sam.image_encoder(x, lora={k[len("lora."):]: v for k, v in lora_p.items()})
    lm, li = sam.decode(lemb, multimask_output=True)
    loss = (lm * grad_probe_masks).sum() + (li * grad_probe_iou).sum()
    loss.backward()
    out["lora_image_embeddings"] = lemb.detach()
    out["lora_noprompt_multi_masks"] = lm.detach()
    out["lora_noprompt_multi_iou"] = li.detach()
    out["grad_probe_loss"] = loss.detach().reshape(1)
    for k, v in lora_p.items():
        out["grad." + k] = v.grad.detach().clone()
    for name, p in trainable.items():
        if p.grad is not None:  # parameters the prompt-free path never touches have no gradient
            out["grad." + name] = p.grad.detach().clone()
        p.requires_grad_(False)
        p.grad = None
    return {k: v.detach().contiguous() for k, v in out.items()}


def _group(name: str) -> str:
    if name.startswith("grad.lora."):
        return "grad.lora"
    if name.startswith("grad.prompt_encoder."):
        return "grad.prompt_encoder"
    if name.startswith("grad.mask_decoder."):
        return "grad.mask_decoder"
    return name


def check_fixture(folder: str, tol: float = 1e-5) -> dict:
    """Rebuild every derived tensor of a fixture folder and compare.

    `max_abs_by_group` is the plain max abs error. A tensor passes when its max abs error is
    <= tol * max(1, max|expected|): float32 results of order 30 (the loss, some decoder
    gradients) carry rounding noise of ~1e-6 relative, more than 1e-5 absolute, and that noise
    differs between CPUs / libm / BLAS builds (the fixture itself is ~2e-5 away from a float64
    evaluation there). `strict_abs_failures` lists the tensors over tol in plain abs terms."""
    with open(f"{folder}/config.json") as f:
        cfg = json.load(f)
    sam = build_sam_from_config(cfg)
    sd = torch.load(f"{folder}/weights.pth")
    sam.load_state_dict(sd, strict=True)
    io = load_safetensors(f"{folder}/io.safetensors")
    lora = {k: v for k, v in io.items() if k.startswith("lora.blocks.")}
    got = compute_fixture_outputs(sam, io, lora, io["grad_probe_masks"], io["grad_probe_iou"])
    inputs = {"image_u8_hwc", "point_coords", "point_labels", "box_xyxy", "mask_input",
              "grad_probe_masks", "grad_probe_iou"} | set(lora)
    expected = {k for k in io if k not in inputs}
    missing = sorted(expected - set(got))
    extra = sorted(set(got) - expected)
    per_tensor: Dict[str, float] = {}
    groups: Dict[str, float] = {}
    rel_groups: Dict[str, float] = {}
    failures, strict = [], []
    for k in sorted(expected & set(got)):
        a, b = got[k].double(), io[k].double()
        if a.shape != b.shape:
            per_tensor[k] = float("inf")
            failures.append(k)
            continue
        e = float((a - b).abs().max()) if a.numel() else 0.0
        scale = float(b.abs().max()) if b.numel() else 0.0
        per_tensor[k] = e
        g = _group(k)
        groups[g] = max(groups.get(g, 0.0), e)
        rel_groups[g] = max(rel_groups.get(g, 0.0), e / max(1.0, scale))
        if e > tol:
            strict.append(k)
        if e > tol * max(1.0, scale):
            failures.append(k)
    # weights.safetensors (and weights_hf.safetensors, if present) must hold the same tensors
    wst = load_safetensors(f"{folder}/weights.safetensors")
    same_st = set(wst) == set(sd) and all(torch.equal(wst[k], sd[k]) for k in sd)
    same_hf = None
    try:
        hf, meta = load_safetensors(f"{folder}/weights_hf.safetensors", with_metadata=True)
    except FileNotFoundError:
        hf = None
    if hf is not None:
        want = to_hf_state_dict(sd, cfg["iou_head_depth"])
        same_hf = set(hf) == set(want) and all(torch.equal(hf[k], want[k]) for k in want)
    ok = not missing and not extra and not failures and same_st and same_hf is not False
    return {
        "fixture": folder, "ok": ok, "tol": tol, "compared": len(per_tensor),
        "missing": missing, "extra": extra, "failures": failures,
        "strict_abs_failures": strict,
        "weights_safetensors_equal_pth": same_st, "weights_hf_equal_mapped_pth": same_hf,
        "max_abs_by_group": groups, "max_abs_over_max1_scale_by_group": rel_groups,
        "worst_abs": sorted(per_tensor.items(), key=lambda kv: -kv[1])[:5],
    }


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("fixture", nargs="?", default="../shared/fixtures/sam/tiny")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    r = check_fixture(a.fixture, a.tol)
    print(json.dumps(r, indent=1))
    sys.exit(0 if r["ok"] else 1)
