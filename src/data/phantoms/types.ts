// The phantom generators' options and what each records about the scene it drew (meta).
import type { LabelMap, PlanarImage } from "../../io/planar-image.js";

export const PHANTOM_KINDS = ["ultrasound", "endoscopy", "shapes", "small-structures"] as const;
export type PhantomKind = (typeof PHANTOM_KINDS)[number];

export interface PhantomOptions {
  seed: number;
  /** Side of the square image in pixels. Default 128 (at least 16). */
  size?: number;
  /** 0 (easy) .. 1 (hard): lowers contrast, raises noise, blur, missing edges and shadows. Default 0.5. */
  difficulty?: number;
}

export interface Phantom<M> {
  /** 3 planes, integers 0..255 (quantized: true); ultrasound has three identical planes. */
  image: PlanarImage;
  /** 0 = background, 1 = the object (lesion, polyp, shapes). */
  mask: LabelMap;
  meta: M;
}

export interface CommonMeta {
  seed: number;
  size: number;
  difficulty: number;
  /** Fraction of pixels in the mask. */
  maskFraction: number;
}

export interface UltrasoundOptions extends PhantomOptions {
  /** Field of view: "convex" (fan/sector, default) or "linear" (rectangle). */
  probe?: "convex" | "linear";
  /** Below the lesion: "auto" (default: random, shadow 45 %, enhancement 35 %, none 20 %). */
  posterior?: "auto" | "shadow" | "enhancement" | "none";
  /** Mean lesion radius as a fraction of the size. Default random in 0.08..0.16. */
  lesionSize?: number;
}

export interface UltrasoundMeta extends CommonMeta {
  kind: "ultrasound";
  probe: "convex" | "linear";
  /** Convex: apex (may lie above the image), near/far radii in px, half-angle in radians. */
  fieldOfView:
    | { probe: "convex"; apexX: number; apexY: number; near: number; far: number; halfAngle: number }
    | { probe: "linear"; left: number; right: number; top: number; bottom: number };
  lesion: {
    cx: number;
    cy: number;
    rx: number;
    ry: number;
    rotation: number;
    irregularity: number;
    /** Relative echo loss inside the lesion, 0..1. */
    contrast: number;
  };
  /** Fraction of the boundary whose contrast is faded out. */
  missingEdgeFraction: number;
  posterior: "shadow" | "enhancement" | "none";
  posteriorStrength: number;
  /** Hypoechoic fat lobules (distractors, not in the mask). */
  lobules: number;
  tissueLayers: number;
  /** Speckle exponent (1 = fully developed Rayleigh speckle) and display dynamic range. */
  speckle: number;
  dynamicRangeDb: number;
}

export interface EndoscopyOptions extends PhantomOptions {
  /** Mean polyp radius as a fraction of the size. Default random in 0.1..0.2. */
  polypSize?: number;
  /** Scales the number of specular highlights. Default 1. */
  highlights?: number;
  /** Scales the number of vessels. Default 1. */
  vessels?: number;
}

export interface EndoscopyMeta extends CommonMeta {
  kind: "endoscopy";
  /** The round field of view (black outside). */
  fieldOfView: { cx: number; cy: number; radius: number };
  polyp: {
    cx: number;
    cy: number;
    rx: number;
    ry: number;
    rotation: number;
    irregularity: number;
    height: number;
    /** Colour change relative to the mucosa, 0..1. */
    colourContrast: number;
    tint: "pale" | "red" | "yellow";
  };
  /** Lumen centre and darkening strength (0 = no lumen in view). */
  lumen: { x: number; y: number; strength: number };
  folds: number;
  vessels: number;
  /** Small saturated highlight spots placed explicitly (more come from the shading). */
  highlightSpots: number;
  noise: number;
}

export type ShapeKind = "ellipse" | "rectangle" | "blob";

export interface ShapesOptions extends PhantomOptions {
  /** At most this many shapes (at least 1). Default 3. */
  maxShapes?: number;
  /** Which shapes to draw. Default all three kinds. */
  kinds?: readonly ShapeKind[];
  /**
   * Probability that a shape gets a labelled rim: a band 1-4 px wide of its own colour around
   * the shape and inside its mask, so the mask ends past the strongest intensity edge (as a
   * skull-strip mask holds the dark CSF around the brain, or an organ mask its capsule).
   * Default 0. Rims draw from their own random stream: 0 gives the same bytes as before rims.
   */
  rims?: number;
  /**
   * Probability that the phantom is speckled: grey, patches of faded contrast (stretches of edge
   * missing) and multiplicative correlated Rayleigh speckle, as in coherent imaging. Default 0.
   * Speckle draws from its own random stream: 0 gives the same bytes as before speckle.
   */
  speckle?: number;
}

export interface ShapesMeta extends CommonMeta {
  kind: "shapes";
  background: "noise" | "gradient" | "stripes" | "patches";
  shapes: {
    kind: ShapeKind;
    cx: number;
    cy: number;
    rx: number;
    ry: number;
    rotation: number;
    /** Width of the labelled rim in pixels; 0: none (the mask ends at the shape's edge). */
    rim: number;
  }[];
  /** Colour distance scale between shapes and background, 0..1. */
  contrast: number;
  noise: number;
  /** Faint background lines (not in the mask). */
  clutter: number;
  /** Grey, faded in patches and speckled (ShapesOptions.speckle). */
  speckled: boolean;
}

export type SmallStructuresOptions = PhantomOptions;

export interface SmallStructuresMeta extends CommonMeta {
  kind: "small-structures";
  /** Centre and mean diameter (px) of each lesion. */
  lesions: { cx: number; cy: number; diameter: number }[];
  /** Thin curvilinear structures, 1-3 px wide. */
  strands: number;
  /** Intensity change scale of the structures, about 0.3..1. */
  contrast: number;
  noise: number;
}

export type PhantomMeta = UltrasoundMeta | EndoscopyMeta | ShapesMeta | SmallStructuresMeta;

export interface PhantomOptionsByKind {
  ultrasound: UltrasoundOptions;
  endoscopy: EndoscopyOptions;
  shapes: ShapesOptions;
  "small-structures": SmallStructuresOptions;
}

export interface PhantomMetaByKind {
  ultrasound: UltrasoundMeta;
  endoscopy: EndoscopyMeta;
  shapes: ShapesMeta;
  "small-structures": SmallStructuresMeta;
}
