// Headless Chromium for the browser tests: Debian's chromium (apt-get install -y chromium), driven
// by playwright-core, never a downloaded browser. The flags keep it off the (closed) network;
// playwright gives every launch a fresh temporary profile (--user-data-dir).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Where tests leave files for people to look at (screenshots, pages); gitignored. */
export const ARTIFACTS = resolve("test-artifacts");

export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Chromium's WebGPU on SwiftShader, its software Vulkan device: a WebGPU adapter on any machine
 * (the page must be a secure context, e.g. http://127.0.0.1).
 */
export const WEBGPU_ARGS: readonly string[] = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"];

/** Launches Debian's Chromium headless; fails with how to install it when it is missing. */
export async function launchChromium(
  what = "this browser test",
  options: { webgpu?: boolean } = {},
): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) to run ${what}`,
    );
  }
  const { chromium } = await import("playwright-core");
  const args = options.webgpu
    ? [...CHROMIUM_ARGS.filter((a) => a !== "--disable-gpu"), ...WEBGPU_ARGS]
    : [...CHROMIUM_ARGS];
  return chromium.launch({ executablePath: CHROMIUM, args, timeout: 20000 });
}
