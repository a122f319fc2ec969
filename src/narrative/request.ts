/**
 * What the narrative model is sent — de-identified only: images rendered from the de-identified
 * volume (pixels, no header), the structured findings without any UID, and the prompt. Nothing
 * here can carry a patient's name, ID or a DICOM UID.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findPackageRoot } from '../config/config';
import type { Finding } from '../inference/findings';
import type { KeyImage } from '../inference/key-image';
import { windowValues } from '../inference/preprocess';
import type { SeriesVolume } from '../inference/series-volume';
import { encodePng, resizeFrame8 } from '../imaging/png';
import type { Frame8 } from '../imaging/render';
import type { ReportLanguage } from '../report/forms';
import { formatValue } from '../report/wording';
import type { ChatContentPart, ChatRequest } from './chat-client';

/** Side of the square images sent (the workflow's 512 × 512). */
export const IMAGE_SIZE = 512;

export interface Prompt {
  readonly text: string;
  readonly sha256: string;
  /** File name, for the log. */
  readonly name: string;
}

/** The configured prompt file, or the node's own versioned one for the language. */
export function loadPrompt(promptFile: string | null, language: ReportLanguage): Prompt {
  const file = promptFile ?? path.join(findPackageRoot(), 'config', 'narrative-prompts', `v1.${language}.txt`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`the narrative prompt ${file} cannot be read: ${(e as Error).message}`);
  }
  return { text: bytes.toString('utf8'), sha256: createHash('sha256').update(bytes).digest('hex'), name: path.basename(file) };
}

/** One finding as the model sees it: what, where, how big, how sure. */
export interface FindingForModel {
  readonly finding: string;
  readonly site?: string;
  readonly laterality?: 'left' | 'right';
  readonly measurements: ReadonlyArray<{ readonly name: string; readonly value: number; readonly unit: string }>;
  readonly confidence: number;
}

export function findingsForModel(findings: readonly Finding[]): FindingForModel[] {
  return findings.map((f) => ({
    finding: f.code.meaning,
    ...(f.site ? { site: f.site.text } : {}),
    ...(f.site?.laterality ? { laterality: f.site.laterality } : {}),
    measurements: f.measurements.map((m) => ({
      name: m.concept.meaning,
      value: Number(formatValue(m.value)),
      unit: m.unit.value === "[hnsf'U]" ? 'HU' : m.unit.value,
    })),
    confidence: Number(f.confidence.toFixed(2)),
  }));
}

export interface ImageSource {
  readonly volume: SeriesVolume;
  readonly findings: readonly Finding[];
  /** The key image (marked), when one was made: sent first. */
  readonly keyImage: KeyImage | null;
  /** The route's window (as the model and the key image saw it). */
  readonly window: string;
  readonly maxImages: number;
}

/**
 * 512 × 512 PNGs: the key image, then the slices of further findings (each slice once), up to
 * maxImages; with no located finding, the middle slice (the model must still see the series).
 */
export async function narrativeImages(src: ImageSource): Promise<Buffer[]> {
  const images: Buffer[] = [];
  const shown = new Set<number>();
  if (src.keyImage) {
    const k = src.keyImage;
    images.push(await squarePng({ width: k.width, height: k.height, channels: 3, data: k.rgb }));
    shown.add(sliceIndex(src.volume, k.sopInstanceUid));
  }
  for (const f of src.findings) {
    if (images.length >= src.maxImages) break;
    const index = f.region ? sliceIndex(src.volume, f.region.sopInstanceUid) : -1;
    if (index < 0 || shown.has(index)) continue;
    shown.add(index);
    images.push(await squarePng(windowedSlice(src.volume, index, src.window)));
  }
  if (images.length === 0 && src.volume.slices.length > 0)
    images.push(await squarePng(windowedSlice(src.volume, Math.floor(src.volume.slices.length / 2), src.window)));
  return images;
}

function sliceIndex(volume: SeriesVolume, sopInstanceUid: string): number {
  return volume.slices.findIndex((s) => s.sopInstanceUid === sopInstanceUid);
}

function windowedSlice(volume: SeriesVolume, index: number, window: string): Frame8 {
  const { data } = windowValues(volume.values[index]!, window);
  const grey = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) grey[i] = Math.round(Math.min(1, Math.max(0, data[i]!)) * 255);
  return { width: volume.columns, height: volume.rows, channels: 1, data: grey };
}

async function squarePng(frame: Frame8): Promise<Buffer> {
  return encodePng(await resizeFrame8(frame, IMAGE_SIZE, IMAGE_SIZE));
}

/** The chat request: the prompt as the system message; the findings JSON and the images as the user's. */
export function chatRequest(model: string, prompt: Prompt, findingsJson: string, images: readonly Buffer[]): ChatRequest {
  const content: ChatContentPart[] = [
    { type: 'text', text: `Structured findings (JSON):\n${findingsJson}` },
    ...images.map((png): ChatContentPart => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } })),
  ];
  return {
    model,
    messages: [
      { role: 'system', content: prompt.text },
      { role: 'user', content },
    ],
    temperature: 0,
    max_tokens: 1024,
  };
}
