#!/usr/bin/python3
"""PyTorch peer for `npm run bench -- train`: one UDEG-Net training step, from scratch.

The same step as udeg's compiled TrainStep (src/train/graph.ts buildTrainGraph with the `udeg`
preset and resolveModel's from-scratch model):

  model  SAM built by sam_torch.build_sam_from_config from the scratch architecture at the
         benchmark's image size, with num_multimask_outputs = classes (1 class -> 2 mask tokens),
         plus the automatic edge prompt generator of src/udeg/model.ts (global_proj linear on the
         first global block's output, conv1/norm1/conv2/norm2 3x3 convs with LayerNorm2d + GELU,
         a 1x1 dense head (zero-initialised), up1/up_norm/up2 2x2 stride-2 transposed convs,
         edge_head 3x3 conv on the concat with the pooled Sobel prior). Prompt-free decoding:
         sparse prompt [1, 0, C], dense prompt = no_mask_embed + the generator's delta; all mask
         tokens' logits bilinearly upsampled to the input size (align_corners False).
  loss   evidential (Dirichlet, evidence = softplus): digamma CE + soft Dice (foreground) +
         w_kl * KL(Dir(alpha~) || Dir(1)) + w_au * accuracy-vs-uncertainty + w_edge * (edge
         digamma CE weighted by 1 + w_gamma * u_seg.detach() + edge soft Dice), the weights of
         src/udeg/losses.ts.
  update global-norm clipping to 1.0, AdamW (lr 2e-3, betas 0.9/0.999, eps 1e-8, wd 0.01).

Every parameter the step reads trains, as in udeg's scratch model, including the prompt
encoder's random-Fourier matrix (a buffer in segment-anything, a weight in udeg); the prompt
encoder's point/box embeddings and mask-downscaling path are not read by a prompt-free step and
are left out on both sides. The IoU head is computed but not in the loss: its gradient is zero,
and AdamW still decays it (as udeg's in-graph update does).

The timed unit is forward + backward + clip + optimizer.step() (+ zeroing the gradients). With
--inputs FILE (a safetensors written by bench/train.ts: `param.KEY` initial weights under udeg's
key names, `input.image|seg_target|edge_target`), the peer starts from exactly udeg's weights
and batch and reports the first step's loss, terms and gradient norm, so the benchmark can check
that both sides compute the same step. Prints one JSON object on stdout. With --serve (how the
benchmark runs it) it prints its setup as one JSON line and then answers commands on stdin
("steps N": N timed steps -> {"ms": [...]}; "done": {"torch_peak_rss_mb": ...}), so that the
benchmark can alternate blocks of udeg and PyTorch steps under the same machine load.

    /usr/bin/python3 bench/peer/udeg_step.py [--repeats 10] [--warmup 3] [--inputs FILE]
"""

import argparse
import json
import math
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import LIBBLAS, blas_in_use, log, time_case, tune_malloc  # noqa: E402

# src/udeg/config.ts ScratchSchema defaults, in the fixture format (snake_case).
SCRATCH = dict(
    patch_size=8,
    encoder_embed_dim=96,
    encoder_depth=4,
    encoder_num_heads=4,
    encoder_global_attn_indexes=[1, 3],
    window_size=8,
    prompt_embed_dim=64,
    decoder_depth=2,
    decoder_mlp_dim=256,
    decoder_num_heads=4,
    iou_head_depth=3,
    iou_head_hidden_dim=64,
    mask_in_chans=8,
    mlp_ratio=4,
)
# scheduledWeights(DEFAULT_LOSS, 0.5): every term on.
DEFAULT_WEIGHTS = dict(ce=1.0, dice=1.0, kl=1.0, edge=0.5, gamma=4.0, au=0.1)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--classes", type=int, default=1)
    p.add_argument("--edge-hidden", type=int, default=None, help="generator width (default: prompt_embed_dim)")
    p.add_argument("--config", default=None, help="SAM architecture as fixture-format JSON (default: udeg's scratch)")
    p.add_argument("--weights", default=None, help="loss weights JSON {ce, dice, kl, edge, gamma, au}")
    p.add_argument("--inputs", default=None, help="safetensors with udeg's initial weights and batch")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--clip-norm", type=float, default=1.0)
    p.add_argument("--foreach", action="store_true", help="AdamW(foreach=True) instead of the default loop")
    p.add_argument("--serve", action="store_true", help="take timing commands on stdin (used by bench/train.ts)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bench/gpu.ts)")
    p.add_argument("--lora-rank", type=int, default=0, help="adapt a frozen encoder with LoRA of this rank on every linear (0: train everything)")
    p.add_argument("--amp", action="store_true", help="fp16 autocast with a gradient scaler (cuda only)")
    p.add_argument("--infer", action="store_true", help="also time inference (forward under no_grad)")
    return p.parse_args()


def build(torch, nn, F, S, cfg, classes, hidden):
    """UDEG-Net from scratch: SAM + the edge prompt generator, udeg's key names."""
    c = cfg["prompt_embed_dim"]
    e_dim = cfg["encoder_embed_dim"]
    size = cfg["image_size"]
    emb = size // cfg["patch_size"]
    hidden = hidden or c
    h2, h4 = max(8, hidden // 2), max(8, hidden // 4)

    class EdgePromptGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            self.global_proj = nn.Linear(e_dim, c)
            self.conv1 = nn.Conv2d(2 * c + 1, hidden, 3, padding=1)
            self.norm1 = S.LayerNorm2d(hidden)
            self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
            self.norm2 = S.LayerNorm2d(hidden)
            self.dense = nn.Conv2d(hidden, c, 1)
            self.up1 = nn.ConvTranspose2d(hidden, h2, 2, stride=2)
            self.up_norm = S.LayerNorm2d(h2)
            self.up2 = nn.ConvTranspose2d(h2, h4, 2, stride=2)
            self.edge_head = nn.Conv2d(h4 + 1, 2, 3, padding=1)
            nn.init.zeros_(self.dense.weight)  # starts neutral, as udeg's init
            nn.init.zeros_(self.dense.bias)

        def forward(self, embeddings, first_global, sobel):
            sobel4 = F.avg_pool2d(sobel, size // (4 * emb)) if size // (4 * emb) > 1 else sobel
            sobel1 = F.avg_pool2d(sobel4, 4)
            g1 = self.global_proj(first_global).permute(0, 3, 1, 2)
            f = torch.cat([embeddings, g1, sobel1], 1)
            f = F.gelu(self.norm1(self.conv1(f)))
            f = F.gelu(self.norm2(self.conv2(f)))
            dense_delta = self.dense(f)
            u = F.gelu(self.up_norm(self.up1(f)))
            u = F.gelu(self.up2(u))
            edge_logits = self.edge_head(torch.cat([u, sobel4], 1))
            return dense_delta, edge_logits

    class UdegNet(nn.Module):
        def __init__(self):
            super().__init__()
            sam = S.build_sam_from_config({**cfg, "num_multimask_outputs": classes})
            self.image_encoder = sam.image_encoder
            self.prompt_encoder = sam.prompt_encoder
            self.mask_decoder = sam.mask_decoder
            # udeg trains the random-Fourier matrix too (it is a weight there, a buffer in SAM).
            pe = self.prompt_encoder.pe_layer
            gauss = pe._buffers.pop("positional_encoding_gaussian_matrix")
            pe.positional_encoding_gaussian_matrix = nn.Parameter(gauss.clone())
            self.udeg = nn.Module()
            self.udeg.edge = EdgePromptGenerator()
            self.register_buffer("pixel_mean", torch.tensor(sam.pixel_mean.flatten().tolist()).view(1, 3, 1, 1), False)
            self.register_buffer("pixel_std", torch.tensor(sam.pixel_std.flatten().tolist()).view(1, 3, 1, 1), False)
            sobel = torch.tensor([[-1, 0, 1, -2, 0, 2, -1, 0, 1], [-1, -2, -1, 0, 0, 0, 1, 2, 1]], dtype=torch.float32)
            self.register_buffer("sobel", sobel.view(2, 1, 3, 3), False)
            self.first_global = cfg["encoder_global_attn_indexes"][0] if cfg["encoder_global_attn_indexes"] else 0

        def unused(self):
            """Prompt-encoder parts a prompt-free step never reads (udeg has no such weights)."""
            pe = self.prompt_encoder
            return [*pe.point_embeddings.parameters(), *pe.not_a_point_embed.parameters(), *pe.mask_downscaling.parameters()]

        def sobel_prior(self, image):
            grey = image.mean(1, keepdim=True)
            grad = F.conv2d(grey, self.sobel, padding=1)
            return torch.sqrt(grad[:, 0:1].square() + grad[:, 1:2].square() + 1e-6)

        def forward(self, image0to255):
            image = (image0to255 - self.pixel_mean) / self.pixel_std
            enc = self.image_encoder
            h = enc.patch_embed(image) + enc.pos_embed
            first_global = None
            for i, blk in enumerate(enc.blocks):
                h = blk(h)
                if i == self.first_global:
                    first_global = h
            embeddings = enc.neck(h.permute(0, 3, 1, 2))
            delta, edge_logits = self.udeg.edge(embeddings, first_global, self.sobel_prior(image))
            dense = self.prompt_encoder.no_mask_embed.weight.reshape(1, c, 1, 1) + delta
            sparse = torch.empty((1, 0, c), device=image.device)
            low, _iou = self.mask_decoder.predict_masks(
                image_embeddings=embeddings,
                image_pe=self.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
            )
            logits = F.interpolate(low, (size, size), mode="bilinear", align_corners=False)
            return logits, low, edge_logits

    return UdegNet()


LORA_TARGETS = ("q", "k", "v", "proj", "mlp1", "mlp2")


def add_lora(torch, nn, model, rank):
    """udeg's LoRA (src/sam/lora.ts) on every linear of every encoder block: a rank-r update
    x A^T B^T (scale alpha / r = 1) added to the q, k and v slices of qkv, to proj, lin1 and lin2;
    the adapters live at lora.blocks.{i}.{target}.{a|b} as in udeg, the encoder is frozen."""
    for p in model.image_encoder.parameters():
        p.requires_grad_(False)
    model.lora = nn.Module()
    model.lora.blocks = nn.ModuleList()

    def adapter(i, o):
        m = nn.Module()
        m.a = nn.Parameter(torch.empty(rank, i).uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i)))
        m.b = nn.Parameter(torch.zeros(o, rank))
        return m

    def update(m, x):
        return (x @ m.a.t()) @ m.b.t()

    for blk in model.image_encoder.blocks:
        c = blk.attn.qkv.in_features
        hidden = blk.mlp.lin1.out_features
        ad = nn.Module()
        for t in ("q", "k", "v", "proj"):
            setattr(ad, t, adapter(c, c))
        ad.mlp1 = adapter(c, hidden)
        ad.mlp2 = adapter(hidden, c)
        model.lora.blocks.append(ad)
        blk.attn.qkv.register_forward_hook(
            lambda _m, inp, out, ad=ad: out + torch.cat([update(ad.q, inp[0]), update(ad.k, inp[0]), update(ad.v, inp[0])], -1)
        )
        blk.attn.proj.register_forward_hook(lambda _m, inp, out, ad=ad: out + update(ad.proj, inp[0]))
        blk.mlp.lin1.register_forward_hook(lambda _m, inp, out, ad=ad: out + update(ad.mlp1, inp[0]))
        blk.mlp.lin2.register_forward_hook(lambda _m, inp, out, ad=ad: out + update(ad.mlp2, inp[0]))


def make_loss(torch, F):
    def evidential(logits):
        k = logits.shape[1]
        alpha = F.softplus(logits) + 1
        strength = alpha.sum(1, keepdim=True)
        return dict(alpha=alpha, strength=strength, prob=alpha / strength, u=k / strength)

    def digamma_ce(ev, y, weight=None):
        per_pixel = (y * (torch.digamma(ev["strength"]) - torch.digamma(ev["alpha"]))).sum(1, keepdim=True)
        return (per_pixel * weight).mean() if weight is not None else per_pixel.mean()

    def soft_dice(p, y, smooth=1.0):
        axes = [0, *range(2, p.dim())]
        inter = (p * y).sum(axes)
        denom = p.sum(axes) + y.sum(axes)
        per_class = 1 - (2 * inter + smooth) / (denom + smooth)
        return per_class[1:].mean() if p.shape[1] > 1 else per_class.mean()

    def kl_to_uniform(ev, y):
        k = y.shape[1]
        a = y + (1 - y) * ev["alpha"]
        s = a.sum(1, keepdim=True)
        normaliser = torch.lgamma(s) - math.lgamma(k) - torch.lgamma(a).sum(1, keepdim=True)
        expectation = ((a - 1) * (torch.digamma(a) - torch.digamma(s))).sum(1, keepdim=True)
        return (normaliser + expectation).mean()

    def accuracy_uncertainty(ev, y, eps=1e-6):
        p_max = ev["prob"].max(1, keepdim=True).values
        p_true = (ev["prob"] * y).sum(1, keepdim=True)
        right = p_true.detach() == p_max.detach()
        u = ev["u"]
        right_term = p_max * torch.log(1 - u + eps)
        wrong_term = (1 - p_max) * torch.log(u + eps)
        return -torch.where(right, right_term, wrong_term).mean()

    def loss(w, logits, low, edge_logits, seg_y, edge_y):
        seg = evidential(logits)
        edge = evidential(edge_logits)
        u_low = evidential(low)["u"]
        terms = {}
        terms["ce"] = digamma_ce(seg, seg_y) * w["ce"]
        terms["dice"] = soft_dice(seg["prob"], seg_y) * w["dice"]
        terms["kl"] = kl_to_uniform(seg, seg_y) * w["kl"]
        terms["au"] = accuracy_uncertainty(seg, seg_y) * w["au"]
        pixel_weight = u_low.detach() * w["gamma"] + 1
        terms["edge"] = (digamma_ce(edge, edge_y, pixel_weight) + soft_dice(edge["prob"], edge_y)) * w["edge"]
        total = terms["ce"] + terms["dice"] + terms["kl"] + terms["au"] + terms["edge"]
        return total, terms

    return loss


def random_batch(torch, F, batch, size, k, edge_size):
    """Random image 0-255; a disc per image; its one-hot and edge targets (as the trainer makes them)."""
    g = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 3, size, size, generator=g) * 255
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels = torch.zeros(batch, size, size, dtype=torch.long)
    for b in range(batch):
        cy, cx, r = size * (0.4 + 0.05 * b), size * (0.5 - 0.03 * b), size * (0.2 + 0.02 * b)
        labels[b] = (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).long()
    seg_y = F.one_hot(labels, k).permute(0, 3, 1, 2).float()
    f = size // edge_size
    small = labels[:, f // 2 :: f, f // 2 :: f].float()[:, None]
    # morphological gradient, radius 1 (borders of the image are not edges: pad by replication)
    padded = F.pad(small, (1, 1, 1, 1), mode="replicate")
    edges = (F.max_pool2d(padded, 3, 1) != -F.max_pool2d(-padded, 3, 1)).long()[:, 0]
    edge_y = F.one_hot(edges, 2).permute(0, 3, 1, 2).float()
    return image, seg_y, edge_y


def main():
    args = parse_args()
    blas_target, blas_desc = blas_in_use()
    if args.device == "cpu" and "openblas" not in blas_target:
        log(f"error: {LIBBLAS} resolves to {blas_target}, not OpenBLAS: the comparison would be meaningless")
        sys.exit(2)
    malloc_tuned = tune_malloc()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import sam_torch as S

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    _, blas_desc = blas_in_use()

    cfg = {**SCRATCH, **(json.loads(args.config) if args.config else {}), "image_size": args.image_size}
    w = {**DEFAULT_WEIGHTS, **(json.loads(args.weights) if args.weights else {})}
    k = args.classes + 1
    edge_size = 4 * (cfg["image_size"] // cfg["patch_size"])
    device = torch.device(args.device)
    if args.amp and args.device != "cuda":
        log("error: --amp is for --device cuda")
        sys.exit(2)
    model = build(torch, nn, F, S, cfg, args.classes, args.edge_hidden)
    if args.lora_rank > 0:
        add_lora(torch, nn, model, args.lora_rank)
    for p in model.unused():
        p.requires_grad_(False)
    unused = {id(p) for p in model.unused()}
    named = [(n, p) for n, p in model.named_parameters() if id(p) not in unused and p.requires_grad]
    frozen = [(n, p) for n, p in model.named_parameters() if id(p) not in unused and not p.requires_grad]
    params = [p for _, p in named]

    if args.inputs:
        st = S.load_safetensors(args.inputs)
        want = {n: tuple(p.shape) for n, p in named}
        have = {key[len("param."):]: tuple(t.shape) for key, t in st.items() if key.startswith("param.")}
        if want != have:
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            shapes = sorted(n for n in set(want) & set(have) if want[n] != have[n])
            log(f"error: the peer's parameters differ from udeg's: only in torch {missing}, only in udeg {extra}, shapes differ {shapes}")
            sys.exit(3)
        missing_frozen = sorted(n for n, _ in frozen if "frozen." + n not in st)
        if missing_frozen:
            log(f"error: udeg sent no frozen weights for {missing_frozen[:5]} ...")
            sys.exit(3)
        with torch.no_grad():
            for n, p in named:
                p.copy_(st["param." + n])
            for n, p in frozen:
                p.copy_(st["frozen." + n])
        image, seg_y, edge_y = st["input.image"], st["input.seg_target"], st["input.edge_target"]
    else:
        image, seg_y, edge_y = random_batch(torch, F, args.batch, cfg["image_size"], k, edge_size)
    model.to(device)
    image, seg_y, edge_y = image.to(device), seg_y.to(device), edge_y.to(device)
    assert tuple(image.shape) == (args.batch, 3, cfg["image_size"], cfg["image_size"]), image.shape
    assert tuple(seg_y.shape) == (args.batch, k, cfg["image_size"], cfg["image_size"]), seg_y.shape
    assert tuple(edge_y.shape) == (args.batch, 2, edge_size, edge_size), edge_y.shape

    loss_fn = make_loss(torch, F)
    opt_kw = dict(lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)
    if args.foreach:
        opt_kw["foreach"] = True
    opt = torch.optim.AdamW(params, **opt_kw)
    model.train()
    # Gradients live from the start, so parameters the loss does not reach (the IoU head) get a
    # zero gradient and the usual decoupled decay, as in udeg's step; zero_grad zeroes in place.
    for p in params:
        p.grad = torch.zeros_like(p)

    scaler = torch.cuda.amp.GradScaler() if args.amp else None
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=False)
        if scaler is None:
            logits, low, edge_logits = model(image)
            total, terms = loss_fn(w, logits, low, edge_logits, seg_y, edge_y)
            total.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, args.clip_norm)
            opt.step()
        else:
            with torch.autocast("cuda", dtype=torch.float16):
                logits, low, edge_logits = model(image)
            # the evidential loss (digamma, lgamma) in fp32
            total, terms = loss_fn(w, logits.float(), low.float(), edge_logits.float(), seg_y, edge_y)
            scaler.scale(total).backward()
            scaler.unscale_(opt)
            norm = torch.nn.utils.clip_grad_norm_(params, args.clip_norm)
            scaler.step(opt)
            scaler.update()
        sync()
        return total, terms, norm

    def infer():
        with torch.no_grad():
            if args.amp:
                with torch.autocast("cuda", dtype=torch.float16):
                    model(image)
            else:
                model(image)
        sync()

    total, terms, norm = step()  # first step: the parity numbers (from the initial weights)
    log(f"torch udeg step: first loss {float(total):.6f}, grad norm {float(norm):.6f}")
    info = dict(
        torch_param_count=sum(p.numel() for p in params),
        torch_param_tensors=len(params),
        torch_first_loss=float(total),
        torch_first_terms={n: float(t) for n, t in terms.items()},
        torch_first_grad_norm=float(norm),
        torch_config=dict(
            sam=cfg,
            classes=args.classes,
            batch=args.batch,
            image_size=cfg["image_size"],
            edge_hidden=args.edge_hidden or cfg["prompt_embed_dim"],
            loss_weights=w,
            lr=args.lr,
            weight_decay=args.weight_decay,
            clip_norm=args.clip_norm,
            adamw_foreach=args.foreach,
        ),
        torch_version=torch.__version__,
        torch_device=(torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"),
        torch_amp=args.amp,
        torch_lora_rank=args.lora_rank,
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        blas=blas_desc,
        malloc_tuned=malloc_tuned,
    )
    peak = lambda: round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # noqa: E731

    if args.serve:
        # Driven by the benchmark, so both sides are timed in alternating blocks under the same
        # machine load: one JSON line now, then one per command ("steps N" -> per-step ms; "done").
        print(json.dumps({"ready": True, **info}), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "steps":
                ms = []
                for _ in range(int(cmd[1])):
                    t0 = time.perf_counter()
                    step()
                    ms.append((time.perf_counter() - t0) * 1e3)
                print(json.dumps({"ms": ms}), flush=True)
            elif cmd[0] == "done":
                break
            else:
                log(f"error: unknown command {line.strip()!r}")
                sys.exit(2)
        print(json.dumps({"torch_peak_rss_mb": peak()}), flush=True)
        return

    med, lo = time_case(step, max(0, args.warmup - 1), args.repeats)
    log(f"torch udeg step: median {med:.1f} ms, min {lo:.1f} ms")
    if args.infer:
        model.eval()
        infer_med, infer_lo = time_case(infer, args.warmup, args.repeats)
        info.update(torch_infer_ms=round(infer_med, 2), torch_infer_min_ms=round(infer_lo, 2))
        log(f"torch udeg inference: median {infer_med:.1f} ms")
    if args.device == "cuda":
        info.update(torch_cuda_peak_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1))
    print(
        json.dumps(
            dict(
                torch_step_ms=round(med, 1),
                torch_step_min_ms=round(lo, 1),
                **info,
                torch_peak_rss_mb=peak(),
                repeats=args.repeats,
                warmup=args.warmup,
            )
        )
    )


if __name__ == "__main__":
    main()
