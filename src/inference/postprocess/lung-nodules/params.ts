/** The lung-nodule post-processor's tunables (exported for reports and benchmarks). */
export const LUNG_NODULE_PARAMS = {
  /** Blob score threshold when the manifest gives none. */
  defaultThreshold: 0.12,
  /** Air-like (HU) for the lung mask. */
  airHu: -400,
  /**
   * Radius of the ball rolled along the lung's contour (mm): bites into the lung narrower than
   * twice this (nodules on the chest wall or mediastinum up to ~30 mm) are closed into it.
   */
  rollingBallMm: 15,
  /** Lung mask growth around the closed mask for the candidate search (mm). */
  maskGrowMm: 3,
  /** Structures are followed down to this fraction of the lung-to-core contrast. */
  linkFraction: 0.25,
  /** Smallest fill (volume / moment ellipsoid volume): branching and sparse structures fill less. */
  minFill: 0.68,
  /** Largest share of the structure near a candidate that the opening may cut off (attached vessels). */
  maxCutFraction: 0.35,
  /** Core density above which a nodule is solid (HU). */
  solidHu: -300,
  /** Longest / shortest principal axis above which a structure is a vessel. */
  maxElongation: 1.9,
  /**
   * The same for ground glass proposed around a vessel's notch (notch-fill.ts): with the notch in
   * its extent, the ground-glass sleeve of a short vessel segment reads as a blob; a nodule the
   * vessel runs through measured at most about 1.5 in the phantoms.
   */
  maxNotchElongation: 1.6,
  /** Largest nodule searched for (mm): bounds the segmentation box. */
  maxDiameterMm: 32,
  /** Smallest nodule reported (equivalent diameter, mm): the model is meant for nodules >= 5 mm. */
  minDiameterMm: 4.5,
  /** Findings reported at most per series. */
  maxFindings: 20,
} as const;
