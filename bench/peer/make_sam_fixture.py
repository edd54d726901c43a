#!/usr/bin/python3
"""Generate a SAM golden fixture folder in the format of ../shared/fixtures/sam/tiny/ (see
../shared/fixtures/sam/README.md): config.json, weights.pth, weights.safetensors,
weights_hf.safetensors and io.safetensors, for a random SAM whose every parameter is perturbed
away from its default initialisation. Outputs come from bench/peer/sam_torch.py (a faithful
re-implementation of segment-anything's `modeling` package, checked against the tiny fixture).

    /usr/bin/python3 bench/peer/make_sam_fixture.py --out test/fixtures/sam/second

Defaults give the `second` fixture: image_size 160, patch 16 (10x10 grid), window 4 (windowed
blocks pad 10x10 to 12x12), landscape 45x75 image (resized to 96x160, then padded).
With --no-hf, weights_hf.safetensors is not written (the `second` fixture omits it to stay
under 2 MB; with it the folder is ~2.6 MB).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sam_torch as S  # noqa: E402

LORA_PROSE = ("q and v slices of each encoder block's fused qkv: qkv(x)[..., :C] += x A_q^T B_q^T; "
              "qkv(x)[..., 2C:] += x A_v^T B_v^T; A is [r, C], B is [C, r], no scaling")
GRAD_PROSE = ("loss = sum(lora_noprompt_multi_masks * grad_probe_masks) + sum(lora_noprompt_multi_iou * "
              "grad_probe_iou); grads w.r.t. LoRA A/B and every prompt_encoder/mask_decoder parameter")

SECOND = dict(
    image_size=160,
    patch_size=16,
    encoder_embed_dim=48,
    encoder_depth=3,
    encoder_num_heads=2,
    encoder_global_attn_indexes=[1],
    window_size=4,
    prompt_embed_dim=32,
    decoder_depth=2,
    decoder_mlp_dim=48,
    decoder_num_heads=4,
    iou_head_depth=2,
    iou_head_hidden_dim=24,
    mask_in_chans=12,
    mlp_ratio=2,
    image_hw=[45, 75],
    lora_rank=3,
    seed=20240607,
)


def perturb(sam: S.Sam, g: torch.Generator) -> None:
    """Overwrite every parameter (and the positional Gaussian matrix) with random values that
    are well away from the default init but keep activations of order 1."""
    mods = dict(sam.named_modules())
    norm_mods = set()
    for name, m in mods.items():
        if isinstance(m, (torch.nn.LayerNorm, S.LayerNorm2d)):
            norm_mods.add(name)

    def randn(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    with torch.no_grad():
        for name, p in sam.state_dict(keep_vars=True).items():
            mod, leaf = name.rsplit(".", 1)
            shape = tuple(p.shape)
            if mod in norm_mods:
                v = randn(shape, 0.15, 1.0) if leaf == "weight" else randn(shape, 0.1)
            elif leaf.startswith("rel_pos_"):
                v = randn(shape, 0.3)
            elif leaf == "pos_embed":
                v = randn(shape, 0.1)
            elif leaf == "positional_encoding_gaussian_matrix":
                v = randn(shape, 1.0)
            elif leaf == "bias":
                v = randn(shape, 0.05)
            elif isinstance(mods[mod], torch.nn.Embedding):
                v = randn(shape, 0.5)  # nn.Embedding tables (point / not-a-point / no-mask / iou / mask tokens)
            elif leaf == "weight" and p.dim() >= 2:
                # Linear [out, in], Conv2d [out, in, kh, kw], ConvTranspose2d [in, out, kh, kw]
                if isinstance(mods[mod], torch.nn.ConvTranspose2d):
                    fan_in = shape[0]  # kernel 2 stride 2: every output sees in_ch terms
                else:
                    fan_in = int(np.prod(shape[1:]))
                v = randn(shape, 1.0 / np.sqrt(fan_in))
            else:
                raise RuntimeError(f"no perturbation rule for {name} {shape}")
            p.copy_(v)


def make_image(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A landscape test image: smooth colour ramps, a disc and a bar, plus noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([
        40 + 170 * xx / (w - 1),
        200 - 150 * yy / (h - 1),
        90 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0),
    ], axis=-1)
    disc = (xx - 0.62 * w) ** 2 + (yy - 0.45 * h) ** 2 < (0.22 * h) ** 2
    img[disc] = [235, 60, 40]
    bar = (np.abs(xx - 0.2 * w) < 0.06 * w) & (yy > 0.15 * h) & (yy < 0.85 * h)
    img[bar] = [30, 80, 220]
    img = img + rng.normal(0.0, 18.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_fixture(cfg: Dict, out: str, hf: bool = True) -> Dict[str, int]:
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)

    sam = S.build_sam_from_config(cfg)
    perturb(sam, g)
    sd = {k: v.detach().clone().contiguous() for k, v in sam.state_dict().items()}

    h, w = cfg["image_hw"]
    image = make_image(h, w, rng)
    nh, nw = S.ResizeLongestSide.get_preprocess_shape(h, w, cfg["image_size"])
    emb = cfg["image_size"] // cfg["patch_size"]
    C, r = cfg["encoder_embed_dim"], cfg["lora_rank"]

    io: Dict[str, torch.Tensor] = {"image_u8_hwc": torch.from_numpy(image)}
    # prompts in input pixels (the resized nh x nw frame), as the official predictor passes them
    fr = np.array([[0.62, 0.45], [0.2, 0.5], [0.85, 0.15], [0.55, 0.6]])
    io["point_coords"] = torch.tensor((fr * [nw, nh])[None], dtype=torch.float32)
    io["point_labels"] = torch.tensor([[1, 0, 0, 1]], dtype=torch.int64)
    io["box_xyxy"] = torch.tensor([[0.45 * nw, 0.2 * nh, 0.8 * nw, 0.72 * nh]], dtype=torch.float32)
    io["mask_input"] = torch.randn((1, 1, 4 * emb, 4 * emb), generator=g)
    lora = {}
    for i in range(cfg["encoder_depth"]):
        for qv in ("q", "v"):
            lora[f"lora.blocks.{i}.{qv}.a"] = torch.randn((r, C), generator=g) / np.sqrt(C)
            lora[f"lora.blocks.{i}.{qv}.b"] = torch.randn((C, r), generator=g) * 0.1
    io.update(lora)
    nm = cfg.get("num_multimask_outputs", 3)
    io["grad_probe_masks"] = torch.randn((1, nm, 4 * emb, 4 * emb), generator=g)
    io["grad_probe_iou"] = torch.randn((1, nm), generator=g)

    # a fresh model loaded from the saved state dict, as a consumer would do
    ref = S.build_sam_from_config(cfg)
    ref.load_state_dict(sd, strict=True)
    io.update(S.compute_fixture_outputs(ref, io, lora, io["grad_probe_masks"], io["grad_probe_iou"]))

    os.makedirs(out, exist_ok=True)
    config = {k: cfg[k] for k in (
        "image_size", "patch_size", "encoder_embed_dim", "encoder_depth", "encoder_num_heads",
        "encoder_global_attn_indexes", "window_size", "prompt_embed_dim", "decoder_depth",
        "decoder_mlp_dim", "decoder_num_heads", "iou_head_depth", "iou_head_hidden_dim",
        "mask_in_chans", "mlp_ratio", "image_hw", "lora_rank", "seed")}
    config["lora"] = LORA_PROSE
    config["grad_probe"] = GRAD_PROSE
    config["torch_version"] = torch.__version__
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=1))  # no trailing newline, like tiny/config.json
    # torch.save of a plain dict (the zip's root folder is the file's stem: "weights/")
    torch.save(dict(sd), os.path.join(out, "weights.pth"))
    S.save_safetensors(os.path.join(out, "weights.safetensors"), sd)
    hf_path = os.path.join(out, "weights_hf.safetensors")
    if hf:
        S.save_safetensors(hf_path, S.to_hf_state_dict(sd, cfg["iou_head_depth"]), S.HF_METADATA)
    elif os.path.exists(hf_path):
        os.remove(hf_path)
    S.save_safetensors(os.path.join(out, "io.safetensors"), io)
    return {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="test/fixtures/sam/second")
    ap.add_argument("--seed", type=int, default=SECOND["seed"])
    ap.add_argument("--no-hf", action="store_true", help="do not write weights_hf.safetensors")
    ap.add_argument("--config", help="JSON file overriding architecture keys of the default config")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = dict(SECOND)
    if a.config:
        with open(a.config) as f:
            cfg.update(json.load(f))
    cfg["seed"] = a.seed
    sizes = make_fixture(cfg, a.out, hf=not a.no_hf)
    check = S.check_fixture(a.out, 1e-6)
    print(json.dumps({"out": a.out, "sizes": sizes, "total": sum(sizes.values()),
                      "self_check_ok": check["ok"], "self_check_max_abs": max(check["max_abs_by_group"].values())}, indent=1))


if __name__ == "__main__":
    main()
