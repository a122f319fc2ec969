// Interoperability with a real PACS: Debian's Orthanc (1.10.1, /usr/sbin/Orthanc), both ways.
//   1. Orthanc as sender: files uploaded to Orthanc over its REST API are C-STOREd by Orthanc to
//      the node (POST /modalities/node/store); the node indexes them under the right study and
//      series and keeps their transfer syntax and pixel data byte for byte. C-ECHO from Orthanc.
//      For a syntax the node refuses, Orthanc transcodes to Explicit VR LE.
//   2. Orthanc as receiver: our SCU (sendFiles) stores the same kind of files into Orthanc, which
//      is configured like a hardened PACS (it checks the called AE and accepts stores only from
//      the modalities it knows, by AE title and host); Orthanc's REST API then hands back the
//      files it stored, which are compared with ours. Orthanc's refusals reach our SCU properly.
//   3. The node's association policy against a third-party peer: Orthanc's C-ECHO/C-STORE to a
//      wrong called AE of ours, or under a calling AE the node does not list, are rejected.
//   Plus two corpus files with conformance defects (stale file meta, unpadded deflate stream).
//
// Everything runs on 127.0.0.1. Orthanc 1.10 has no option to choose the address it listens on:
// both its DICOM server (DicomPort) and its HTTP server (HttpPort) bind to 0.0.0.0 (checked with
// `ss -ltn`). "RemoteAccessAllowed": false makes the HTTP server refuse non-loopback clients;
// the DICOM port refuses stores from unknown modalities here ("DicomAlwaysAllowStore": false) but
// still answers C-ECHO from anyone ("DicomAlwaysAllowEcho", default true) while the test runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestNode, TestNode } from './helpers/node';
import { OrthancPacs } from './helpers/orthanc';
import { SHARED_DICOM, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { dataSetOf, pixelBytes } from './helpers/pixels';
import { prepareFile, sendFiles } from '../src/delivery/send-files';
import { readPart10Header } from '../src/dicom/part10';
import { readDatasetHeader } from '../src/dicom/dataset-reader';
import { STORAGE_TRANSFER_SYNTAX_PREFERENCE, TS } from '../src/dimse/uids';
import { newUidRoot, writeSyntheticCtSeries } from '../fixtures/synthetic-ct';

const SYNTHETIC_COUNT = 20;

/**
 * Real files from the shared corpus: one per SOP Instance UID (Orthanc keys instances by it, so
 * two transfer-syntax variants of one image cannot both be in it), covering the syntaxes a PACS
 * holds: native (both endians), lossless and lossy compressions, a segmentation and SRs. (The
 * corpus's deflated files are not conformant; testFiles() makes a deflated one with dcmconv.)
 */
const CORPUS = [
  'pydicom/MR_small.dcm', // Explicit VR LE, MR, with Data Set Trailing Padding
  'cornerstone3D/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm',
  'cornerstone3D/CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm', // lossy J2K
  'cornerstone3D/CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm', // near-lossless JPEG-LS
  'cornerstone3D/TestPattern_JPEG-LS-Lossless.dcm', // JPEG-LS lossless
  'pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm', // JPEG lossless SV1
  'cornerstone3D/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm', // JPEG extended, fragmented, no offset table
  'pydicom/ExplVR_BigEnd.dcm', // explicit VR big endian (retired)
  'cornerstone3D/TestPattern_JPEG-Baseline_YBRFull.dcm', // JPEG baseline
  'pydicom/SC_rgb_rle_2frame.dcm', // RLE, 2 frames
  'highdicom/seg_image_ct_binary.dcm', // implicit VR LE, SEG
  'highdicom/sr_document.dcm', // Comprehensive 3D SR, no pixel data
  'dcmjs/structured_report.dcm', // SR
];

/** Conformance problems of corpus files, each with a test of its own. */
const MISMATCHED_META = 'cornerstone3D/TestPattern_JPEG-Lossless_RGB.dcm'; // JPEG lossless SV1; meta SOP Instance UID != data set's
const ODD_DEFLATED = 'pydicom/image_dfl.dcm'; // deflated, odd length, no pad byte

/** Syntaxes the node does not accept (retired JPEG processes), which Orthanc must transcode. */
const RETIRED_JPEG = [
  'cornerstone3D/CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm',
  'cornerstone3D/CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm',
];

// ---------------------------------------------------------------------------------------------
// Orthanc: process, config, REST
// ---------------------------------------------------------------------------------------------

const rest = (method: string, urlPath: string, body?: Buffer | string | object, timeoutMs?: number) =>
  orthanc.rest(method, urlPath, body, timeoutMs);
const restJson = <T = unknown>(method: string, urlPath: string, body?: Buffer | string | object): Promise<T> =>
  orthanc.json<T>(method, urlPath, body);

async function startOrthanc(nodePort: number): Promise<void> {
  orthanc = await OrthancPacs.create(
    {
      node: ['DICOM_AI', '127.0.0.1', nodePort],
      // Our node under an AE title that is not ours: called AE not recognized.
      wrongcalled: ['NOT_DICOM_AI', '127.0.0.1', nodePort],
      // Our node, but Orthanc calls from an AE title the node does not list (LocalAet, 1.9.0+).
      intruder: { AET: 'DICOM_AI', Host: '127.0.0.1', Port: nodePort, LocalAet: 'INTRUDER' },
    },
    { overwriteInstances: false },
  );
  await orthanc.start();
}

/** Orthanc's ID of an instance, by SOP Instance UID (POST /tools/lookup). */
async function orthancIdOf(sopUid: string): Promise<string | undefined> {
  const hits = await restJson<{ ID: string; Type: string }[]>('POST', '/tools/lookup', sopUid);
  return hits.find((h) => h.Type === 'Instance')?.ID;
}

async function clearOrthanc(): Promise<void> {
  for (const id of await restJson<string[]>('GET', '/patients')) await restJson('DELETE', `/patients/${id}`);
  assert.deepEqual(await restJson<string[]>('GET', '/instances'), [], 'Orthanc is empty');
}

// ---------------------------------------------------------------------------------------------
// Test files
// ---------------------------------------------------------------------------------------------

interface SourceFile {
  file: string;
  name: string;
  sop: string;
  sopClass: string;
  series: string;
  study: string;
  ts: string;
}

function describeFile(file: string): SourceFile {
  const { ts, ds } = dataSetOf(file);
  const h = readPart10Header(fs.readFileSync(file));
  const a = readDatasetHeader(ds, ts === TS.DeflatedExplicitVRLittleEndian ? TS.ExplicitVRLittleEndian : ts).attributes;
  assert.ok(a.StudyInstanceUID && a.SeriesInstanceUID && a.SOPInstanceUID, `${file}: test file lacks study/series/instance UID`);
  return {
    file,
    name: file.startsWith(SHARED_DICOM) ? path.relative(SHARED_DICOM, file) : `synthetic/${path.basename(file)}`,
    sop: a.SOPInstanceUID,
    sopClass: h.sopClassUid,
    series: a.SeriesInstanceUID,
    study: a.StudyInstanceUID,
    ts,
  };
}

/**
 * A fresh synthetic CT series, one more synthetic instance deflated by DCMTK's dcmconv (which
 * pads the deflate stream to even length as PS3.5 A.5 requires; the corpus's deflated files do
 * not, see ODD_DEFLATED), and the corpus files.
 */
async function testFiles(tag: string): Promise<{ files: SourceFile[]; syntheticSeries: string }> {
  const dir = tmpDir(tag);
  const synthetic = writeSyntheticCtSeries({ outDir: dir, count: SYNTHETIC_COUNT, uidRoot: newUidRoot() }).map(describeFile);
  const [plain] = writeSyntheticCtSeries({ outDir: path.join(dir, 'for-deflate'), count: 1, uidRoot: newUidRoot() });
  const deflated = path.join(dir, 'deflated.dcm');
  const conv = await run('dcmconv', ['+td', plain!, deflated]);
  assert.equal(conv.code, 0, conv.stderr);
  const corpus = CORPUS.map((rel) => describeFile(path.join(SHARED_DICOM, rel)));
  const files = [...synthetic, { ...describeFile(deflated), name: 'synthetic/deflated.dcm' }, ...corpus];
  assert.equal(files[SYNTHETIC_COUNT]!.ts, TS.DeflatedExplicitVRLittleEndian);
  assert.equal(new Set(files.map((f) => f.sop)).size, files.length, 'one file per SOP Instance UID');
  return { files, syntheticSeries: synthetic[0]!.series };
}

/**
 * The data set of DCMTK's own re-encoding of a file (dcmconv, same transfer syntax). Over the
 * network DCMTK also drops Data Set Trailing Padding (FFFC,FFFC): `network` does the same (-p).
 */
async function dcmtkReencoded(file: string, network = false): Promise<Buffer> {
  const out = path.join(tmpDir('dcmconv'), 'reencoded.dcm');
  const r = await run('dcmconv', [...(network ? ['-p'] : []), file, out]);
  assert.equal(r.code, 0, r.stderr);
  return dataSetOf(out).ds;
}

const tsName = (uid: string) => Object.entries(TS).find(([, v]) => v === uid)?.[0] ?? uid;

// ---------------------------------------------------------------------------------------------

let n: TestNode;
let orthanc: OrthancPacs;

before(async () => {
  n = await startTestNode({ callers: [{ aeTitle: 'ORTHANC', hosts: ['127.0.0.1', '::1'] }] });
  await startOrthanc(n.port);
});

after(async () => {
  await orthanc?.stop();
  await n?.stop();
});

test('Orthanc runs with our config: our ports and AE title, no plugins', async (t) => {
  const sys = await restJson<{ Version: string; DicomAet: string; DicomPort: number; HttpPort: number }>('GET', '/system');
  assert.equal(sys.DicomAet, 'ORTHANC');
  assert.equal(sys.DicomPort, orthanc.dicomPort);
  assert.equal(sys.HttpPort, orthanc.httpPort);
  assert.match(sys.Version, /^1\.\d+\.\d+/);
  // GET /plugins always lists "explorer.js" (Orthanc Explorer's built-in hook), plugins or not.
  assert.deepEqual(
    (await restJson<string[]>('GET', '/plugins')).filter((p) => p !== 'explorer.js'),
    [],
    'no plugins loaded',
  );
  t.diagnostic(`Orthanc ${sys.Version}`);
});

test('C-ECHO from Orthanc to the node succeeds', async () => {
  const r = await rest('POST', '/modalities/node/echo', {});
  assert.equal(r.status, 200, r.text);
  assert.ok(
    n.logs.some((l) => l.includes('association accepted') && l.includes('ORTHANC')),
    'the node logged the association from ORTHANC',
  );
});

test('Orthanc C-STOREs uploaded instances to the node: all indexed, grouped by series, pixel data intact', async (t) => {
  const { files, syntheticSeries } = await testFiles('orthanc-up');
  const ids: string[] = [];
  for (const f of files) {
    const r = await restJson<{ ID: string; Status: string }>('POST', '/instances', fs.readFileSync(f.file));
    assert.equal(r.Status, 'Success', `${f.name}: upload to Orthanc`);
    ids.push(r.ID);
  }
  const t0 = Date.now();
  const job = await restJson<{ InstancesCount: number; FailedInstancesCount: number; RemoteAet: string; LocalAet: string }>(
    'POST',
    '/modalities/node/store',
    {
      Resources: ids,
      Synchronous: true,
    },
  );
  const storeMs = Date.now() - t0;
  assert.equal(job.InstancesCount, files.length, JSON.stringify(job));
  assert.equal(job.FailedInstancesCount, 0, JSON.stringify(job));
  assert.equal(job.RemoteAet, 'DICOM_AI');
  assert.equal(job.LocalAet, 'ORTHANC');

  let pixelsCompared = 0;
  let verbatim = 0;
  for (const f of files) {
    const inst = n.node.store.getInstance(f.sop);
    assert.ok(inst, `${f.name}: not indexed by the node`);
    assert.equal(inst.seriesInstanceUid, f.series, `${f.name}: series`);
    assert.equal(inst.studyInstanceUid, f.study, `${f.name}: study`);
    assert.equal(inst.sopClassUid, f.sopClass, `${f.name}: SOP class`);
    assert.equal(inst.callingAeTitle, 'ORTHANC');
    const stored = dataSetOf(inst.filePath);
    assert.equal(stored.ts, inst.transferSyntaxUid, `${f.name}: file meta and index agree on the transfer syntax`);
    // Orthanc 1.10 proposes up to 127 presentation contexts per association: the instance's own SOP
    // class and transfer syntax alone, then DCMTK's list of storage SOP classes with the
    // uncompressed syntaxes. The node accepts every syntax these files use, so Orthanc sends
    // each one as it holds it: no transcoding, native or compressed, big endian included.
    assert.equal(
      inst.transferSyntaxUid,
      f.ts,
      `${f.name}: stored as ${tsName(inst.transferSyntaxUid)}, sent by Orthanc as ${tsName(f.ts)}`,
    );
    const a = pixelBytes(f.file);
    const b = pixelBytes(inst.filePath);
    if (a === null) assert.equal(b, null, `${f.name}: pixel data appeared`);
    else {
      assert.ok(b, `${f.name}: stored copy lost its pixel data`);
      assert.ok(a.equals(b), `${f.name}: pixel data differs (${a.length} vs ${b.length} bytes)`);
      pixelsCompared++;
    }
    // The data set as a whole: Orthanc's DCMTK parses the file and encodes it again to send it
    // (sequences and items get explicit lengths, group lengths are recalculated, trailing
    // padding is dropped), and the node stores what arrives, byte for byte. So the node's copy
    // is the original bytes or exactly DCMTK's own re-encoding of them, never anything else.
    const ours = dataSetOf(f.file).ds;
    if (ours.equals(stored.ds)) verbatim++;
    else
      assert.ok(
        (await dcmtkReencoded(f.file, true)).equals(stored.ds),
        `${f.name}: the node's copy is neither the original data set nor DCMTK's re-encoding of it`,
      );
  }
  const series = n.node.store.getSeries(syntheticSeries);
  assert.ok(series, 'synthetic series indexed');
  assert.equal(series.instanceCount, SYNTHETIC_COUNT);
  assert.equal(n.node.store.listInstances(syntheticSeries).length, SYNTHETIC_COUNT);
  assert.ok(verbatim >= SYNTHETIC_COUNT + 1, `synthetic data sets stored verbatim: only ${verbatim} verbatim`);
  t.diagnostic(
    `Orthanc -> node: ${files.length} instances in ${storeMs} ms; pixel data identical for all ${pixelsCompared} with pixel data; ` +
      `data set verbatim for ${verbatim}, DCMTK-re-encoded for ${files.length - verbatim}`,
  );
});

test('a transfer syntax the node refuses (retired JPEG processes 6/8 and 10/12): Orthanc transcodes to Explicit VR LE', async () => {
  for (const rel of RETIRED_JPEG) {
    const f = describeFile(path.join(SHARED_DICOM, rel));
    assert.ok(
      !STORAGE_TRANSFER_SYNTAX_PREFERENCE.includes(f.ts),
      `${rel}: the node accepts ${f.ts} now; pick another syntax for this test`,
    );
    const up = await restJson<{ ID: string }>('POST', '/instances', fs.readFileSync(f.file));
    const job = await restJson<{ FailedInstancesCount: number }>('POST', '/modalities/node/store', {
      Resources: [up.ID],
      Synchronous: true,
    });
    assert.equal(job.FailedInstancesCount, 0, `${rel}: ${JSON.stringify(job)}`);
    const inst = n.node.store.getInstance(f.sop);
    assert.ok(inst, `${rel}: stored`);
    // The context with the JPEG syntax is refused (result 4); Orthanc falls back to its
    // DicomScuPreferredTransferSyntax (Explicit VR LE by default) and decodes on the fly.
    assert.equal(inst.transferSyntaxUid, TS.ExplicitVRLittleEndian, `${rel}: stored as ${tsName(inst.transferSyntaxUid)}`);
    // The pixels are DCMTK's decoding of the JPEG stream: the same as dcmdjpeg's here.
    const decoded = path.join(tmpDir('dcmdjpeg'), 'decoded.dcm');
    const r = await run('dcmdjpeg', ['+te', f.file, decoded]);
    assert.equal(r.code, 0, r.stderr);
    const expected = pixelBytes(decoded)!;
    const got = pixelBytes(inst.filePath);
    assert.ok(got, `${rel}: pixel data`);
    assert.equal(got.length, expected.length, `${rel}: decoded pixel data length`);
    assert.ok(got.equals(expected), `${rel}: Orthanc's decoding differs from dcmdjpeg's`);
  }
});

test('our SCU stores into Orthanc: all accepted, Orthanc has them with the same pixel data and data set', async (t) => {
  await clearOrthanc();
  const { files, syntheticSeries } = await testFiles('orthanc-down');
  const prepared = await Promise.all(files.map((f) => prepareFile(f.file)));
  const t0 = Date.now();
  const results = await sendFiles({ aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort }, prepared, {
    callingAeTitle: 'DICOM_AI',
    timeoutSeconds: 20,
  });
  const sendMs = Date.now() - t0;
  assert.equal(results.length, files.length);
  for (const r of results) assert.equal(r.status, 0, `${path.basename(r.file)}: status ${r.status} ${r.error ?? ''}`);

  let verbatim = 0;
  const reencoded: string[] = [];
  for (const f of files) {
    const id = await orthancIdOf(f.sop);
    assert.ok(id, `${f.name}: not in Orthanc`);
    const tags = await restJson<Record<string, string>>('GET', `/instances/${id}/simplified-tags`);
    assert.equal(tags.SOPInstanceUID, f.sop);
    assert.equal(tags.SeriesInstanceUID, f.series);
    assert.equal(tags.StudyInstanceUID, f.study);
    const meta = await restJson<Record<string, string>>('GET', `/instances/${id}/metadata?expand`);
    assert.equal(meta.RemoteAET, 'DICOM_AI', `${f.name}: Orthanc saw our calling AE`);
    assert.equal(meta.CalledAET, 'ORTHANC');
    assert.equal(meta.RemoteIP, '127.0.0.1');
    assert.equal(meta.Origin, 'DicomProtocol');
    const file = await rest('GET', `/instances/${id}/file`);
    assert.equal(file.status, 200);
    const theirs = dataSetOf(file.body);
    // Our SCU proposes each file's own syntax only, and Orthanc accepts every syntax by default
    // ("AcceptedTransferSyntaxes": 1.2.840.10008.1.*), so it receives and keeps that syntax.
    assert.equal(theirs.ts, f.ts, `${f.name}: Orthanc stored it as ${tsName(theirs.ts)}`);
    assert.equal(meta.TransferSyntax, f.ts);
    const a = pixelBytes(f.file);
    const b = pixelBytes(file.body);
    if (a === null) assert.equal(b, null, `${f.name}: pixel data appeared`);
    else {
      assert.ok(b, `${f.name}: Orthanc's copy lost its pixel data`);
      assert.ok(a.equals(b), `${f.name}: pixel data differs (${a.length} vs ${b.length} bytes)`);
    }
    // The whole data set. Our SCU sends the file's bytes as they are; Orthanc's DCMTK parses
    // them and writes its file anew (explicit lengths for sequences and items, group lengths
    // recalculated). So Orthanc's copy is our bytes verbatim when the file already is in that
    // form (the synthetic ones and most of the corpus), and otherwise exactly what DCMTK's own
    // dcmconv makes of our file: nothing was lost or altered on the wire.
    const ours = dataSetOf(f.file).ds;
    if (ours.equals(theirs.ds)) verbatim++;
    else {
      assert.ok(
        (await dcmtkReencoded(f.file)).equals(theirs.ds),
        `${f.name}: Orthanc's copy is neither our data set nor DCMTK's re-encoding of it`,
      );
      reencoded.push(f.name);
    }
  }
  const seriesId = (await restJson<{ ID: string; Type: string }[]>('POST', '/tools/lookup', syntheticSeries)).find(
    (h) => h.Type === 'Series',
  )?.ID;
  assert.ok(seriesId, 'synthetic series in Orthanc');
  const series = await restJson<{ Instances: string[] }>('GET', `/series/${seriesId}`);
  assert.equal(series.Instances.length, SYNTHETIC_COUNT);
  assert.equal((await restJson<string[]>('GET', '/instances')).length, files.length);
  assert.ok(!reencoded.some((x) => x.startsWith('synthetic/')), `synthetic data sets kept verbatim by Orthanc: ${reencoded.join(', ')}`);
  t.diagnostic(
    `node -> Orthanc: ${files.length} instances in ${sendMs} ms; data set verbatim in Orthanc for ${verbatim}; re-encoded by DCMTK: ${reencoded.join(', ') || 'none'}`,
  );
});

test("a file whose meta SOP Instance UID differs from its data set's: both sides send it under the data set's UID", async () => {
  // cornerstone3D's TestPattern_JPEG-Lossless_RGB.dcm: (0002,0003) and (0008,0018) disagree. A
  // C-STORE whose Affected SOP Instance UID contradicts the data set is refused with A900 by
  // Orthanc (and by the node), so the UID must come from the data set.
  const odd = describeFile(path.join(SHARED_DICOM, MISMATCHED_META));
  assert.notEqual(readPart10Header(fs.readFileSync(odd.file)).sopInstanceUid, odd.sop, 'the file still has inconsistent meta information');

  // Orthanc -> node
  const up = await restJson<{ ID: string }>('POST', '/instances', fs.readFileSync(odd.file));
  const job = await restJson<{ FailedInstancesCount: number }>('POST', '/modalities/node/store', { Resources: [up.ID], Synchronous: true });
  assert.equal(job.FailedInstancesCount, 0);
  const inst = n.node.store.getInstance(odd.sop);
  assert.ok(inst, "stored by the node under the data set's SOP Instance UID");
  assert.equal(inst.transferSyntaxUid, odd.ts);
  assert.ok(pixelBytes(odd.file)!.equals(pixelBytes(inst.filePath)!), 'pixel data identical');
  await restJson('DELETE', `/instances/${up.ID}`);
  assert.equal(await orthancIdOf(odd.sop), undefined);

  // node -> Orthanc
  const prepared = await prepareFile(odd.file);
  assert.equal(prepared.sopInstanceUid, odd.sop, "prepareFile takes the data set's UID");
  const results = await sendFiles({ aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort }, [prepared], {
    callingAeTitle: 'DICOM_AI',
    timeoutSeconds: 20,
  });
  assert.equal(results[0]!.status, 0, `status ${results[0]!.status} ${results[0]!.error ?? ''}`);
  const id = await orthancIdOf(odd.sop);
  assert.ok(id, 'in Orthanc');
  const theirs = await rest('GET', `/instances/${id}/file`);
  assert.ok(pixelBytes(odd.file)!.equals(pixelBytes(theirs.body)!), 'pixel data identical');
});

test('an odd-length deflated data set (pydicom image_dfl.dcm, no trailing pad byte) reaches Orthanc and back', async () => {
  // PS3.5 A.5: an odd-length deflate bit stream "shall" be followed by one NULL byte. This file
  // lacks it (4303 bytes after the meta information). DCMTK, inside Orthanc, refuses any PDV with
  // an odd fragment length ("DIMSE: Odd Fragment Length") and aborts the association, so our SCU
  // must add the pad byte when it sends the file's bytes.
  const dfl = describeFile(path.join(SHARED_DICOM, ODD_DEFLATED));
  const raw = fs.readFileSync(dfl.file);
  assert.equal((raw.length - readPart10Header(raw).datasetOffset) % 2, 1, 'the deflated data set is still odd-length');

  // Orthanc -> node: DCMTK re-encodes (and pads) the deflated stream; the node stores it.
  const up = await restJson<{ ID: string }>('POST', '/instances', raw);
  const job = await restJson<{ FailedInstancesCount: number }>('POST', '/modalities/node/store', { Resources: [up.ID], Synchronous: true });
  assert.equal(job.FailedInstancesCount, 0);
  const inst = n.node.store.getInstance(dfl.sop);
  assert.ok(inst, 'stored by the node');
  assert.equal(inst.transferSyntaxUid, TS.DeflatedExplicitVRLittleEndian);
  assert.ok(pixelBytes(dfl.file)!.equals(pixelBytes(inst.filePath)!), 'pixel data identical after inflating');
  await restJson('DELETE', `/instances/${up.ID}`);

  // node -> Orthanc: our SCU sends the stored bytes, plus the pad byte.
  const results = await sendFiles({ aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort }, [await prepareFile(dfl.file)], {
    callingAeTitle: 'DICOM_AI',
    timeoutSeconds: 20,
  });
  assert.equal(results[0]!.status, 0, `odd-length deflated data set not stored by Orthanc: ${results[0]!.error ?? ''}`);
  const id = await orthancIdOf(dfl.sop);
  assert.ok(id, 'in Orthanc');
  const theirs = await rest('GET', `/instances/${id}/file`);
  assert.ok(pixelBytes(dfl.file)!.equals(pixelBytes(theirs.body)!), 'pixel data identical after inflating');
});

test('Orthanc rejects our SCU calling it by a wrong AE title, and aborts stores from an AE title it does not know', async () => {
  const files = writeSyntheticCtSeries({ outDir: tmpDir('orthanc-reject'), count: 3, uidRoot: newUidRoot() });
  const prepared = await Promise.all(files.map((f) => prepareFile(f)));
  // DicomCheckCalledAet: association rejected (permanent, service user, called AE not recognized).
  await assert.rejects(
    sendFiles({ aeTitle: 'NOT_ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort }, prepared, {
      callingAeTitle: 'DICOM_AI',
      timeoutSeconds: 10,
    }),
    (e: Error & { rejection?: { result: number; source: number; reason: number } }) => {
      assert.match(e.message, /association rejected/);
      assert.deepEqual(e.rejection, { result: 1, source: 1, reason: 7 });
      return true;
    },
  );
  // DicomAlwaysAllowStore false: Orthanc 1.10 still accepts the association of an unknown calling
  // AE (C-ECHO is allowed from anyone) but answers its first C-STORE with an A-ABORT.
  const results = await sendFiles({ aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort }, prepared, {
    callingAeTitle: 'STRANGER',
    timeoutSeconds: 10,
  });
  assert.ok(results.length >= 1);
  assert.equal(results[0]!.status, null);
  // Orthanc sends A-ABORT and closes at once: depending on timing the SCU sees the A-ABORT or
  // the reset connection while it is still writing the data set.
  assert.match(results[0]!.error ?? '', /abort|ECONNRESET|EPIPE/i);
  for (const r of results) assert.equal(r.status, null, 'nothing reported as stored');
  for (const p of prepared) assert.equal(await orthancIdOf(p.sopInstanceUid), undefined, 'nothing stored in Orthanc');
});

test('sendFiles reports every file when the peer aborts the association (one result per file, status null = not sent)', async () => {
  // The contract in src/delivery/send-files.ts: "resolves with one result per file (status null
  // = not sent)". Orthanc aborts the association at the first C-STORE of an unknown calling AE.
  const files = writeSyntheticCtSeries({ outDir: tmpDir('orthanc-abort'), count: 3, uidRoot: newUidRoot() });
  const prepared = await Promise.all(files.map((f) => prepareFile(f)));
  const results = await sendFiles({ aeTitle: 'ORTHANC', host: '127.0.0.1', port: orthanc.dicomPort }, prepared, {
    callingAeTitle: 'STRANGER',
    timeoutSeconds: 10,
  });
  assert.equal(results.length, prepared.length, `one result per file: got ${results.length} for ${prepared.length} files`);
  assert.deepEqual(
    results.map((r) => [r.file, r.status]),
    prepared.map((p) => [p.file, null]),
  );
});

test("Orthanc's C-ECHO and C-STORE to a wrong AE title of ours, or from an AE we do not list, are rejected", async () => {
  const rejectionsBefore = n.logs.filter((l) => l.includes('association rejected')).length;
  const wrongCalled = await rest('POST', '/modalities/wrongcalled/echo', {});
  // Orthanc answers HTTP 500 with the DICOM reason in "Details".
  assert.equal(wrongCalled.status, 500, `echo to NOT_DICOM_AI: ${wrongCalled.text}`);
  assert.match(wrongCalled.text, /Association Rejected/i);
  assert.ok(
    n.logs.some((l) => l.includes('association rejected') && l.includes('NOT_DICOM_AI') && l.includes('is not ours')),
    'node logged the rejection of the wrong called AE',
  );
  const intruder = await rest('POST', '/modalities/intruder/echo', {});
  assert.equal(intruder.status, 500, `echo from INTRUDER: ${intruder.text}`);
  assert.match(intruder.text, /Association Rejected/i);
  assert.ok(
    n.logs.some((l) => l.includes('association rejected') && l.includes('INTRUDER') && l.includes('not listed')),
    'node logged the rejection of the unlisted calling AE',
  );

  // A store fails the same way, and nothing reaches the node's index.
  const [f] = writeSyntheticCtSeries({ outDir: tmpDir('orthanc-wrong'), count: 1, uidRoot: newUidRoot() });
  const sop = readPart10Header(fs.readFileSync(f!)).sopInstanceUid;
  const up = await restJson<{ ID: string }>('POST', '/instances', fs.readFileSync(f!));
  for (const modality of ['wrongcalled', 'intruder']) {
    const r = await rest('POST', `/modalities/${modality}/store`, { Resources: [up.ID], Synchronous: true });
    assert.equal(r.status, 500, `store via ${modality}: ${r.text}`);
    assert.match(r.text, /Association Rejected/i);
  }
  assert.equal(n.node.store.getInstance(sop), undefined, 'nothing stored by the node');
  const rejectionsAfter = n.logs.filter((l) => l.includes('association rejected')).length;
  assert.ok(rejectionsAfter - rejectionsBefore >= 4, `expected at least 4 rejections, saw ${rejectionsAfter - rejectionsBefore}`);
  // And the right modality still works afterwards.
  const ok = await rest('POST', '/modalities/node/store', { Resources: [up.ID], Synchronous: true });
  assert.equal(ok.status, 200, ok.text);
  assert.ok(n.node.store.getInstance(sop), 'stored via the right modality');
});
