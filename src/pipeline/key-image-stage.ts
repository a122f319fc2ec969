// The key image of a result: the slice of the most confident finding that points at one, kept
// with the job as a PNG (and, when the route asks, sent as a Secondary Capture with the report).

import path from 'node:path';
import type { Finding, ImageRegion } from '../inference/findings';
import { keyImage, type KeyImage } from '../inference/key-image';
import type { SeriesVolume } from '../inference/series-volume';
import { writeFileDurably } from './durable-file';

/** A finding that points at an image: the one the key image shows. */
export type LocatedFinding = Finding & { readonly region: ImageRegion };

export interface JobKeyImage {
  readonly image: KeyImage;
  readonly finding: LocatedFinding;
  /** The PNG, written durably. */
  readonly filePath: string;
}

export interface KeyImageInput {
  readonly volume: SeriesVolume;
  readonly findings: readonly Finding[];
  /** The window the model saw (the route's, or the model's own). */
  readonly window: string;
  readonly dataDir: string;
  /** Names the file: the job and its set of instances. */
  readonly jobId: number;
  readonly instancesHash: string;
  readonly fsync: boolean;
}

/** Null when no finding points at a slice of the volume. */
export async function makeKeyImage(input: KeyImageInput): Promise<JobKeyImage | null> {
  const image = await keyImage(input.volume, input.findings, input.window);
  if (!image) return null;
  const finding = locatedFinding(input.findings, image.findingId);
  if (!finding) throw new Error(`the key image names finding ${image.findingId}, which has no image region`);
  const filePath = path.join(input.dataDir, 'key-images', `job-${input.jobId}-${input.instancesHash.slice(0, 16)}.png`);
  await writeFileDurably(filePath, image.png, input.fsync);
  return { image, finding, filePath };
}

function locatedFinding(findings: readonly Finding[], id: number): LocatedFinding | undefined {
  const finding = findings.find((f) => f.id === id);
  return finding?.region ? { ...finding, region: finding.region } : undefined;
}
