// `udeg convert`: a DICOM file or series folder to NIfTI (modality values, RAS affine), as
// dcm2niix writes it, for training data and for tools that want NIfTI.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { seriesToNifti, sliceOrder } from "../io/dicom/dicom-series.js";
import { writeNifti } from "../io/nifti/nifti.js";
import { dicomSeries, isDicomFile } from "../predict/dicom.js";

export interface ConvertOptions {
  input: string;
  out: string;
  series?: string;
}

export async function convertCommand(
  o: ConvertOptions,
  log: (line: string) => void = console.error,
): Promise<void> {
  if (!existsSync(o.input)) throw new Error(`--input ${o.input}: no such file or folder`);
  const files = statSync(o.input).isDirectory()
    ? readdirSync(o.input)
        .sort()
        .map((f) => join(o.input, f))
        .filter((f) => statSync(f).isFile() && isDicomFile(f))
    : [o.input];
  if (files.length === 0) throw new Error(`--input ${o.input}: no DICOM files in the folder`);
  let groups = await dicomSeries(files);
  if (o.series) groups = groups.filter((g) => g[0]!.series === o.series);
  if (groups.length !== 1) {
    const all = (await dicomSeries(files)).map((g) => `${g[0]!.series} (${g.length} file(s))`).join(", ");
    throw new Error(
      o.series
        ? `--series ${o.series} is not in ${o.input} (series there: ${all})`
        : `${o.input} holds ${groups.length} series: pick one with --series UID (${all})`,
    );
  }
  const ordered = sliceOrder(groups[0]!);
  const { header, data } = await seriesToNifti(ordered);
  await writeNifti(o.out, header, data);
  log(
    `wrote ${o.out}: ${header.dim.slice(1, 4).join(" x ")} ${header.datatype}, ${ordered.length} instance(s)`,
  );
}

export function addConvertCommand(program: Command): void {
  program
    .command("convert")
    .description("a DICOM file or series folder to NIfTI (modality values, RAS affine, as dcm2niix)")
    .requiredOption("--input <path>", "a DICOM file or a folder holding a series")
    .requiredOption("--out <file>", "the .nii or .nii.gz to write")
    .option("--series <uid>", "the SeriesInstanceUID to convert when the folder holds several")
    .action(async (f: ConvertOptions) => {
      await convertCommand(f);
    });
}
