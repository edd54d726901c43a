// `udeg demo` and `udeg pretrain`.
import { join } from "node:path";
import type { Command } from "commander";
import { DEFAULT_DEMO, runDemo } from "../demo/demo.js";
import { DEFAULT_PRETRAIN, type PretrainOptions, pretrain } from "../train/pretrain.js";
import type { PresetName } from "../udeg/config.js";
import { integer, nonNegativeNumber, positiveInt, probability } from "./parse.js";

export function addDemoCommands(program: Command): void {
  program
    .command("demo")
    .description(
      "see UDEG-Net work in minutes, with nothing to download: LoRA-adapts the bundled base on\n" +
        "real fetal ultrasound (HC18), colonoscopy (Kvasir-SEG) and brain MRI subsets, trains the\n" +
        "ablations, writes demo/report.html",
    )
    .option("--out <dir>", "output folder", DEFAULT_DEMO.out)
    .option(
      "--epochs <n>",
      "epochs per training run (more: better, slower)",
      positiveInt("--epochs"),
      DEFAULT_DEMO.epochs,
    )
    .option("--quick", "a fast look (about 2 min): 8 epochs, udeg and samed only")
    .option("--presets <list>", "comma-separated presets to train", DEFAULT_DEMO.presets.join(","))
    .option("--no-progress", "no progress bars")
    .action(
      async (f: { out: string; epochs: number; quick?: boolean; presets: string; progress: boolean }) => {
        const presets = (f.quick ? "udeg,samed" : f.presets).split(",").map((s) => s.trim()) as PresetName[];
        const path = await runDemo({
          ...DEFAULT_DEMO,
          out: f.out,
          epochs: f.quick ? 8 : f.epochs,
          presets,
          progress: f.progress,
          log: (line) => console.error(line),
        });
        const run = join(f.out, "runs", "itk-brain", presets[0] ?? "udeg");
        console.log(
          `\nReport: ${path}\nOpen it in a browser, e.g. chromium ${path}\n` +
            `Segment your own images in the browser with a trained run: npx udeg serve --model ${run}`,
        );
      },
    );

  program
    .command("pretrain")
    .description(
      "train the small base model (`--base tiny`) on phantoms and, with --data, the train parts of\n" +
        "real data sets (their val and test parts are never read); writes assets/bases/tiny",
    )
    .option("--out <dir>", "where the base goes", DEFAULT_PRETRAIN.out)
    .option("--seed <n>", "seed of the phantoms and the training", integer("--seed"), DEFAULT_PRETRAIN.seed)
    .option("--count <n>", "phantoms per kind (0: none)", integer("--count"), DEFAULT_PRETRAIN.count)
    .option(
      "--data <dirs>",
      "comma-separated data set folders (images/ + masks/ + split.json) whose train parts join the mix",
      (v: string) =>
        v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      DEFAULT_PRETRAIN.data,
    )
    .option(
      "--min-per-set <n>",
      "repeat a real set's train images up to this many (augmented afresh each time)",
      integer("--min-per-set"),
      DEFAULT_PRETRAIN.minPerSet,
    )
    .option("--epochs <n>", "at most this many epochs", positiveInt("--epochs"), DEFAULT_PRETRAIN.epochs)
    .option(
      "--patience <n>",
      "stop after this many epochs without a better val Dice",
      positiveInt("--patience"),
      DEFAULT_PRETRAIN.patience,
    )
    .option(
      "--minutes <n>",
      "time budget in minutes (0: none)",
      nonNegativeNumber("--minutes"),
      DEFAULT_PRETRAIN.minutes,
    )
    .option("--patch-size <n>", "ViT patch size", positiveInt("--patch-size"), DEFAULT_PRETRAIN.patchSize)
    .option("--width <n>", "ViT width (embedding dimension)", positiveInt("--width"), DEFAULT_PRETRAIN.width)
    .option("--depth <n>", "ViT blocks", positiveInt("--depth"), DEFAULT_PRETRAIN.depth)
    .option(
      "--rims <p>",
      "share of shapes whose mask holds a rim past their edge (a mask that ends past the strongest edge)",
      probability("--rims"),
      DEFAULT_PRETRAIN.rims,
    )
    .option(
      "--speckle <p>",
      "share of shapes rendered grey, faded in patches and speckled (the look of coherent imaging)",
      probability("--speckle"),
      DEFAULT_PRETRAIN.speckle,
    )
    .option(
      "--init <dir>",
      "continue from this base folder (its architecture; every weight trains) instead of from scratch",
    )
    .option("--no-progress", "no progress bar")
    .action(async (f: Omit<PretrainOptions, "log" | "init"> & { init?: string }) => {
      await pretrain({ ...f, init: f.init ?? null, log: (line) => console.error(line) });
    });
}
