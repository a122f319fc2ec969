/**
 * Enhanced PET and Legacy Converted Enhanced PET (issue 12): a single-frame PET series with a
 * rescale slope of its own per slice (fixtures/synthetic-pet) converted by fixtures/to-enhanced
 * loads to the same volume of activity concentrations (Bq/ml, from each frame's Pixel Value
 * Transformation; no SUV) bit for bit, whichever way it arrives; dciodvfy finds no errors in the
 * converted objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

import { convertSeries } from '../fixtures/to-enhanced';
import { petActivity, writeSyntheticPetSeries } from '../fixtures/synthetic-pet';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { dciodvfyErrors, loadFiles, volumeDifferences } from '../bench/enhanced-equivalence';
import { readPart10Header } from '../src/dicom/part10';
import { tmpDir } from './helpers/env';

const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined;

test('PET as single-frame, Enhanced PET (2 objects, shuffled) and Legacy Converted Enhanced PET: the same Bq/ml volume bit for bit', async () => {
  const dir = tmpDir('mf-pet');
  try {
    const files = writeSyntheticPetSeries({ outDir: path.join(dir, 'single'), uidRoot: newUidRoot() });
    const base = await loadFiles(files);
    assert.equal(base.modality, 'PT');
    assert.equal(base.slices.length, 8);
    // Modality values are activity concentrations: each slice's own slope brings its stored values
    // back to within half a stored step of the activity the fixture put there.
    const slopes = files.map((f) => Number(readSlope(f)));
    assert.ok(new Set(slopes).size >= 4, `slices have slopes of their own: ${slopes.join(', ')}`);
    const slope = (k: number): number => slopes[k]!;
    for (const k of [0, 3, 7]) {
      for (const i of [0, 31 * 64 + 31, 35 * 64 + 32, 10 * 64 + 50]) {
        const want = petActivity(i % 64, Math.floor(i / 64), k, 64, 8);
        assert.ok(
          Math.abs(base.values[k]![i]! - want) <= slope(k) / 2 + 1e-3,
          `slice ${k} pixel ${i}: ${base.values[k]![i]} vs ${want} Bq/ml`,
        );
      }
    }
    assert.ok(Math.max(...base.values[4]!) > 30_000, 'the hot sphere is there, in Bq/ml');
    for (const [kind, objects, shuffleSeed] of [
      ['enhanced', 2, 11],
      ['legacy', 1, undefined],
    ] as const) {
      const out = await convertSeries(files, { kind, objects, outDir: path.join(dir, kind), ...(shuffleSeed ? { shuffleSeed } : {}) });
      assert.equal(out.length, objects);
      const sopClass = readPart10Header(fs.readFileSync(out[0]!)).sopClassUid;
      assert.equal(sopClass, kind === 'enhanced' ? '1.2.840.10008.5.1.4.1.1.130' : '1.2.840.10008.5.1.4.1.1.128.1');
      const vol = await loadFiles(out);
      assert.deepEqual(volumeDifferences(base, vol), [], kind);
      if (hasDciodvfy) for (const f of out) assert.deepEqual(dciodvfyErrors(f), [], `${kind} ${path.basename(f)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function readSlope(file: string): string {
  const r = spawnSync('dcmdump', ['-q', '+P', '0028,1053', file], { encoding: 'utf8' });
  return /\[([^\]]*)\]/.exec(r.stdout)?.[1] ?? 'NaN';
}
