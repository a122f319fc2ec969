/**
 * What a model run produces, in the terms the report stage needs: the boundary between inference
 * (decoders, post-processing) and the report (SR writer). Every measurement carries its unit in
 * its key (diameterMm, volumeMl) for the JSON of `infer --json`, and a coded concept + UCUM unit for
 * the SR. Coordinates are given twice: pixel (column, row) on a named source instance for SCOORD,
 * and patient millimetres for SCOORD3D / the centre.
 */
import type { PlausibilityOutcome } from './plausibility';
import type { StackSummary } from '../imaging/stacks';

/** A coded concept (SR Code Sequence item). */
export interface Code {
  readonly value: string;
  /** Coding scheme designator: SCT, DCM, UCUM, 99DAIN (ours, private). */
  readonly scheme: string;
  readonly meaning: string;
}

/** A numeric measurement: `key` ends in its unit (diameterMm, volumeMl, areaMm2, meanHu). */
export interface Measurement {
  readonly key: string;
  /** Concept name of the SR NUM item, e.g. SCT 81827009 "Diameter". */
  readonly concept: Code;
  readonly value: number;
  /** UCUM unit: { value: 'mm', scheme: 'UCUM', meaning: 'millimeter' }. */
  readonly unit: Code;
}

/** A location on one source image, in pixel coordinates (column, row; 0-based pixel centres as DICOM SCOORD: top-left corner is 0,0). */
export interface ImageRegion {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  /** 1-based frame for multi-frame sources; absent for single-frame. */
  readonly frame?: number;
  readonly graphicType: 'POINT' | 'CIRCLE' | 'POLYLINE' | 'ELLIPSE';
  /** Flat list as DICOM Graphic Data: [col, row, col, row, ...]. CIRCLE: centre then a point on the circle. */
  readonly graphicData: readonly number[];
}

/** Patient coordinates in mm (DICOM LPS), with the frame of reference they belong to. */
export interface PatientPoint {
  readonly x: number;
  readonly y: number;
  readonly z: number;
  readonly frameOfReferenceUid?: string;
}

export interface Finding {
  /** 1, 2, ... in order of decreasing confidence within one series result. */
  readonly id: number;
  /** Manifest label (e.g. 'nodule', 'white-matter'). */
  readonly label: string;
  /** Coded finding (SR "Finding" concept value), e.g. SCT 27925004 "Nodule". */
  readonly code: Code;
  /** Human-readable sentence from the manifest template. */
  readonly text: string;
  /** In [0,1]. */
  readonly confidence: number;
  readonly measurements: readonly Measurement[];
  /** Anatomic site where known (e.g. SCT 39607008 "Lung"), laterality and a readable zone ("right upper zone"). */
  readonly site?: { readonly code: Code; readonly laterality?: 'right' | 'left'; readonly text: string };
  /** Extra qualitative attributes, e.g. composition: 'solid' | 'ground-glass'. */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly region?: ImageRegion;
  readonly centre?: PatientPoint;
}

/** Where a result came from: recorded in SQLite and in the SR, so a reader can trace it. */
export interface Provenance {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelSha256: string;
  /** 'cuda' | 'webgpu' | 'cpu' ... the provider the session actually runs on. */
  readonly executionProvider: string;
  /** Windowing and preprocessing as applied, in words (e.g. "window lung (C -600 / W 1500), 512x512, slice-wise, batch 8"). */
  readonly preprocessing: string;
  /** De-identification applied before the model saw the data (e.g. "DICOM PS3.15 Basic Application Level Confidentiality Profile"). */
  readonly deidentification: string;
  readonly nodeVersion: string;
  readonly durationMs: number;
  /** Which stack of the series the model was given (several stacks in one series; tilt resampled). */
  readonly stack?: StackSummary;
}

export interface SeriesResult {
  readonly findings: readonly Finding[];
  /** One sentence (or a few) summarising the findings, or saying there are none. */
  readonly impression: string;
  /** In [0,1]; higher = less certain. */
  readonly uncertainty: number;
  /**
   * True when uncertainty exceeds the manifest's threshold, or the result or its input is outside the
   * model's plausibility contract: the report says "low confidence" and why.
   */
  readonly lowConfidence: boolean;
  readonly provenance: Provenance;
  /** The plausibility contract's verdict (expected ranges by age band, input checks), when one was applied. */
  readonly plausibility?: PlausibilityOutcome;
  /** Why the result is low confidence, in English (logs, /api/jobs, audit); absent when it is not. */
  readonly lowConfidenceReason?: string;
}

export const UCUM_MM: Code = { value: 'mm', scheme: 'UCUM', meaning: 'millimeter' };
export const UCUM_MM2: Code = { value: 'mm2', scheme: 'UCUM', meaning: 'square millimeter' };
export const UCUM_MM3: Code = { value: 'mm3', scheme: 'UCUM', meaning: 'cubic millimeter' };
export const UCUM_ML: Code = { value: 'ml', scheme: 'UCUM', meaning: 'milliliter' };
export const UCUM_HU: Code = { value: "[hnsf'U]", scheme: 'UCUM', meaning: 'Hounsfield unit' };
export const UCUM_RATIO: Code = { value: '1', scheme: 'UCUM', meaning: 'no units' };
