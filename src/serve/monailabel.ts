// `udeg serve --monailabel`: the part of MONAI Label's REST API that 3D Slicer's MONAI Label
// plugin (and OHIF's) uses for automatic segmentation, answered by a trained udeg run:
//   GET  /info/                      the app: name, labels, models {udeg: type "segmentation"}
//   PUT  /datastore/?image=ID        multipart "file" (a NIfTI volume) -> {"image": ID}
//   POST /infer/{model}?image=ID     multipart "params" -> multipart/form-data: "params" (JSON)
//                                    and "image" (the label volume as NIfTI, on the input's grid)
//   GET  /auth/                      404: no authentication service (the plugin then sends none,
//                                    or the --token it was given)
// The uncertainty map reaches the user the same way: POST /infer/udeg?image=ID&output=uncertainty
// answers the float32 uncertainty volume as the "image" part, which Slicer loads as a volume; the
// label answer's params carry its summary (mean uncertainty inside the mask and overall).
// Safety: listens on 127.0.0.1 unless told otherwise, uploads capped (--max-upload-mb), image ids
// limited to [A-Za-z0-9._-] (no paths), optional bearer token on every call.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { writeFileAtomic } from "../io/atomic.js";
import { buildMultipart, MultipartError, parseMultipart } from "../io/dicom/multipart.js";
import { headerFor, type NiftiVolume, parseNifti, serializeNifti } from "../io/nifti/nifti.js";
import { packageVersion } from "../io/package-files.js";
import { predictNiftiVolume } from "../predict/volume.js";
import { uncertaintyMeans } from "../udeg/prediction.js";
import type { UdegPredictor } from "../udeg/predictor.js";
import type { TrustVerdict } from "../udeg/trust.js";

export const MODEL_NAME = "udeg";

export interface MonaiLabelOptions {
  predictor: UdegPredictor;
  /** Shown as the app name (the run folder's name). */
  name: string;
  port?: number;
  host?: string;
  /** Required as `Authorization: Bearer TOKEN` when set. */
  token?: string;
  /** Upload limit in bytes (default 1 GiB). */
  maxUploadBytes?: number;
  /** Where uploaded images live (default: a temporary folder, removed on close). */
  datastore?: string;
  log?: (line: string) => void;
}

export interface MonaiLabelServer {
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const IMAGE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function imageId(url: URL): string {
  const id = url.searchParams.get("image") ?? "";
  if (!IMAGE_ID.test(id))
    throw new HttpError(
      400,
      `image id "${id.slice(0, 80)}": 1-128 characters of A-Z a-z 0-9 . _ - (no paths)`,
    );
  return id;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new HttpError(413, `upload of ${declared} bytes is over the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `upload is over the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function formParts(body: Uint8Array, req: IncomingMessage) {
  try {
    return parseMultipart(body, String(req.headers["content-type"] ?? ""));
  } catch (err) {
    if (err instanceof MultipartError)
      throw new HttpError(400, `expected multipart/form-data: ${err.message}`);
    throw err;
  }
}

function labelsOf(predictor: UdegPredictor): Record<string, number> {
  const k = predictor.resolved.model.classes;
  return Object.fromEntries(
    Array.from({ length: k }, (_, i) => [k === 1 ? "foreground" : `class ${i + 1}`, i + 1]),
  );
}

export async function startMonaiLabelServer(o: MonaiLabelOptions): Promise<MonaiLabelServer> {
  const log = o.log ?? (() => {});
  const limit = o.maxUploadBytes ?? 2 ** 30;
  const ownStore = o.datastore === undefined;
  const store = o.datastore ?? mkdtempSync(join(tmpdir(), "udeg-monailabel-"));
  mkdirSync(store, { recursive: true });
  const labels = labelsOf(o.predictor);
  const info = {
    name: `udeg: ${o.name}`,
    description: "UDEG-Net (SAM with LoRA, edge prompts, evidential uncertainty), served by udeg",
    version: packageVersion(),
    labels: Object.keys(labels),
    models: {
      [MODEL_NAME]: {
        type: "segmentation",
        labels,
        dimension: 2,
        description:
          "slice by slice along the volume's third axis; output=uncertainty gives the uncertainty map",
      },
    },
    trainers: {},
    strategies: {},
    scoring: {},
    train_stats: {},
    datastore: { total: 0, completed: 0 },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "");
    if (o.token && req.headers.authorization !== `Bearer ${o.token}` && path !== "/auth")
      throw new HttpError(401, "a bearer token is required (Authorization: Bearer TOKEN)");
    if (req.method === "GET" && path === "/info") return json(res, 200, info);
    if (req.method === "PUT" && path === "/datastore") {
      const id = imageId(url);
      const file = formParts(await readBody(req, limit), req).find((p) => p.name === "file");
      if (!file) throw new HttpError(400, 'no multipart part named "file"');
      try {
        parseNifti(file.body, file.filename ?? id); // refuse what inference could not read
      } catch (err) {
        throw new HttpError(415, `the upload is not a NIfTI volume udeg reads: ${(err as Error).message}`);
      }
      writeFileAtomic(join(store, `${id}.nii.gz`), gzipSync(file.body));
      log(`datastore: ${id} (${file.body.length} bytes)`);
      return json(res, 200, { image: id });
    }
    const infer = /^\/infer\/([^/]+)$/.exec(path);
    if (req.method === "POST" && infer) {
      if (infer[1] !== MODEL_NAME) throw new HttpError(404, `no model "${infer[1]}" (models: ${MODEL_NAME})`);
      const id = imageId(url);
      const body = await readBody(req, limit);
      const params = formParts(body, req).find((p) => p.name === "params");
      const given = params ? (JSON.parse(new TextDecoder().decode(params.body) || "{}") as object) : {};
      const file = join(store, `${id}.nii.gz`);
      if (!existsSync(file))
        throw new HttpError(404, `image "${id}" is not in the datastore: PUT /datastore/?image=${id} first`);
      const vol: NiftiVolume = parseNifti(readFileSync(file), id);
      const t0 = performance.now();
      const r = await predictNiftiVolume(o.predictor, vol);
      const wantUncertainty = url.searchParams.get("output") === "uncertainty";
      const out = wantUncertainty
        ? serializeNifti(headerFor(vol.header, r.shape, "float32"), r.uncertainty)
        : serializeNifti(headerFor(vol.header, r.shape, "uint8"), r.mask);
      const u = uncertaintyMeans(r.mask, r.uncertainty);
      const answer = {
        ...given,
        label_names: labels,
        latencies: { infer: Math.round((performance.now() - t0) / 10) / 100 },
        output: wantUncertainty ? "uncertainty" : "label",
        uncertainty: { mean: u.mean, mean_in_mask: u.meanInMask },
        trust: volumeTrust(r.trust),
      };
      const boundary = `udeg-${randomBytes(12).toString("hex")}`;
      const payload = buildMultipart(
        [
          {
            headers: {
              "Content-Disposition": 'form-data; name="params"',
              "Content-Type": "application/json",
            },
            body: new TextEncoder().encode(JSON.stringify(answer)),
          },
          {
            headers: {
              "Content-Disposition": `form-data; name="image"; filename="${id}_${answer.output}.nii.gz"`,
              "Content-Type": "application/octet-stream",
            },
            body: gzipSync(out),
          },
        ],
        boundary,
      );
      log(`infer: ${id} -> ${answer.output} (${answer.latencies.infer} s)`);
      res.writeHead(200, {
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
        "Content-Length": payload.length,
      });
      res.end(payload);
      return;
    }
    throw new HttpError(
      404,
      `no ${req.method} ${path || "/"} here (udeg answers /info/, /datastore/, /infer/${MODEL_NAME})`,
    );
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log(`error: ${(err as Error).stack ?? err}`);
      if (!res.headersSent) json(res, status, { detail: (err as Error).message });
      else res.destroy();
      req.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 8000, o.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      if (ownStore) rmSync(store, { recursive: true, force: true });
    },
  };
}

/**
 * The trust flag of a volume's slices (udeg/trust.ts) for the answer: the lowest slice trust,
 * whether any slice is flagged and which (1-based); null for runs trained before the flag.
 */
export function volumeTrust(
  slices: readonly (TrustVerdict | null)[],
): { lowest: number; flagged: boolean; flagged_slices: number[] } | null {
  const judged = slices.filter((t): t is TrustVerdict => t !== null);
  if (judged.length === 0) return null;
  const flagged = slices.flatMap((t, k) => (t?.flagged ? [k + 1] : []));
  return {
    lowest: Math.min(...judged.map((t) => t.trust)),
    flagged: flagged.length > 0,
    flagged_slices: flagged,
  };
}
