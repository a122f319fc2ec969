/**
 * The key image of a result: the source slice of the most confident finding, windowed as the
 * model saw it, with the finding marked (a yellow circle outline, or a cross for a point), as an
 * RGB PNG. Kept with the job for the report stage and for a reader who wants to see "where".
 *
 * The slice comes from the de-identified volume (pixels only: no burned-in text is added, and
 * none is removed either: a series with burned-in annotation risk is flagged at routing).
 */
import type { Finding, ImageRegion } from './findings';
import type { SeriesVolume } from './series-volume';
import { windowValues } from './preprocess';
import { encodePng } from '../imaging/png';

export interface KeyImage {
  readonly png: Buffer;
  readonly width: number;
  readonly height: number;
  readonly findingId: number;
  readonly sopInstanceUid: string;
  /** The RGB pixels (for a Secondary Capture). */
  readonly rgb: Uint8Array;
}

const MARK: readonly [number, number, number] = [255, 220, 0];

/** Null when no finding points at a slice of this volume. */
export async function keyImage(vol: SeriesVolume, findings: readonly Finding[], window: string): Promise<KeyImage | null> {
  // A slice is (instance, frame): frames of one multi-frame object share the instance UID.
  const sliceOf = (r: NonNullable<Finding['region']>): number =>
    vol.slices.findIndex((s) => s.sopInstanceUid === r.sopInstanceUid && s.frameNumber === r.frame);
  const f = findings.find((x) => x.region && sliceOf(x.region) >= 0);
  if (!f || !f.region) return null;
  const k = sliceOf(f.region);
  const W = vol.columns;
  const H = vol.rows;
  const rgb = windowedRgb(vol.values[k]!, window);
  markRegion(rgb, W, H, f.region);
  const png = await encodePng({ width: W, height: H, channels: 3, data: rgb });
  return { png, width: W, height: H, findingId: f.id, sopInstanceUid: f.region.sopInstanceUid, rgb };
}

/** Modality values windowed (as the model saw them) to grey, as RGB so a mark can be drawn in colour. */
export function windowedRgb(values: Float32Array, window: string): Uint8Array {
  const { data } = windowValues(values, window);
  const rgb = new Uint8Array(values.length * 3);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round(Math.min(1, Math.max(0, data[i]!)) * 255);
    rgb[i * 3] = v;
    rgb[i * 3 + 1] = v;
    rgb[i * 3 + 2] = v;
  }
  return rgb;
}

/**
 * Marks a finding's region on an RGB image in place: a yellow circle outline a few pixels outside
 * a CIRCLE's edge (two pixels wide, so the finding itself stays visible), a cross for any other type.
 * Shared by the key image and the dashboard's slice of any finding.
 */
export function markRegion(rgb: Uint8Array, W: number, H: number, region: Pick<ImageRegion, 'graphicType' | 'graphicData'>): void {
  const g = region.graphicData;
  const cx = g[0] ?? 0;
  const cy = g[1] ?? 0;
  const put = (x: number, y: number): void => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= W || yi >= H) return;
    rgb.set(MARK, (yi * W + xi) * 3);
  };
  if (region.graphicType === 'CIRCLE' && g.length >= 4) {
    const r = Math.hypot(g[2]! - cx, g[3]! - cy) + 4;
    const steps = Math.max(64, Math.ceil(2 * Math.PI * r * 2));
    for (let s = 0; s < steps; s++) {
      const a = (2 * Math.PI * s) / steps;
      for (const dr of [0, 1]) put(cx + (r + dr) * Math.cos(a), cy + (r + dr) * Math.sin(a));
    }
  } else {
    for (let d = 6; d <= 14; d++) {
      put(cx - d, cy);
      put(cx + d, cy);
      put(cx, cy - d);
      put(cx, cy + d);
    }
  }
}
