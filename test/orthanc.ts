// A real PACS for the tests: Debian's Orthanc with its DICOMweb plugin, on a free loopback port,
// its storage in a temporary folder, stopped (and the folder removed) by stop().
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Orthanc {
  /** The REST root, e.g. http://127.0.0.1:PORT */
  rest: string;
  /** The DICOMweb root. */
  dicomweb: string;
  upload(bytes: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export async function startOrthanc(): Promise<Orthanc> {
  assert.ok(
    existsSync("/usr/sbin/Orthanc"),
    "Orthanc is missing: apt-get install -y orthanc orthanc-dicomweb",
  );
  assert.ok(existsSync(PLUGIN), "the DICOMweb plugin is missing: apt-get install -y orthanc-dicomweb");
  const dir = mkdtempSync(join(tmpdir(), "udeg-orthanc-"));
  const port = await freePort();
  const config = {
    Name: "udeg-test",
    StorageDirectory: join(dir, "db"),
    IndexDirectory: join(dir, "db"),
    HttpPort: port,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    Plugins: [PLUGIN],
    DicomWeb: { Enable: true, Root: "/dicom-web/" },
  };
  writeFileSync(join(dir, "orthanc.json"), JSON.stringify(config));
  const child: ChildProcess = spawn("/usr/sbin/Orthanc", [join(dir, "orthanc.json")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const rest = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Orthanc exited (${child.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${rest}/system`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Orthanc did not answer on ${rest} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    rest,
    dicomweb: `${rest}/dicom-web`,
    async upload(bytes) {
      const res = await fetch(`${rest}/instances`, { method: "POST", body: Buffer.from(bytes) });
      assert.ok(res.ok, `Orthanc refused an upload: ${res.status} ${await res.text()}`);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
