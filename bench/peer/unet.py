#!/usr/bin/python3
"""A plain 2-D U-Net in PyTorch: the quality benchmark's peer (npm run bench -- quality).

The U-Net nnU-Net's 2-D configuration would build for 128 px images, without its extras: per
stage two (3x3 conv, InstanceNorm, LeakyReLU 0.01), stride-2 max pooling four times, transposed
2x2 convolutions up, skip connections by concatenation, a 1x1 conv head; base width 32, doubling
per stage up to 256. Loss: soft Dice (foreground classes, batch Dice) + cross-entropy. Adam,
lr 1e-3 with the same warm-up + poly decay as udeg, weight decay 0.

It is driven by bench/unet-peer.ts over stdin/stdout, one command per line and one JSON answer
per line, so that it trains on exactly udeg's batches (the same split, size, order and
augmentation, which the TypeScript side writes from udeg's DataLoader) and its predictions are
restored and scored by udeg's own code:
  train FILE LR     one epoch: FILE is a safetensors of `images` [N,3,S,S] float32 0..255 and
                    `masks` [N,S,S] uint8 class indices, cut into batches of --batch in order
  predict FILE OUT  `images` of FILE -> OUT: `probability` [N,K,S,S] (softmax)
  keep              remember the current weights (the best epoch on validation so far)
  restore           go back to the kept weights
  done              print peak RSS and exit
Progress goes to stderr. Run with Debian's interpreter: /usr/bin/python3.
"""

import argparse
import copy
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import LIBBLAS, blas_in_use, log  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=int, required=True, help="K, background included")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base", type=int, default=32, help="channels of the first stage")
    p.add_argument("--max-width", type=int, default=256, help="channel cap per stage")
    p.add_argument("--poolings", type=int, default=4)
    p.add_argument("--allow-reference-blas", action="store_true")
    return p.parse_args()


def build(torch, nn, in_ch, classes, base, max_width, poolings):
    def block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )

    widths = [min(base * 2**i, max_width) for i in range(poolings + 1)]

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.ModuleList()
            cin = in_ch
            for w in widths:
                self.down.append(block(cin, w))
                cin = w
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ModuleList()
            self.dec = nn.ModuleList()
            for i in range(poolings, 0, -1):
                self.up.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
                self.dec.append(block(2 * widths[i - 1], widths[i - 1]))
            self.head = nn.Conv2d(widths[0], classes, 1)

        def forward(self, x):
            skips = []
            for i, d in enumerate(self.down):
                x = d(x)
                if i < len(self.down) - 1:
                    skips.append(x)
                    x = self.pool(x)
            for up, dec in zip(self.up, self.dec):
                x = up(x)
                x = dec(torch.cat([skips.pop(), x], 1))
            return self.head(x)

    return UNet(), widths


def main():
    args = parse_args()
    target, desc = blas_in_use()
    if "openblas" not in target and not args.allow_reference_blas:
        log(f"unet.py: {LIBBLAS} is not OpenBLAS ({desc}); apt-get install -y libopenblas0-pthread")
        sys.exit(2)
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    import sam_torch as S

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model, widths = build(torch, nn, 3, args.classes, args.base, args.max_width, args.poolings)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
    kept = None

    def normalise(x):
        # nnU-Net's default for non-CT images: z-score per image.
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (std + 1e-8)

    def loss_of(logits, y):
        ce = F.cross_entropy(logits, y)
        p = torch.softmax(logits, 1)
        onehot = F.one_hot(y, args.classes).permute(0, 3, 1, 2).float()
        inter = (p * onehot).sum(dim=(0, 2, 3))[1:]
        denom = (p + onehot).sum(dim=(0, 2, 3))[1:]
        dice = 1 - ((2 * inter + 1e-5) / (denom + 1e-5)).mean()
        return ce + dice

    params = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "params": params,
                "widths": widths,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "blas": desc,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        t0 = time.perf_counter()
        if cmd[0] == "train":
            st = S.load_safetensors(cmd[1])
            for g in opt.param_groups:
                g["lr"] = float(cmd[2])
            x_all = st["images"].float()
            y_all = st["masks"].long()
            model.train()
            losses = []
            for i in range(0, x_all.shape[0] - args.batch + 1, args.batch):
                x = normalise(x_all[i : i + args.batch])
                y = y_all[i : i + args.batch]
                opt.zero_grad(set_to_none=True)
                loss = loss_of(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            answer = {"loss": sum(losses) / max(1, len(losses)), "steps": len(losses)}
        elif cmd[0] == "predict":
            st = S.load_safetensors(cmd[1])
            model.eval()
            outs = []
            with torch.no_grad():
                x_all = st["images"].float()
                for i in range(0, x_all.shape[0], args.batch):
                    outs.append(torch.softmax(model(normalise(x_all[i : i + args.batch])), 1))
            S.save_safetensors(cmd[2], {"probability": torch.cat(outs, 0).contiguous()})
            answer = {"images": int(x_all.shape[0])}
        elif cmd[0] == "keep":
            kept = copy.deepcopy(model.state_dict())
            answer = {"kept": True}
        elif cmd[0] == "restore":
            if kept is not None:
                model.load_state_dict(kept)
            answer = {"restored": kept is not None}
        elif cmd[0] == "done":
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"torch_peak_rss_mb": round(rss, 1)}), flush=True)
            return
        else:
            answer = {"error": f"unknown command {cmd[0]}"}
        answer["ms"] = round((time.perf_counter() - t0) * 1000, 1)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
