// Import first in a test file to run it on onnxruntime's WebGPU provider. Without a GPU, Dawn
// runs on SwiftShader, the software Vulkan device Debian's chromium ships (.ci/run installs it,
// with the Vulkan loader libvulkan1): numbers as a GPU gives them, at about 1/100 of the speed.
import { existsSync } from "node:fs";

const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";

process.env.UDEG_TEST_EP = "webgpu";
if (!process.env.VK_DRIVER_FILES && !process.env.VK_ICD_FILENAMES) {
  if (!existsSync(SWIFTSHADER))
    throw new Error(
      `no Vulkan driver for the WebGPU tests: install Debian's chromium (it ships ${SWIFTSHADER}) and libvulkan1, or set VK_DRIVER_FILES to a GPU driver's ICD manifest`,
    );
  process.env.VK_DRIVER_FILES = SWIFTSHADER;
}
