import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parsePoint, samPredict } from "../../src/cli/sam-predict.js";
import { readSafetensors, toFloat32 } from "../../src/io/checkpoints/index.js";
import { readImage, writePng } from "../../src/io/images/images.js";

const TINY = "test/fixtures/sam/tiny";
const quiet = () => {};

async function fixtureImage(dir: string): Promise<string> {
  const img = readSafetensors(`${TINY}/io.safetensors`).tensors.get("image_u8_hwc")!;
  const [h, w] = img.shape as [number, number];
  const path = join(dir, "image.png");
  await writePng(path, { width: w, height: h, channels: 3, data: img.data as Uint8Array, bitDepth: 8 });
  return path;
}

test("udeg sam predict: prompt-free on the tiny fixture writes masks, scores and raw tensors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udeg-cli-"));
  const image = await fixtureImage(dir);
  const out = join(dir, "out");
  await samPredict(
    { checkpoint: `${TINY}/weights.pth`, config: `${TINY}/config.json`, image, point: [], out },
    quiet,
  );
  const scores = JSON.parse(readFileSync(join(out, "scores.json"), "utf8"));
  assert.equal(scores.prompt_free, true);
  assert.equal(scores.masks.length, 3);
  const io = readSafetensors(`${TINY}/io.safetensors`).tensors;
  const raw = readSafetensors(join(out, "raw.safetensors")).tensors;
  const emb = toFloat32(raw.get("image_embeddings")!);
  const want = toFloat32(io.get("image_embeddings")!);
  assert.ok(emb.every((v, i) => Math.abs(v - want[i]!) < 1e-4));
  const iou = toFloat32(raw.get("iou_predictions")!);
  const wantIou = toFloat32(io.get("noprompt_multi_iou")!);
  assert.ok(iou.every((v, i) => Math.abs(v - wantIou[i]!) < 1e-4));
  // masks are the fixture's original-size logits thresholded at 0
  const mask = await readImage(join(out, "mask_1.png"));
  const logits = toFloat32(io.get("noprompt_multi_masks_original_size")!);
  const plane = mask.width * mask.height;
  let agree = 0;
  for (let i = 0; i < plane; i++) agree += mask.data[i]! > 0 === logits[plane + i]! > 0 ? 1 : 0;
  assert.ok(agree / plane > 0.999, `agreement ${agree / plane}`);

  // refine with a point and the previous low-res logits as mask prompt
  const out2 = join(dir, "out2");
  await samPredict(
    {
      checkpoint: `${TINY}/weights.safetensors`,
      config: `${TINY}/config.json`,
      image,
      point: ["40,50,1"],
      box: "10,10,80,100",
      maskInput: join(out, "raw.safetensors"),
      out: out2,
    },
    quiet,
  );
  const s2 = JSON.parse(readFileSync(join(out2, "scores.json"), "utf8"));
  assert.equal(s2.masks.length, 1);
  assert.ok(existsSync(join(out2, "mask_0.png")));
});

test("udeg sam predict: bad input gets clear errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udeg-cli-"));
  const image = await fixtureImage(dir);
  const base = {
    checkpoint: `${TINY}/weights.pth`,
    config: `${TINY}/config.json`,
    image,
    point: [] as string[],
    out: join(dir, "o"),
  };
  await assert.rejects(
    samPredict({ ...base, checkpoint: join(dir, "nope.pth") }, quiet),
    /--checkpoint .*nope\.pth: no such file/,
  );
  await assert.rejects(
    samPredict({ ...base, config: undefined, model: "vit_b" }, quiet),
    /does not fit this SAM model/,
  );
  await assert.rejects(
    samPredict({ ...base, config: undefined, model: "vit_x" }, quiet),
    /--model must be one of/,
  );
  const corrupt = join(dir, "corrupt.png");
  writeFileSync(corrupt, "not an image at all");
  await assert.rejects(samPredict({ ...base, image: corrupt }, quiet), /corrupt\.png/);
  await assert.rejects(samPredict({ ...base, point: ["500,5,1"] }, quiet), /outside the 96x128 image/);
  const truncated = join(dir, "trunc.pth");
  writeFileSync(truncated, readFileSync(`${TINY}/weights.pth`).subarray(0, 5000));
  await assert.rejects(samPredict({ ...base, checkpoint: truncated }, quiet), /trunc\.pth/);
  assert.throws(() => parsePoint("1,2,3"), /label must be 1/);
  assert.throws(() => parsePoint("1,2"), /3 comma-separated numbers/);
});
