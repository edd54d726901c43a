// The GPU benchmark's smoke run (`npm run bench -- gpu --smoke`), as CI runs it: the whole path
// of bench/gpu.ts on a tiny configuration, udeg on WebGPU (SwiftShader here) and the PyTorch peer
// (on the CPU here, on CUDA on a GPU machine), which must compute the same first step.
import "../webgpu-env.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { runGpuBench } from "../../bench/gpu.js";

test("[webgpu] the GPU benchmark runs end to end and the PyTorch peer computes udeg's step", async () => {
  const lines: string[] = [];
  const r = await runGpuBench({
    arch: "tiny",
    sizes: [64],
    ep: "webgpu",
    peerDevice: "cpu",
    repeats: 1,
    warmup: 1,
    fp16: false,
    log: (l) => lines.push(l),
  });
  assert.equal(r.software_adapter, true, `SwiftShader is reported as software: ${r.adapter}`);
  assert.match(lines[0]!, /software device/);
  const s = r.sizes[0]!;
  assert.equal(s.image_size, 64);
  assert.ok(s.step_ms.median > 0 && s.infer_ms.median > 0 && s.torch.fp32.step_ms > 0);
  assert.equal(s.images_per_s, Math.round((1000 / s.step_ms.median) * 100) / 100);
  // LoRA trains, the encoder is frozen: far fewer trainable parameters than the model has.
  assert.ok(s.trainable_params > 100_000 && s.trainable_params < 1_000_000, `${s.trainable_params}`);
  assert.ok(s.loss_rel_diff < 1e-3 && s.grad_norm_rel_diff < 1e-3, JSON.stringify(s));
  assert.ok(Math.abs(s.first_loss - s.torch.fp32.first_loss) / s.first_loss < 1e-3);
});
