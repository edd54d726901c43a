// What the image readers return and take, and the error they throw (see images.ts for the
// conventions).
import { FileError } from "../file-error.js";

/** Why an image could not be read or written. */
export type ImageErrorCode =
  | "io" // missing or unreadable file
  | "corrupt" // the bytes do not decode (truncated, damaged)
  | "unsupported" // a valid file in a format or variant we do not read
  | "bad-argument"; // the caller passed an inconsistent image to a writer

/** Every failure in this module: names the file, says what is wrong and what to do. */
export class ImageError extends FileError<ImageErrorCode> {
  override name = "ImageError";
}

export type ImageFormat = "png" | "jpeg" | "tiff" | "bmp" | "dicom";

/** A decoded image: interleaved [height, width, channels], top row first. */
export interface RasterImage {
  width: number;
  height: number;
  /** 1 (grey) or 3 (RGB) from the readers; writers also take 2 (grey + alpha) and 4 (RGBA). */
  channels: number;
  data: Uint8Array | Uint16Array;
  /** 8 for Uint8Array data, 16 for Uint16Array data. */
  bitDepth: 8 | 16;
}

export interface DecodedImage extends RasterImage {
  format: ImageFormat;
  /** True when the file was a palette image (PNG colour type 3, BMP <= 8 bits). */
  palette: boolean;
}

export interface ReadImageOptions {
  /**
   * For palette images: "rgb" (default) gives the palette colours, "indices" the palette index of
   * every pixel as one channel (label masks saved as palette PNGs).
   */
  palette?: "rgb" | "indices";
}

export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels in the file, alpha included. */
  channels: number;
  bitDepth: number;
}

export const FORMATS_HINT = "Supported: PNG, JPEG, TIFF, BMP, single-frame DICOM.";

/** File extensions the dataset readers look for (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm"];

/** Throws unless the raster is consistent: size, channels 1-4, sample count, bit depth vs array type. */
export function checkImage(img: RasterImage, name: string): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageError(name, "bad-argument", `bad image size ${width}x${height}`);
  }
  if (![1, 2, 3, 4].includes(channels)) {
    throw new ImageError(name, "bad-argument", `bad channel count ${channels} (1-4)`);
  }
  if (data.length !== width * height * channels) {
    throw new ImageError(
      name,
      "bad-argument",
      `data has ${data.length} samples, ${width}x${height}x${channels} needs ${width * height * channels}`,
    );
  }
  const is16 = data instanceof Uint16Array;
  if ((img.bitDepth === 16) !== is16) {
    throw new ImageError(
      name,
      "bad-argument",
      `bitDepth ${img.bitDepth} does not match ${data.constructor.name} data`,
    );
  }
}
