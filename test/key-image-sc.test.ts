/**
 * The key image as a Secondary Capture (src/report/key-image-sc.ts): built from a synthetic CT
 * source and an RGB slice with a yellow circle drawn on it. Checked by dicom3tools' dciodvfy (no
 * errors; no warnings except the DICOMDIR one for the Study ID the source itself leaves empty),
 * DCMTK's dcmdump (identity of the source, SOP class, UTF-8 caption) and dcm2pnm (renders it, and
 * the rendered pixels are exactly the input), and by the project's own parser (Source Image
 * Sequence, Image Pixel module, pixel bytes round-trip). Same input -> same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { newUidRoot, SYNTHETIC_PATIENT, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';
import { buildKeyImageSc, KEY_IMAGE_SERIES_NUMBER, KeyImageScInput, SECONDARY_CAPTURE_IMAGE_STORAGE } from '../src/report/key-image-sc';
import { parseDicomFile } from '../src/imaging/dataset';

const tool = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).error === undefined;
const hasTools = tool('dciodvfy') && tool('dcmdump', '--version') && tool('dcm2pnm', '--version') && tool('dcmodify', '--version');
const skipTools = hasTools ? false : 'dciodvfy / DCMTK (dcmdump, dcm2pnm, dcmodify) not installed';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const DEVICE = {
  aeTitle: 'DICOM_AI',
  deviceUid: '2.25.318298118532367137530218463208612345',
  manufacturer: 'dicom-ai-node project',
  modelName: 'dicom-ai-node',
  softwareVersion: '0.1.0',
};
const WHEN = new Date('2026-03-04T05:06:07.890Z');
const CAPTION = {
  en: 'Finding 1: nodule 8.2 mm, right upper zone (AI, unverified)',
  'zh-CN': '发现 1：结节 8.2 mm，右上肺野（AI，未经核实）',
} as const;
const YELLOW = [255, 220, 0] as const;

interface Source {
  files: string[];
  uidRoot: string;
  seriesUid: string;
  studyUid: string;
}

function syntheticSource(): Source {
  const uidRoot = newUidRoot();
  const files = writeSyntheticCtSeries({ outDir: path.join(tmpDir('ksc-src'), 'ct'), count: 3, uidRoot, rows: 16, columns: 16 });
  return { files, uidRoot, seriesUid: `${uidRoot}.2`, studyUid: `${uidRoot}.1` };
}

/** A grey gradient with a 2-pixel yellow circle around (cx, cy): what keyImage() draws. */
function markedSlice(width: number, height: number, cx: number, cy: number, r: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = (x * 5 + y * 3) % 256;
      rgb.set([v, v, v], (y * width + x) * 3);
    }
  }
  for (let s = 0; s < 256; s++) {
    const a = (2 * Math.PI * s) / 256;
    for (const dr of [0, 1]) {
      const x = Math.round(cx + (r + dr) * Math.cos(a));
      const y = Math.round(cy + (r + dr) * Math.sin(a));
      if (x >= 0 && y >= 0 && x < width && y < height) rgb.set(YELLOW, (y * width + x) * 3);
    }
  }
  return rgb;
}

function input(src: Source, language: 'en' | 'zh-CN', over: Partial<KeyImageScInput> = {}): KeyImageScInput {
  const width = 64;
  const height = 48;
  return {
    sourceFile: fs.readFileSync(src.files[0]!),
    sourceSeriesInstanceUid: src.seriesUid,
    referenced: { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: `${src.uidRoot}.3.2` },
    rgb: markedSlice(width, height, 30, 20, 9),
    width,
    height,
    caption: CAPTION[language],
    language,
    device: DEVICE,
    uids: { seriesInstanceUid: `${src.uidRoot}.9902`, sopInstanceUid: `${src.uidRoot}.9902.1` },
    contentDateTime: WHEN,
    revision: 1,
    ...over,
  };
}

async function dciodvfy(file: string): Promise<{ errors: string[]; warnings: string[] }> {
  const r = await run('dciodvfy', [file]);
  const lines = (r.stdout + r.stderr).split('\n');
  return { errors: lines.filter((l) => l.includes('Error')), warnings: lines.filter((l) => l.includes('Warning')) };
}

/** The synthetic source has no Study ID; the key image copies study identity, it does not invent one. */
const INHERITED_STUDY_ID = 'Warning - Missing attribute or value that would be needed to build DICOMDIR - Study ID';

async function dcmdump(file: string): Promise<string> {
  const r = await run('dcmdump', ['+U8', '+L', file]);
  assert.equal(r.code, 0, `dcmdump failed: ${r.stderr}`);
  return r.stdout;
}

/** dcm2pnm's binary PPM (P6, maxval 255) -> width, height, RGB bytes. */
function readPpm(bytes: Buffer): { width: number; height: number; rgb: Buffer } {
  const m = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(bytes.toString('latin1', 0, 64));
  assert.ok(m, 'dcm2pnm wrote a binary PPM');
  assert.equal(m[3], '255');
  return { width: Number(m[1]), height: Number(m[2]), rgb: bytes.subarray(m[0].length) };
}

async function writeAndCheck(
  t: { diagnostic: (m: string) => void },
  dir: string,
  name: string,
  bytes: Buffer,
  allowed: string[] = [INHERITED_STUDY_ID],
): Promise<string> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  const v = await dciodvfy(file);
  for (const w of v.warnings) t.diagnostic(`${name}: dciodvfy ${w}`);
  assert.deepEqual(v.errors, [], `${name}: dciodvfy errors`);
  assert.deepEqual(
    v.warnings.filter((w) => !allowed.includes(w.trim())),
    [],
    `${name}: dciodvfy warnings`,
  );
  return file;
}

for (const language of ['en', 'zh-CN'] as const) {
  test(
    `key image SC (${language}): valid per dciodvfy, source identity, Source Image Sequence, pixels round-trip, dcm2pnm renders it`,
    { skip: skipTools },
    async (t) => {
      const src = syntheticSource();
      const dir = tmpDir('ksc');
      const inp = input(src, language);
      const built = buildKeyImageSc(inp);
      assert.equal(built.sopClassUid, SECONDARY_CAPTURE_IMAGE_STORAGE);
      assert.equal(built.sopInstanceUid, inp.uids.sopInstanceUid);
      assert.equal(built.seriesInstanceUid, inp.uids.seriesInstanceUid);
      assert.equal(built.studyInstanceUid, src.studyUid);
      const file = await writeAndCheck(t, dir, `key-${language}.dcm`, built.bytes);

      // DCMTK's view: identity of the source, SC class, caption as UTF-8.
      const dump = await dcmdump(file);
      const line = (tag: string): string => dump.split('\n').find((l) => l.startsWith(tag)) ?? '';
      assert.match(line('(0002,0002)'), /=SecondaryCaptureImageStorage/);
      assert.match(line('(0002,0010)'), /=LittleEndianExplicit/);
      assert.match(line('(0008,0016)'), /=SecondaryCaptureImageStorage/);
      assert.ok(line('(0010,0010)').includes(`[${SYNTHETIC_PATIENT.name}]`), 'patient name of the source');
      assert.ok(line('(0010,0020)').includes(`[${SYNTHETIC_PATIENT.id}]`), 'patient ID of the source');
      assert.ok(line('(0010,0030)').includes(`[${SYNTHETIC_PATIENT.birthDate}]`), 'birth date of the source');
      assert.ok(line('(0020,000d)').includes(`[${src.studyUid}]`), 'study UID of the source');
      assert.ok(line('(0008,0050)').includes('[ACC-SYN-77]'), 'accession number of the source');
      assert.ok(line('(0008,0005)').includes('[ISO_IR 192]'));
      assert.ok(line('(0020,4000)').includes(`[${CAPTION[language]}]`), `caption survives as UTF-8: ${line('(0020,4000)')}`);
      assert.ok(
        line('(0008,103e)').includes(language === 'en' ? '[AI key images (unverified)]' : '[AI 关键图像（未经核实）]'),
        'series description in the language',
      );
      assert.ok(line('(0008,2111)').includes(language === 'en' ? 'AI key image' : 'AI 关键图像'), 'derivation description in the language');

      // The project's own parser: modules and the reference to the source slice.
      const { dataSet: ds, transferSyntaxUid } = parseDicomFile(built.bytes);
      assert.equal(transferSyntaxUid, '1.2.840.10008.1.2.1');
      assert.equal(ds.string(0x00080016), SECONDARY_CAPTURE_IMAGE_STORAGE);
      assert.equal(ds.string(0x00080018), inp.uids.sopInstanceUid);
      assert.equal(ds.string(0x0020000e), inp.uids.seriesInstanceUid);
      assert.notEqual(ds.string(0x0020000e), src.seriesUid, 'a series of its own');
      assert.equal(ds.string(0x00200011), KEY_IMAGE_SERIES_NUMBER);
      assert.equal(ds.string(0x00200013), '1');
      assert.equal(ds.string(0x00080060), 'CT', 'modality of the source');
      assert.equal(ds.string(0x00080064), 'WSD');
      assert.equal(ds.string(0x00080008), 'DERIVED\\SECONDARY');
      assert.equal(ds.string(0x00280301), 'NO');
      assert.equal(ds.string(0x00080023), '20260304');
      assert.equal(ds.string(0x00080033), '050607');
      assert.equal(ds.string(0x00080070), DEVICE.manufacturer);
      assert.equal(ds.string(0x00181002), DEVICE.deviceUid);
      const refs = ds.items(0x00082112);
      assert.equal(refs.length, 1, 'one Source Image Sequence item');
      assert.equal(refs[0]!.string(0x00081150), CT_IMAGE_STORAGE);
      assert.equal(refs[0]!.string(0x00081155), `${src.uidRoot}.3.2`, 'references the given source instance');
      const purpose = refs[0]!.items(0x0040a170)[0];
      assert.equal(purpose?.string(0x00080100), '121322');
      assert.equal(purpose?.string(0x00080102), 'DCM');
      assert.equal(Buffer.from(ds.get(0x00204000)!.value).toString('utf8').replace(/ +$/, ''), CAPTION[language]);

      // Image Pixel module and the pixel bytes exactly as given.
      assert.deepEqual(
        [0x00280002, 0x00280006, 0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280102, 0x00280103].map((tag) => ds.number(tag)),
        [3, 0, inp.height, inp.width, 8, 8, 7, 0],
      );
      assert.equal(ds.string(0x00280004), 'RGB');
      const pixelData = ds.get(0x7fe00010)!;
      assert.equal(pixelData.vr, 'OB');
      assert.equal(pixelData.value.length, inp.width * inp.height * 3);
      assert.ok(pixelData.value.equals(Buffer.from(inp.rgb)), 'Pixel Data equals the input RGB');

      // dcm2pnm renders it; an 8-bit RGB image comes out unchanged, yellow circle included.
      const ppm = path.join(dir, `key-${language}.ppm`);
      const r = await run('dcm2pnm', ['+op', file, ppm]);
      assert.equal(r.code, 0, `dcm2pnm failed: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', 'dcm2pnm printed no warnings');
      const img = readPpm(fs.readFileSync(ppm));
      assert.deepEqual([img.width, img.height], [inp.width, inp.height]);
      assert.ok(img.rgb.equals(Buffer.from(inp.rgb)), 'rendered pixels equal the input');
      const at = (x: number, y: number): number[] => [...img.rgb.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
      assert.deepEqual(at(39, 20), [...YELLOW], 'the circle is on the rendered image');
      assert.notDeepEqual(at(30, 20), [...YELLOW], 'its centre is not');
    },
  );
}

test('key image SC: identical input gives identical bytes; content time and caption are in them', { skip: skipTools }, () => {
  const src = syntheticSource();
  const a = buildKeyImageSc(input(src, 'en'));
  // Fresh copies of every buffer: the output depends on values, not identities.
  const again = input(src, 'en');
  const b = buildKeyImageSc({ ...again, sourceFile: Buffer.from(again.sourceFile), rgb: Uint8Array.from(again.rgb) });
  assert.ok(a.bytes.equals(b.bytes), 'same input -> identical bytes');
  assert.ok(
    !a.bytes.equals(buildKeyImageSc(input(src, 'en', { contentDateTime: new Date(WHEN.getTime() + 1000) })).bytes),
    'content time is in the bytes',
  );
  assert.ok(!a.bytes.equals(buildKeyImageSc(input(src, 'en', { caption: 'Finding 2' })).bytes), 'caption is in the bytes');
  assert.ok(!a.bytes.equals(buildKeyImageSc(input(src, 'zh-CN', { caption: CAPTION.en })).bytes), 'language is in the bytes');
});

test('key image SC: odd-sized image (odd pixel byte count) is padded and still valid', { skip: skipTools }, async (t) => {
  const src = syntheticSource();
  const dir = tmpDir('ksc-odd');
  const rgb = markedSlice(33, 21, 16, 10, 5); // 2079 bytes
  const built = buildKeyImageSc(input(src, 'en', { rgb, width: 33, height: 21, revision: 3 }));
  const file = await writeAndCheck(t, dir, 'odd.dcm', built.bytes);
  const { dataSet: ds } = parseDicomFile(built.bytes);
  const px = ds.get(0x7fe00010)!.value;
  assert.equal(px.length, 2080, 'even value length');
  assert.ok(px.subarray(0, 2079).equals(Buffer.from(rgb)));
  assert.equal(px[2079], 0);
  assert.equal(ds.string(0x00200013), '3', 'Instance Number is the revision');
  const ppm = path.join(dir, 'odd.ppm');
  const r = await run('dcm2pnm', ['+op', file, ppm]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readPpm(fs.readFileSync(ppm)).rgb.equals(Buffer.from(rgb)));
});

test(
  'key image SC: laterality follows the source (copied for a paired body part, empty only when unknown)',
  { skip: skipTools },
  async (t) => {
    const src = syntheticSource();
    const dir = tmpDir('ksc-lat');
    const variant = async (name: string, args: string[]): Promise<Buffer> => {
      const f = path.join(dir, `${name}-src.dcm`);
      fs.copyFileSync(src.files[0]!, f);
      const r = await run('dcmodify', ['-nb', ...args, f]);
      assert.equal(r.code, 0, r.stderr);
      return fs.readFileSync(f);
    };
    // Paired body part with a laterality: copied, no warning.
    const knee = buildKeyImageSc(
      input(src, 'en', { sourceFile: await variant('knee', ['-m', '(0018,0015)=KNEE', '-i', '(0020,0060)=L']) }),
    );
    await writeAndCheck(t, dir, 'knee.dcm', knee.bytes);
    let ds = parseDicomFile(knee.bytes).dataSet;
    assert.equal(ds.string(0x00180015), 'KNEE');
    assert.equal(ds.string(0x00200060), 'L');
    // Unpaired (the synthetic CHEST): no Laterality at all.
    ds = parseDicomFile(buildKeyImageSc(input(src, 'en')).bytes).dataSet;
    assert.equal(ds.string(0x00180015), 'CHEST');
    assert.ok(!ds.has(0x00200060), 'no Laterality for an unpaired body part');
    // No body part, no laterality: unknown, so Laterality is present and empty (dciodvfy warns, correctly).
    const unknown = buildKeyImageSc(input(src, 'en', { sourceFile: await variant('none', ['-ea', '(0018,0015)']) }));
    await writeAndCheck(t, dir, 'unknown.dcm', unknown.bytes, [
      INHERITED_STUDY_ID,
      'Warning - is only permitted to be empty when actually unknown; should be absent (not empty) if an unpaired body part, and have a value if a paired body part - attribute <Laterality>',
    ]);
    ds = parseDicomFile(unknown.bytes).dataSet;
    assert.ok(!ds.has(0x00180015));
    assert.equal(ds.string(0x00200060), '');
  },
);

test('key image SC: inconsistent input is refused', () => {
  const src = syntheticSource();
  assert.throws(() => buildKeyImageSc(input(src, 'en', { rgb: new Uint8Array(10) })), /RGB buffer has 10 bytes/);
  assert.throws(() => buildKeyImageSc(input(src, 'en', { width: 0, rgb: new Uint8Array(0) })), /width/);
  assert.throws(() => buildKeyImageSc(input(src, 'en', { sourceSeriesInstanceUid: `${src.uidRoot}.7` })), /another series/);
  assert.throws(
    () => buildKeyImageSc(input(src, 'en', { uids: { seriesInstanceUid: src.seriesUid, sopInstanceUid: '2.25.5' } })),
    /UIDs of its own/,
  );
  assert.throws(() => buildKeyImageSc(input(src, 'en', { revision: 0 })), /revision/);
  assert.throws(() => buildKeyImageSc(input(src, 'en', { contentDateTime: new Date('x') })), /valid date/);
  assert.throws(
    () => buildKeyImageSc(input(src, 'en', { referenced: { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: 'not-a-uid' } })),
    /not a valid UID/,
  );
  assert.throws(() => buildKeyImageSc(input(src, 'en', { language: 'fr' as 'en' })), /unknown key image language/);
});
