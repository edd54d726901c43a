// A DICOMweb client for what `udeg predict --dicomweb` does with a PACS: QIDO-RS lists a study's
// series, WADO-RS retrieves a series' instances, STOW-RS stores new instances (the SEG) in the
// study (PS3.18). Written here on fetch because what it needs is three requests and the
// multipart/related framing around them (./multipart.ts); dcmjs's DICOMwebClient is browser XHR and the
// dicomweb-client package is too (no Node transport without a polyfill).
import { randomBytes } from "node:crypto";
import { buildMultipart, parseMultipart } from "./multipart.js";

export interface DicomwebOptions {
  /** The service root, e.g. http://pacs:8042/dicom-web */
  url: string;
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string;
}

export interface SeriesInfo {
  seriesInstanceUID: string;
  modality: string;
  description: string;
  instances: number | null;
}

/** Every failure of this module: the request, what came back and what to do. */
export class DicomwebError extends Error {
  override name = "DicomwebError";
}

function root(o: DicomwebOptions): string {
  return o.url.replace(/\/+$/, "");
}

async function request(
  o: DicomwebOptions,
  path: string,
  init: RequestInit & { accept?: string },
): Promise<Response> {
  const url = `${root(o)}${path}`;
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.accept) headers.Accept = init.accept;
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers });
  } catch (err) {
    throw new DicomwebError(
      `${init.method ?? "GET"} ${url}: no answer (${(err as Error).cause ?? (err as Error).message}). Check --dicomweb (the DICOMweb root, e.g. http://host:8042/dicom-web) and that the server is up.`,
      { cause: err },
    );
  }
  if (res.ok) return res;
  const body = (await res.text()).slice(0, 300);
  const hint =
    res.status === 401 || res.status === 403
      ? " The server wants credentials: pass --token."
      : res.status === 404
        ? " Check the study / series UID and the DICOMweb root."
        : "";
  throw new DicomwebError(
    `${init.method ?? "GET"} ${url}: HTTP ${res.status} ${res.statusText}.${hint} ${body}`.trim(),
  );
}

const tagValue = (item: Record<string, { Value?: unknown[] }>, tag: string): unknown => item[tag]?.Value?.[0];

/** QIDO-RS: the series of a study. */
export async function qidoSeries(o: DicomwebOptions, study: string): Promise<SeriesInfo[]> {
  const res = await request(o, `/studies/${encodeURIComponent(study)}/series`, {
    accept: "application/dicom+json",
  });
  const text = await res.text();
  const list = (text.trim() ? JSON.parse(text) : []) as Record<string, { Value?: unknown[] }>[];
  return list.map((item) => ({
    seriesInstanceUID: String(tagValue(item, "0020000E") ?? ""),
    modality: String(tagValue(item, "00080060") ?? ""),
    description: String(tagValue(item, "0008103E") ?? ""),
    instances: item["00201209"]?.Value ? Number(tagValue(item, "00201209")) : null,
  }));
}

/** WADO-RS: every instance of a series, as Part 10 bytes. */
export async function wadoSeries(o: DicomwebOptions, study: string, series: string): Promise<Uint8Array[]> {
  const res = await request(o, `/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}`, {
    accept: 'multipart/related; type="application/dicom"',
  });
  const body = new Uint8Array(await res.arrayBuffer());
  const type = res.headers.get("content-type") ?? "";
  try {
    return parseMultipart(body, type).map((p) => p.body);
  } catch (err) {
    throw new DicomwebError(
      `WADO-RS ${root(o)}/studies/${study}/series/${series}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** STOW-RS: store Part 10 instances in a study; throws if the server refused any. */
export async function stowInstances(
  o: DicomwebOptions,
  study: string,
  files: readonly Uint8Array[],
): Promise<void> {
  const boundary = `udeg-${randomBytes(12).toString("hex")}`;
  const res = await request(o, `/studies/${encodeURIComponent(study)}`, {
    method: "POST",
    accept: "application/dicom+json",
    headers: { "Content-Type": `multipart/related; type="application/dicom"; boundary=${boundary}` },
    body: Buffer.from(
      buildMultipart(
        files.map((body) => ({ headers: { "Content-Type": "application/dicom" }, body })),
        boundary,
      ),
    ),
  });
  const text = await res.text();
  const answer = text.trim() ? (JSON.parse(text) as Record<string, { Value?: unknown[] }>) : {};
  const failed = answer["00081198"]?.Value ?? [];
  if (failed.length > 0)
    throw new DicomwebError(
      `STOW-RS ${root(o)}/studies/${study}: the server refused ${failed.length} instance(s): ${text.slice(0, 300)}`,
    );
}
