// The in-memory image and mask forms every layer passes around: what the readers of io/ return
// and the data layer, the model and the page consume.

/** An image as planes: data is [channels, height, width] float32, values 0..255. */
export interface PlanarImage {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
  /**
   * True when every value is an integer 0..255 (an 8-bit source, untouched): resizing then
   * reproduces PIL's uint8 BILINEAR bit for bit (see data/preprocess.ts).
   */
  quantized?: boolean;
}

/** A mask of class indices: data is [height, width], 0 = background. */
export interface LabelMap {
  data: Uint8Array;
  height: number;
  width: number;
}
