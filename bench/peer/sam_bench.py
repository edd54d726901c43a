#!/usr/bin/python3
"""PyTorch peer for `npm run bench -- sam`: prompt-free SAM ViT-B inference (random weights).

Times image encoder + prompt encoder + mask decoder (multimask) on one normalised image at
image sizes 1024 and 512, 2 threads, exactly what udeg's benchmark times. Prints one JSON object.

Run with Debian's torch: /usr/bin/python3 bench/peer/sam_bench.py [--repeats N] [--warmup N]
"""

import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import LIBBLAS, blas_in_use, log, time_case, tune_malloc  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="1024,512")
    args = p.parse_args()

    blas_target, blas_desc = blas_in_use()
    if "openblas" not in blas_target:
        log(f"error: {LIBBLAS} resolves to {blas_target}, not OpenBLAS: the comparison would be meaningless")
        sys.exit(2)
    tune_malloc()

    import torch
    from sam_torch import SAM_PRESETS, build_sam_from_config

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    out = {"torch_version": torch.__version__, "torch_threads": args.threads, "blas": blas_desc}
    for size in [int(s) for s in args.sizes.split(",")]:
        sam = build_sam_from_config({**SAM_PRESETS["vit_b"], "image_size": size})
        x = torch.randn(1, 3, size, size)

        def infer():
            with torch.no_grad():
                emb = sam.image_encoder(x)
                return sam.decode(emb, multimask_output=True)

        med, lo = time_case(infer, args.warmup, args.repeats)
        log(f"torch sam vit_b {size}: median {med:.0f} ms, min {lo:.0f} ms")
        out[f"torch_infer_{size}_ms"] = round(med, 1)
        out[f"torch_infer_{size}_min_ms"] = round(lo, 1)
        del sam
    out["torch_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
