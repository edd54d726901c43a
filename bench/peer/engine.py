#!/usr/bin/python3
"""PyTorch (CPU) peer benchmark for the udeg engine.

Times the same two workloads the engine benchmark runs:
  * vit:  one pre-LayerNorm ViT block, width 256, 8 heads, MLP 1024,
          input 2 x 1024 x 256 fp32
  * conv: Conv2d 64->64, 3x3, padding 1, bias, input 2 x 64 x 128 x 128 fp32

For each: forward only under torch.no_grad() ("fwd"), and forward +
loss = (y * g).sum() + backward w.r.t. all weights ("fwdbwd").
Prints one JSON object on stdout; everything else goes to stderr.

Run with Debian's torch: /usr/bin/python3 bench/peer/engine.py [--repeats N] [--warmup N]
"""

import argparse
import ctypes
import json
import math
import os
import resource
import statistics
import sys
import time

LIBBLAS = "/usr/lib/x86_64-linux-gnu/libblas.so.3"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20, help="timed runs per case (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs per case before timing")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument(
        "--no-malloc-tuning",
        action="store_true",
        help="keep glibc's default malloc (large tensors are mmapped and page-faulted on every call)",
    )
    p.add_argument(
        "--allow-reference-blas",
        action="store_true",
        help="run even if libblas.so.3 is not OpenBLAS (timings will be meaningless)",
    )
    return p.parse_args()


def blas_in_use():
    """Describe the BLAS torch links against: the libblas.so.3 alternative, plus
    whatever BLAS libraries are actually mapped into this process."""
    target = os.path.realpath(LIBBLAS)
    mapped = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path)
                if path.startswith("/") and ("blas" in name or "lapack" in name):
                    mapped.add(path)
    except OSError:
        pass
    desc = f"{LIBBLAS} -> {target}"
    if mapped:
        desc += "; mapped: " + ", ".join(sorted(mapped))
    return target, desc


def tune_malloc():
    """Keep freed memory in the heap instead of returning it to the OS.

    By default glibc mmaps every allocation above 32 MB and unmaps it on free, so
    each 64 MB attention matrix is page-faulted in again on every call. In a VM
    that costs ~100-200 ms per call and would swamp the compute being compared
    (the engine's ONNX Runtime arena reuses its memory). Must run before torch
    allocates anything."""
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    ok = libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    if not ok:
        log("warning: mallopt failed; timings include page-fault cost")
    return ok


class VitBlock:
    """Pre-LN ViT block: x -> x + Attn(LN1(x)) -> x + MLP(LN2(x))."""

    def __init__(self, nn, width=256, heads=8, mlp=1024, eps=1e-6):
        self.heads = heads
        self.ln1 = nn.LayerNorm(width, eps=eps)
        self.qkv = nn.Linear(width, 3 * width, bias=True)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width, eps=eps)
        self.fc1 = nn.Linear(width, mlp)
        self.fc2 = nn.Linear(mlp, width)
        self.module = nn.ModuleList([self.ln1, self.qkv, self.proj, self.ln2, self.fc1, self.fc2])

    def __call__(self, x, torch, F):
        b, n, c = x.shape
        h, d = self.heads, c // self.heads
        qkv = self.qkv(self.ln1(x)).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each b x h x n x d
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(d)), dim=-1)
        o = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(o)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))  # exact (erf) GELU


def time_case(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main():
    args = parse_args()

    blas_target, _ = blas_in_use()
    if "openblas" not in blas_target:
        msg = (
            f"error: {LIBBLAS} resolves to {blas_target}, not OpenBLAS; torch would be ~90x slower "
            "and the comparison meaningless. Install libopenblas0-pthread and check "
            "`update-alternatives --display libblas.so.3-x86_64-linux-gnu` (or pass --allow-reference-blas)."
        )
        if not args.allow_reference_blas:
            log(msg)
            sys.exit(2)
        log("warning: " + msg)

    malloc_tuned = False if args.no_malloc_tuning else tune_malloc()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    _, blas_desc = blas_in_use()  # now that torch (and its BLAS) is loaded
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, blas: {blas_desc}")

    # ViT block
    vit = VitBlock(nn)
    x_vit = torch.randn(2, 1024, 256)
    g_vit = torch.randn(2, 1024, 256)
    # Conv
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=True)
    x_conv = torch.randn(2, 64, 128, 128)
    g_conv = torch.randn(2, 64, 128, 128)

    def vit_fwd():
        with torch.no_grad():
            vit(x_vit, torch, F)

    def vit_fwdbwd():
        vit.module.zero_grad(set_to_none=True)
        (vit(x_vit, torch, F) * g_vit).sum().backward()

    def conv_fwd():
        with torch.no_grad():
            conv(x_conv)

    def conv_fwdbwd():
        conv.zero_grad(set_to_none=True)
        (conv(x_conv) * g_conv).sum().backward()

    out = {}
    for name, fn in [
        ("vit_fwd", vit_fwd),
        ("vit_fwdbwd", vit_fwdbwd),
        ("conv_fwd", conv_fwd),
        ("conv_fwdbwd", conv_fwdbwd),
    ]:
        med, mn = time_case(fn, args.warmup, args.repeats)
        log(f"{name}: median {med:.2f} ms, min {mn:.2f} ms")
        out[f"torch_{name}_ms"] = round(med, 3)
        out[f"torch_{name}_min_ms"] = round(mn, 3)

    out.update(
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        torch_version=torch.__version__,
        blas=blas_desc,
        malloc_tuned=malloc_tuned,
        torch_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        repeats=args.repeats,
        warmup=args.warmup,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
