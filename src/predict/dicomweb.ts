// `udeg predict --dicomweb URL --study UID`: a PACS round trip. QIDO-RS lists the study's series,
// WADO-RS fetches each image series, udeg predicts every frame (in slice order), and STOW-RS
// stores one DICOM SEG per series back into the same study (unless --no-store); with --out, the
// per-frame outputs and the SEG files are written there too.
import { mkdirSync } from "node:fs";
import type { ExecutionProvider } from "../engine/index.js";
import { sliceOrder } from "../io/dicom/dicom-series.js";
import { type DicomwebOptions, qidoSeries, stowInstances, wadoSeries } from "../io/dicom/dicomweb.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { predictDicomInstances, writeDicomObjects } from "./dicom.js";
import type { ImageTrust } from "./summary.js";

export interface DicomwebPredictOptions {
  model: string;
  dicomweb: string;
  study: string;
  series?: string;
  out?: string;
  /** STOW the SEG back (default true). */
  store?: boolean;
  token?: string;
  quiet?: boolean;
  device?: ExecutionProvider;
}

/** Series that hold no images to segment (RWV: value maps, such as udeg's uncertainty map). */
const NOT_IMAGES = new Set([
  "SEG",
  "RWV",
  "SR",
  "RTSTRUCT",
  "RTPLAN",
  "RTRECORD",
  "PR",
  "KO",
  "REG",
  "DOC",
  "ECG",
]);

/** The study's image series to predict: all of them, or `o.series` (checked to be images). */
export async function imageSeries(
  o: Pick<DicomwebPredictOptions, "dicomweb" | "study" | "series" | "token">,
): Promise<{ seriesInstanceUID: string; modality: string }[]> {
  const web: DicomwebOptions = { url: o.dicomweb, token: o.token };
  const all = await qidoSeries(web, o.study);
  const listing = all.map((s) => `${s.seriesInstanceUID} (${s.modality || "?"})`).join(", ") || "none";
  let chosen = all.filter((s) => !NOT_IMAGES.has(s.modality.toUpperCase()));
  if (o.series) {
    chosen = all.filter((s) => s.seriesInstanceUID === o.series);
    if (chosen.length === 0)
      throw new Error(
        `--series ${o.series} is not in study ${o.study} on ${o.dicomweb} (its series: ${listing})`,
      );
    if (NOT_IMAGES.has(chosen[0]!.modality.toUpperCase()))
      throw new Error(
        `--series ${o.series} is a ${chosen[0]!.modality} series, not images: pick an image series (${listing})`,
      );
  }
  if (chosen.length === 0)
    throw new Error(`study ${o.study} on ${o.dicomweb} has no image series (its series: ${listing})`);
  return chosen;
}

/** Loads the run `o.model` and predicts the study's image series (`udeg predict --dicomweb`). */
export async function predictDicomweb(
  o: DicomwebPredictOptions,
  log: (line: string) => void = console.error,
): Promise<DicomwebResult> {
  const predictor = await UdegPredictor.load(o.model, { ep: o.device });
  return predictStudy(predictor, o, log);
}

export interface DicomwebResult {
  series: string[];
  written: string[];
  stored: number;
  /** Every frame's trust entry (summary.json). */
  images: ImageTrust[];
}

/** The study's image series through a loaded run (a local `udeg predict` and the queue's workers). */
export async function predictStudy(
  predictor: UdegPredictor,
  o: Omit<DicomwebPredictOptions, "model" | "device">,
  log: (line: string) => void = console.error,
): Promise<DicomwebResult> {
  const web: DicomwebOptions = { url: o.dicomweb, token: o.token };
  const chosen = await imageSeries(o);
  if (o.out) mkdirSync(o.out, { recursive: true });
  const written: string[] = [];
  const images: ImageTrust[] = [];
  let stored = 0;
  for (const s of chosen) {
    const raw = await wadoSeries(web, o.study, s.seriesInstanceUID);
    if (raw.length === 0) throw new Error(`WADO-RS returned no instance for series ${s.seriesInstanceUID}`);
    const instances = sliceOrder(
      raw.map((bytes, k) => ({ bytes, name: `${s.seriesInstanceUID}_${String(k + 1).padStart(4, "0")}` })),
    ).map((inst, k) => ({ ...inst, name: `${s.seriesInstanceUID}_${String(k + 1).padStart(4, "0")}` }));
    log(`series ${s.seriesInstanceUID} (${s.modality}): ${instances.length} instance(s) ...`);
    const r = await predictDicomInstances(
      predictor,
      instances,
      o.out ?? null,
      !!o.quiet,
      s.modality || "series",
    );
    written.push(...r.written);
    images.push(...r.images);
    if (o.out) written.push(...writeDicomObjects(o.out, s.seriesInstanceUID, r));
    if (r.note) log(r.note);
    if (o.store !== false) {
      // The SEG, and the uncertainty as a Parametric Map where the series has a geometry.
      await stowInstances(web, o.study, r.uncertaintyMap ? [r.seg, r.uncertaintyMap] : [r.seg]);
      stored++;
      log(
        `stored the SEG${r.uncertaintyMap ? " and the uncertainty map" : ""} of series ${s.seriesInstanceUID} in study ${o.study}`,
      );
    }
  }
  return { series: chosen.map((s) => s.seriesInstanceUID), written, stored, images };
}
