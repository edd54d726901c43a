// `udeg` from source, for tests that need the CLI in a process of its own (bin/udeg.js runs the
// built dist/). Run as: node --import tsx test/cli/udeg-cli.ts COMMAND ...
import { main } from "../../src/cli/main.js";

await main(process.argv);
