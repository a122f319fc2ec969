// Findings are found on the volume the model saw. Where that volume was resampled in-plane (a
// gantry-tilted CT shifted onto an orthogonal grid), the pixel positions of their image regions
// are moved back onto the source image each region references, so the SR's SCOORD marks the
// right place on the image PACS shows. Patient-space centres (SCOORD3D) need nothing: the
// resampled volume's geometry is already in patient millimetres.

import type { Finding, ImageRegion, SeriesResult } from './findings';
import type { SeriesVolume } from './series-volume';

export function findingsOnSourcePixels(result: SeriesResult, volume: SeriesVolume): SeriesResult {
  const offsets = new Map<string, readonly [number, number]>();
  for (const s of volume.slices) {
    const frame = (s as { frameNumber?: number }).frameNumber;
    if (s.sourcePixelOffset) offsets.set(regionKey(s.sopInstanceUid, frame), s.sourcePixelOffset);
  }
  if (offsets.size === 0) return result;
  const findings = result.findings.map((f): Finding => {
    const o = f.region ? offsets.get(regionKey(f.region.sopInstanceUid, f.region.frame)) : undefined;
    if (!f.region || !o) return f;
    const region: ImageRegion = { ...f.region, graphicData: f.region.graphicData.map((v, i) => round(v - o[i % 2]!)) };
    return { ...f, region };
  });
  return { ...result, findings };
}

function regionKey(sopInstanceUid: string, frame: number | undefined): string {
  return frame === undefined ? sopInstanceUid : `${sopInstanceUid}#${frame}`;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
