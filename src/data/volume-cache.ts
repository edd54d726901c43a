// Decoded NIfTI volumes shared by a dataset's scan and its loads.
import { type NiftiVolume, readNifti } from "../io/nifti/nifti.js";

export /** Decoded volumes, least recently used evicted past a byte budget; concurrent reads share one decode. */
class VolumeCache {
  private entries = new Map<string, { promise: Promise<NiftiVolume>; bytes: number }>();
  private total = 0;

  constructor(private readonly budget: number) {}

  get(path: string): Promise<NiftiVolume> {
    const hit = this.entries.get(path);
    if (hit) {
      this.entries.delete(path);
      this.entries.set(path, hit);
      return hit.promise;
    }
    const entry = { promise: readNifti(path), bytes: 0 };
    this.entries.set(path, entry);
    entry.promise.then(
      (vol) => {
        if (this.entries.get(path) !== entry) return;
        entry.bytes = vol.data.byteLength;
        this.total += entry.bytes;
        this.evict();
      },
      () => {
        if (this.entries.get(path) === entry) this.entries.delete(path);
      },
    );
    return entry.promise;
  }

  private evict(): void {
    for (const [key, e] of this.entries) {
      if (this.total <= this.budget || this.entries.size <= 1) break;
      if (e.bytes === 0) continue; // still loading
      this.entries.delete(key);
      this.total -= e.bytes;
    }
  }
}
