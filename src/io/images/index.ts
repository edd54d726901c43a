// 2-D images in and out: PNG, JPEG, TIFF (decoded by sharp/libvips), BMP (ours: libvips has no
// BMP loader), and our 8/16-bit PNG encoder (images.ts says where they differ from other tools).
// - images.ts: readImage / readImageSource / decodeImage, readImageInfo, writePng, channel conversions
// - image-types.ts: RasterImage, DecodedImage and ImageError
// - bmp.ts, png-encode.ts, png-chunk.ts (chunks and the CRC-32 the zip reader shares)
// A single-frame DICOM read as an image goes through ../dicom/.
export * from "./images.js";
