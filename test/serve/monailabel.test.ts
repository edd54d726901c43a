// `udeg serve --monailabel` as 3D Slicer's MONAI Label plugin uses it, call by call in the plugin's
// order: GET /auth/ (404: no auth service), GET /info/, PUT /datastore/?image=ID with the volume,
// POST /infer/udeg?image=ID with params; the answer parsed as the client parses it (multipart
// form-data: "params" JSON and the label NIfTI), checked against udeg's own volume prediction.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { buildMultipart, parseMultipart } from "../../src/io/dicom/multipart.js";
import { readImage } from "../../src/io/images/images.js";
import { makeNiftiHeader, parseNifti, serializeNifti } from "../../src/io/nifti/nifti.js";
import { predictNiftiVolume } from "../../src/predict/volume.js";
import { type MonaiLabelServer, startMonaiLabelServer, volumeTrust } from "../../src/serve/monailabel.js";
import { UdegPredictor } from "../../src/udeg/predictor.js";
import { ITK, twoStepRun } from "../train/helpers.js";

let server: MonaiLabelServer;
let secured: MonaiLabelServer;
let predictor: UdegPredictor;
let volumeBytes: Uint8Array;

function form(parts: { name: string; filename?: string; body: Uint8Array | string }[]) {
  const boundary = `b${randomBytes(8).toString("hex")}`;
  const body = buildMultipart(
    parts.map((p) => ({
      headers: {
        "Content-Disposition": `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ""}`,
      },
      body: typeof p.body === "string" ? new TextEncoder().encode(p.body) : p.body,
    })),
    boundary,
  );
  return {
    body: Buffer.from(body),
    headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
  };
}

before(async () => {
  const run = join(mkdtempSync(join(tmpdir(), "udeg-mlabel-")), "run");
  await twoStepRun(run);
  predictor = await UdegPredictor.load(run);
  // A 3-slice volume of the brain slices, 0.9 x 0.9 x 3 mm, with an sform.
  const slices = await Promise.all(
    ["slice_020", "slice_030", "slice_040"].map((n) => readImage(join(ITK, "images", `${n}.png`))),
  );
  const [h, w] = [slices[0]!.height, slices[0]!.width];
  const vol = new Uint8Array(h * w * 3);
  slices.forEach((s, z) => {
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) vol[i + h * (j + w * z)] = s.data[i * w + j]!;
  });
  volumeBytes = serializeNifti(makeNiftiHeader([h, w, 3], "uint8", [0.9, 0.9, 3]), vol);
  server = await startMonaiLabelServer({ predictor, name: "test", port: 0, maxUploadBytes: 4 * 2 ** 20 });
  secured = await startMonaiLabelServer({ predictor, name: "test", port: 0, token: "s3cret" });
});

after(async () => {
  await server?.close();
  await secured?.close();
});

test("the plugin's calls in order: auth (404), info, datastore upload, infer -> label volume on the input grid", async () => {
  assert.equal((await fetch(`${server.url}/auth/`)).status, 404);

  const info = await (await fetch(`${server.url}/info/`)).json();
  assert.ok(!("config" in info), "no top-level config key");
  assert.deepEqual(info.labels, ["foreground"]);
  assert.equal(info.models.udeg.type, "segmentation");

  const up = form([{ name: "file", filename: "brain.nii", body: volumeBytes }]);
  const put = await fetch(`${server.url}/datastore/?image=brain_01`, { method: "PUT", ...up });
  assert.equal(put.status, 200, await put.clone().text());
  assert.deepEqual(await put.json(), { image: "brain_01" });

  const req = form([
    { name: "params", body: JSON.stringify({ device: "cpu", result_extension: ".nii.gz" }) },
  ]);
  const res = await fetch(`${server.url}/infer/udeg?image=brain_01`, { method: "POST", ...req });
  assert.equal(res.status, 200);
  const parts = parseMultipart(
    new Uint8Array(await res.arrayBuffer()),
    res.headers.get("content-type") ?? "",
  );
  const params = JSON.parse(new TextDecoder().decode(parts.find((p) => p.name === "params")!.body));
  assert.equal(params.result_extension, ".nii.gz", "the client's params come back");
  assert.deepEqual(params.label_names, { foreground: 1 });
  const image = parts.find((p) => p.name === "image")!;
  assert.match(image.filename ?? "", /\.nii\.gz$/);
  const label = parseNifti(gunzipSync(image.body), "label");
  const input = parseNifti(volumeBytes, "input");
  assert.deepEqual(label.shape.slice(0, 3), input.shape.slice(0, 3));
  assert.deepEqual(label.header.pixdim.slice(1, 4), input.header.pixdim.slice(1, 4));
  assert.deepEqual(label.header.srowX, input.header.srowX);
  const want = await predictNiftiVolume(predictor, input);
  assert.deepEqual(Array.from(label.data as Uint8Array), Array.from(want.mask));
  assert.ok(typeof params.uncertainty.mean === "number");
  // The trust flag over the slices, as predict judges them.
  assert.deepEqual(params.trust, volumeTrust(want.trust));
  assert.ok(params.trust !== null, "the run was calibrated when training ended");
  assert.equal(params.trust.flagged_slices.length, want.trust.filter((t) => t?.flagged).length);

  // The uncertainty map, the same way.
  const ures = await fetch(`${server.url}/infer/udeg?image=brain_01&output=uncertainty`, {
    method: "POST",
    ...req,
  });
  const uparts = parseMultipart(
    new Uint8Array(await ures.arrayBuffer()),
    ures.headers.get("content-type") ?? "",
  );
  const unc = parseNifti(gunzipSync(uparts.find((p) => p.name === "image")!.body), "uncertainty");
  assert.equal(unc.header.datatype, "float32");
  const u = unc.data as Float32Array;
  assert.ok(u.every((v, i) => Math.abs(v - want.uncertainty[i]!) < 1e-6));
});

test("refusals: path-like ids, unknown model and image, non-NIfTI uploads, oversized uploads, missing token", async () => {
  const up = form([{ name: "file", filename: "x.nii", body: volumeBytes }]);
  for (const id of ["../etc", "a/b", "", ".hidden"]) {
    const r = await fetch(`${server.url}/datastore/?image=${encodeURIComponent(id)}`, {
      method: "PUT",
      ...up,
    });
    assert.equal(r.status, 400, `id "${id}"`);
  }
  const req = form([{ name: "params", body: "{}" }]);
  assert.equal(
    (await fetch(`${server.url}/infer/other?image=brain_01`, { method: "POST", ...req })).status,
    404,
  );
  const missing = await fetch(`${server.url}/infer/udeg?image=nothere`, { method: "POST", ...req });
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).detail, /PUT \/datastore\/\?image=nothere first/);
  const png = form([{ name: "file", filename: "x.png", body: new Uint8Array([137, 80, 78, 71, 1, 2, 3]) }]);
  assert.equal((await fetch(`${server.url}/datastore/?image=png`, { method: "PUT", ...png })).status, 415);
  const big = form([{ name: "file", filename: "big.nii", body: new Uint8Array(5 * 2 ** 20) }]);
  assert.equal((await fetch(`${server.url}/datastore/?image=big`, { method: "PUT", ...big })).status, 413);

  assert.equal((await fetch(`${secured.url}/info/`)).status, 401);
  const ok = await fetch(`${secured.url}/info/`, { headers: { Authorization: "Bearer s3cret" } });
  assert.equal(ok.status, 200);
  assert.equal(
    (await fetch(`${secured.url}/auth/`)).status,
    404,
    "the plugin's auth probe still gets its 404",
  );
});

test("binds to 127.0.0.1 unless told otherwise", () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});
