/**
 * Enhanced multi-frame volumes (issue 12): frames placed by their functional groups, and the proof
 * by equivalence — a series converted by fixtures/to-enhanced into Enhanced / Legacy Converted
 * Enhanced objects (several, frames shuffled) loads to the same volume bit for bit, gives the same
 * findings and SR measurements, and its references name the right frame. The full matrix of
 * arrival forms on both shared scans is bench/enhanced-equivalence; here one form per scan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

import { convertSeries } from '../fixtures/to-enhanced';
import { CT_IMAGE_STORAGE, monochrome16, patientModule, writePart10 } from '../fixtures/dicom-writer';
import { newUidRoot } from '../fixtures/synthetic-ct';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import {
  dciodvfyErrors,
  dicomFiles,
  findingSummary,
  loadFiles,
  measurementLines,
  openNoduleModel,
  reportOf,
  volumeDifferences,
} from '../bench/enhanced-equivalence';
import { loadSeriesVolume, NotAVolumeError, type SeriesVolume } from '../src/inference/series-volume';
import { parseDicomFile } from '../src/imaging/dataset';
import { readPart10Header } from '../src/dicom/part10';
import { TAG } from '../src/dicom/tags';
import { keyImage } from '../src/inference/key-image';
import { PROJECT_ROOT, SHARED_DICOM, tmpDir } from './helpers/env';
import { startTestNode, waitFor } from './helpers/node';
import { freePort } from './helpers/child-node';
import { run } from './helpers/run';

const PYDICOM = path.join(SHARED_DICOM, 'pydicom-data');
const MR_T1 = path.join(SHARED_DICOM, '..', 'mr-t1-sag');
const hasDciodvfy = spawnSync('dciodvfy', [], { stdio: 'ignore' }).error === undefined;
const hasDcmdump = spawnSync('dcmdump', ['--version'], { stdio: 'ignore' }).error === undefined;
const hasDsrdump = spawnSync('dsrdump', ['--version'], { stdio: 'ignore' }).error === undefined;

test(
  'emri_small in every encoding is refused with the reason (no functional groups, no frame geometry), never stacked',
  {
    skip: fs.existsSync(PYDICOM) ? false : 'shared/data/dicom/pydicom-data not found',
  },
  async () => {
    const files = fs.readdirSync(PYDICOM).filter((f) => /^emri_small.*\.dcm$/.test(f));
    // Explicit LE, big endian, RLE, JPEG-LS, JPEG 2000 and the truncated JPEG 2000 one.
    assert.ok(files.length >= 6, `emri_small encodings found: ${files.join(', ')}`);
    assert.ok(files.includes('emri_small_jpeg_2k_lossless_too_short.dcm'));
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(PYDICOM, f));
      await assert.rejects(
        loadSeriesVolume([{ bytes, sopInstanceUid: '2.25.1', sopClassUid: '1.2.840.10008.5.1.4.1.1.4.1' }], undefined, {
          allowIdentified: true,
        }),
        (e: unknown) => {
          assert.ok(e instanceof NotAVolumeError, `${f}: ${String(e)}`);
          assert.match(e.message, /10 frames\) cannot be placed in a volume: it has no Shared or Per-frame Functional Groups/, f);
          assert.match(e.message, /not stacked blindly/, f);
          return true;
        },
      );
    }
  },
);

/** Single-frame CT slices 8x8 whose stored values are the same pattern but whose rescale differs per slice. */
function writeRescaledSlices(dir: string): string[] {
  const root = newUidRoot();
  fs.mkdirSync(dir, { recursive: true });
  const rescale = [
    [1, -1024],
    [2, -1000],
    [1, 0],
    [0.5, 7.25],
    [1, -1024],
  ] as const;
  return rescale.map(([slope, intercept], k) => {
    const pixels = Buffer.alloc(8 * 8 * 2);
    for (let i = 0; i < 64; i++) pixels.writeInt16LE(i * 10 + k, i * 2);
    const file = path.join(dir, `ct-${k}.dcm`);
    writePart10(file, CT_IMAGE_STORAGE, `${root}.3.${k + 1}`, [
      [0x0008, 0x0008, 'CS', 'ORIGINAL\\PRIMARY\\AXIAL'],
      [0x0008, 0x0020, 'DA', '20260101'],
      [0x0008, 0x0060, 'CS', 'CT'],
      [0x0008, 0x0070, 'LO', 'SYNTHETIC'],
      ...patientModule({ name: 'SYNTHETIC^RESCALE', id: 'SYN-RESCALE-1', birthDate: '19700101', sex: 'O' }),
      [0x0018, 0x0015, 'CS', 'CHEST'],
      [0x0018, 0x0050, 'DS', '2'],
      [0x0020, 0x000d, 'UI', `${root}.1`],
      [0x0020, 0x000e, 'UI', `${root}.2`],
      [0x0020, 0x0013, 'IS', String(k + 1)],
      [0x0020, 0x0032, 'DS', `-4\\-4\\${(k * 2).toFixed(1)}`],
      [0x0020, 0x0037, 'DS', '1\\0\\0\\0\\1\\0'],
      [0x0020, 0x0052, 'UI', `${root}.4`],
      ...monochrome16(8, 8, true),
      [0x0028, 0x0030, 'DS', '1\\1'],
      [0x0028, 0x1052, 'DS', String(intercept)],
      [0x0028, 0x1053, 'DS', String(slope)],
      [0x7fe0, 0x0010, 'OW', pixels],
    ]);
    return file;
  });
}

/** Per frame of a converted object: the SOP Instance UID of the single-frame image it was made from. */
function frameSources(file: string): string[] {
  const ds = parseDicomFile(fs.readFileSync(file)).dataSet;
  return ds.items(TAG.PerFrameFunctionalGroupsSequence).map((frame) => {
    const legacy = frame.items(TAG.ConversionSourceAttributesSequence)[0];
    const derived = frame.items(TAG.DerivationImageSequence)[0]?.items(TAG.SourceImageSequence)[0];
    return (legacy ?? derived)?.string(TAG.ReferencedSOPInstanceUID) ?? '';
  });
}

/**
 * Every slice of `vol` (a multi-frame load) names (instance, frame); that frame must have been made
 * from the single-frame image at the same place in `base`.
 */
function assertFramesPointAtTheirSources(base: SeriesVolume, vol: SeriesVolume, files: readonly string[]): void {
  const sources = new Map(files.map((f) => [readPart10Header(fs.readFileSync(f)).sopInstanceUid, frameSources(f)]));
  vol.slices.forEach((s, k) => {
    assert.ok(s.frameNumber !== undefined, `slice ${k} of a multi-frame load names its frame`);
    assert.equal(sources.get(s.sopInstanceUid)?.[s.frameNumber - 1], base.slices[k]!.sopInstanceUid, `slice ${k}: frame ${s.frameNumber}`);
  });
}

test('per-frame rescale and shuffled frames: Enhanced and Legacy Converted Enhanced CT load to the same modality values; dciodvfy finds no errors', async () => {
  const dir = tmpDir('mf-rescale');
  try {
    const files = writeRescaledSlices(path.join(dir, 'single'));
    const base = await loadFiles(files);
    assert.equal(base.values[1]![0], -1000 + 2 * 1, 'the second slice is rescaled by its own slope and intercept');
    assert.equal(base.values[3]![1], 7.25 + 0.5 * 13);
    for (const kind of ['enhanced', 'legacy'] as const) {
      const out = await convertSeries(files, { kind, objects: 2, shuffleSeed: 3, outDir: path.join(dir, kind) });
      assert.equal(out.length, 2);
      const vol = await loadFiles(out);
      assert.deepEqual(volumeDifferences(base, vol), [], kind);
      assertFramesPointAtTheirSources(base, vol, out);
      // The shuffle really stored frames out of order (frame numbers are not the slice order).
      assert.notDeepEqual(
        vol.slices.map((s) => s.frameNumber),
        vol.slices.map((s) => s.frameNumber).sort((a, b) => a! - b!),
        `${kind}: frames shuffled`,
      );
      if (hasDciodvfy) for (const f of out) assert.deepEqual(dciodvfyErrors(f), [], `${kind} ${path.basename(f)}`);
      if (hasDcmdump) assertFramePositionsAsDcmdumpReads(vol, out);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * DCMTK as an independent reader: dcmdump lists each object's Image Position (Patient) values in
 * frame order (the per-frame groups); slice (instance, frame n) must lie at the n-th of them.
 */
function assertFramePositionsAsDcmdumpReads(vol: SeriesVolume, files: readonly string[]): void {
  for (const file of files) {
    const r = spawnSync('dcmdump', ['-q', '+P', '0020,0032', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const positions = [...r.stdout.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!.split('\\').map(Number));
    const uid = readPart10Header(fs.readFileSync(file)).sopInstanceUid;
    const slices = vol.slices.filter((s) => s.sopInstanceUid === uid);
    assert.equal(slices.length, positions.length, path.basename(file));
    for (const s of slices)
      assert.deepEqual([...s.position], positions[s.frameNumber! - 1], `${path.basename(file)} frame ${s.frameNumber}`);
  }
}

test(
  'sagittal T1: Enhanced MR (one object) and Legacy Converted Enhanced MR (3 objects, shuffled) load to the single-frame volume bit for bit',
  {
    skip: fs.existsSync(MR_T1) ? false : 'shared/data/mr-t1-sag not found',
  },
  async () => {
    const dir = tmpDir('mf-t1');
    try {
      const files = dicomFiles(MR_T1);
      const base = await loadFiles(files);
      assert.equal(base.slices.length, 192);
      for (const [kind, objects, shuffleSeed] of [
        ['enhanced', 1, undefined],
        ['legacy', 3, 5],
      ] as const) {
        const out = await convertSeries(files, { kind, objects, outDir: path.join(dir, kind), ...(shuffleSeed ? { shuffleSeed } : {}) });
        const vol = await loadFiles(out);
        assert.deepEqual(volumeDifferences(base, vol), [], kind);
        assertFramesPointAtTheirSources(base, vol, out);
        if (hasDciodvfy) for (const f of out) assert.deepEqual(dciodvfyErrors(f), [], `${kind} ${path.basename(f)}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** Referenced Frame Numbers of the IMAGE (and SCOORD-selected) references anywhere in an SR's content tree. */
function referencedFrames(sr: Buffer): string[] {
  return parseDicomFile(sr)
    .dataSet.items(TAG.ContentSequence)
    .flatMap(function walk(item): string[] {
      const own = item.items(TAG.ReferencedSOPSequence).flatMap((ref) => ref.string(TAG.ReferencedFrameNumber) ?? []);
      return [...own, ...item.items(TAG.ContentSequence).flatMap(walk)];
    });
}

/** Sends `files` to a node routed to the reference model, with DCMTK storescp as its PACS; returns what the PACS received. */
async function runThroughNode(files: readonly string[]): Promise<{ sopClassUid: string; bytes: Buffer }[]> {
  const port = await freePort();
  const pacs = tmpDir('mf-pacs');
  const scp = spawn('storescp', ['-aet', 'STORESCP', '-od', pacs, String(port)], {
    stdio: 'ignore',
    env: { ...process.env, TCP_NODELAY: '1' },
  });
  const n = await startTestNode({
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'STORESCP', host: '127.0.0.1', port } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], keyImage: true }],
    delivery: { backoffSeconds: 1, backoffCapSeconds: 2 },
  });
  try {
    const s = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...files], {
      timeoutMs: 120_000,
    });
    assert.equal(s.code, 0, s.stderr);
    await waitFor(() => n.node.store.listJobs().some((j) => j.state === 'done' || j.state === 'failed'), 300_000, 'the job to finish');
    assert.deepEqual(
      n.node.store
        .listJobs()
        .filter((j) => j.state === 'failed')
        .map((j) => j.reason),
      [],
      'the job over the enhanced objects did not fail',
    );
    const received = (): { sopClassUid: string; bytes: Buffer }[] =>
      fs.readdirSync(pacs).flatMap((f) => {
        const bytes = fs.readFileSync(path.join(pacs, f));
        try {
          parseDicomFile(bytes); // throws while storescp is still writing the file
          return [{ sopClassUid: readPart10Header(bytes).sopClassUid, bytes }];
        } catch {
          return [];
        }
      });
    const arrived = (): boolean => {
      const classes = received().map((d) => d.sopClassUid);
      return classes.some((c) => c.startsWith('1.2.840.10008.5.1.4.1.1.88.')) && classes.includes(SECONDARY_CAPTURE);
    };
    await waitFor(arrived, 60_000, 'the SR and the key image at the PACS');
    return received();
  } finally {
    await n.stop();
    scp.kill();
    fs.rmSync(pacs, { recursive: true, force: true });
  }
}

const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

// The findings and SR half of the proof on a chest phantom (several nodules, quick); on the real
// LIDC-IDRI-0001 it is test/lidc-e2e.test.ts (Enhanced CT through the node) and, in every arrival
// form, bench/enhanced-equivalence.
test(
  'chest CT phantom as Enhanced CT in 2 shuffled objects: same volume, same findings, same SR measurements; the SR names the frame',
  {
    skip: hasDsrdump ? false : 'dsrdump not installed',
  },
  async () => {
    const dir = tmpDir('mf-phantom');
    const model = await openNoduleModel();
    try {
      const phantom = writeChestPhantom({ outDir: path.join(dir, 'single'), seed: 7, uidRoot: newUidRoot(), slices: 40 });
      const files = phantom.files;
      const base = await loadFiles(files);
      const out = await convertSeries(files, { kind: 'enhanced', objects: 2, shuffleSeed: 9, outDir: path.join(dir, 'enhanced') });
      const vol = await loadFiles(out);
      assert.deepEqual(volumeDifferences(base, vol), []);
      assertFramesPointAtTheirSources(base, vol, out);

      const single = await model.run(base);
      const multi = await model.run(vol);
      assert.ok(single.findings.length > 0, 'the reference model finds phantom nodules');
      assert.deepEqual(findingSummary(multi), findingSummary(single));
      // Each region names (instance, frame) of the multi-frame source, lying where the single-frame image does.
      for (const [k, f] of multi.findings.entries()) {
        const r = f.region!;
        const slice = vol.slices.findIndex((s) => s.sopInstanceUid === r.sopInstanceUid && s.frameNumber === r.frame);
        assert.ok(r.frame !== undefined && slice >= 0, `finding ${f.id} names a frame of the volume`);
        assert.equal(base.slices[slice]!.sopInstanceUid, single.findings[k]!.region!.sopInstanceUid);
      }

      // The key image is drawn on the same slice, found by (instance, frame).
      const [keySingle, keyMulti] = [await keyImage(base, single.findings, 'lung'), await keyImage(vol, multi.findings, 'lung')];
      assert.ok(keySingle && keyMulti);
      assert.ok(keyMulti.png.equals(keySingle.png), 'the same key image');

      const srSingle = reportOf(single, files);
      const srMulti = reportOf(multi, out);
      const lines = measurementLines(srSingle, dir, 'single.sr');
      assert.ok(
        lines.some((l) => /\bNUM\b/.test(l)),
        'the SR carries measurements',
      );
      assert.deepEqual(measurementLines(srMulti, dir, 'multi.sr'), lines);
      // Referenced Frame Number in the IMAGE references of the multi-frame SR, none in the single-frame one.
      const frames = referencedFrames;
      assert.deepEqual(frames(srSingle), []);
      const expected = new Set(multi.findings.flatMap((f) => (f.region?.frame !== undefined ? [String(f.region.frame)] : [])));
      assert.ok(expected.size > 0);
      assert.deepEqual(new Set(frames(srMulti)), expected);

      // Through the node: the enhanced objects stored by C-STORE, de-identified, run, reported and
      // delivered — the delivered SR has the same measurements and names the same frames, and the
      // key image Secondary Capture names the frame of its source slice.
      const delivered = await runThroughNode(out);
      const sr = delivered.find((d) => d.sopClassUid.startsWith('1.2.840.10008.5.1.4.1.1.88.'));
      assert.ok(sr, `an SR was delivered (got ${delivered.map((d) => d.sopClassUid).join(', ')})`);
      assert.deepEqual(measurementLines(sr.bytes, dir, 'node.sr'), lines);
      assert.deepEqual(new Set(frames(sr.bytes)), expected);
      const sc = delivered.find((d) => d.sopClassUid === SECONDARY_CAPTURE);
      const source = parseDicomFile(sc!.bytes).dataSet.items(TAG.SourceImageSequence)[0];
      const top = multi.findings.find((f) => f.region)!.region!;
      assert.equal(source?.string(TAG.ReferencedSOPInstanceUID), top.sopInstanceUid);
      assert.equal(source?.string(TAG.ReferencedFrameNumber), String(top.frame));
    } finally {
      await model.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
