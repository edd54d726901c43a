// The `udeg` command line. Thin by design: parse, validate, call the library, print.
import { Command } from "commander";
import { packageVersion } from "../io/package-files.js";
import { addConvertCommand } from "./convert.js";
import { addDemoCommands } from "./demo.js";
import { addDoctorCommand } from "./doctor.js";
import { addSamCommands } from "./sam-predict.js";
import { addServeCommand } from "./serve.js";
import { addUdegCommands } from "./udeg-commands.js";
import { addWorkerCommand } from "./worker.js";

export function buildProgram(): Command {
  const program = new Command()
    .name("udeg")
    .description(
      "UDEG-Net: automatic medical image segmentation on the Segment Anything Model,\n" +
        "with LoRA, edge prompts and evidential uncertainty (runs on ONNX Runtime).",
    )
    .version(packageVersion())
    .showHelpAfterError();
  addDemoCommands(program);
  addUdegCommands(program);
  addConvertCommand(program);
  addSamCommands(program);
  addServeCommand(program);
  addDoctorCommand(program);
  addWorkerCommand(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync(argv as string[]);
}
