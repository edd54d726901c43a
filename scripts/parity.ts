// `npm run parity -- DIR [DIR...]`: compare the SAM port with a fixture folder of reference
// outputs. Prints max abs / relative error per tensor; exits 1 past 1e-4 abs (outputs) or
// 1e-3 relative (gradients).
import { GRAD_REL_TOL, OUTPUT_ABS_TOL, runParity } from "../src/sam/parity.js";

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error("usage: npm run parity -- FIXTURE_DIR [...]   (e.g. test/fixtures/sam/tiny)");
  process.exit(2);
}
let failed = 0;
for (const dir of dirs) {
  const rows = await runParity(dir);
  console.log(`\n${dir}`);
  console.log(
    `${"source".padEnd(24)} ${"tensor".padEnd(64)} ${"max abs".padStart(10)} ${"rel".padStart(10)}`,
  );
  for (const r of rows) {
    const mark = r.ok ? "  " : "✖ ";
    console.log(
      `${mark}${r.source.padEnd(22)} ${r.tensor.padEnd(64)} ${r.maxAbs.toExponential(2).padStart(10)} ${r.rel.toExponential(2).padStart(10)}`,
    );
  }
  const bad = rows.filter((r) => !r.ok);
  failed += bad.length;
  console.log(
    `${dir}: ${rows.length - bad.length} of ${rows.length} tensors within tolerance (outputs ${OUTPUT_ABS_TOL} abs, gradients ${GRAD_REL_TOL} rel)`,
  );
}
process.exit(failed ? 1 : 0);
