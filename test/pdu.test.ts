// PDU codec, PDU framing and transfer syntax choice: the pure parts of the transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAssociateAC,
  decodeAssociateRQ,
  decodePData,
  decodePDataParts,
  encodeAbort,
  encodeAssociateAC,
  encodeAssociateRJ,
  encodeAssociateRQ,
  encodePDataHeader,
  PDU_TYPE,
  PduError,
} from '../src/dimse/pdu';
import { PduReader } from '../src/dimse/pdu-reader';
import { decodeCommand, encodeCommand, COMMAND_FIELD, NO_DATA_SET } from '../src/dimse/command';
import { chooseTransferSyntax, STORAGE_TRANSFER_SYNTAX_PREFERENCE, TS } from '../src/dimse/uids';
import { IMPLEMENTATION_VERSION_NAME, VERSION } from '../src/version';
import { PROJECT_ROOT } from './helpers/env';
import fs from 'node:fs';
import path from 'node:path';

const rq = {
  protocolVersion: 1,
  calledAeTitle: 'DICOM_AI',
  callingAeTitle: 'CT01',
  applicationContext: '1.2.840.10008.3.1.1.1',
  presentationContexts: [
    { id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: [TS.JPEG2000, TS.ExplicitVRLittleEndian] },
    { id: 3, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [TS.ImplicitVRLittleEndian] },
  ],
  userInformation: {
    maxPduLength: 32768,
    implementationClassUid: '1.2.3.4.5',
    implementationVersionName: 'TEST_1',
    asyncOpsWindow: { invoked: 4, performed: 2 },
    roleSelections: [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', scuRole: true, scpRole: false }],
    otherItems: [],
  },
};

test('A-ASSOCIATE-RQ round trip keeps every field', () => {
  const bytes = encodeAssociateRQ(rq);
  assert.equal(bytes[0], PDU_TYPE.AssociateRQ);
  assert.equal(bytes.readUInt32BE(2), bytes.length - 6);
  assert.deepEqual(decodeAssociateRQ(bytes.subarray(6)), rq);
});

test('A-ASSOCIATE-AC round trip, rejected contexts carry an empty transfer syntax', () => {
  const ac = {
    protocolVersion: 1,
    calledAeTitle: 'DICOM_AI',
    callingAeTitle: 'CT01',
    applicationContext: '1.2.840.10008.3.1.1.1',
    presentationContexts: [
      { id: 1, result: 0, transferSyntax: TS.ExplicitVRLittleEndian },
      { id: 3, result: 4, transferSyntax: '' },
    ],
    userInformation: { maxPduLength: 65536, implementationClassUid: '1.2.3', roleSelections: [], otherItems: [] },
  };
  assert.deepEqual(decodeAssociateAC(encodeAssociateAC(ac).subarray(6)), ac);
});

test('RJ and ABORT are 10 bytes with the right fields', () => {
  assert.deepEqual([...encodeAssociateRJ({ result: 2, source: 3, reason: 2 })], [3, 0, 0, 0, 0, 4, 0, 2, 3, 2]);
  assert.deepEqual([...encodeAbort({ source: 2, reason: 6 })], [7, 0, 0, 0, 0, 4, 0, 0, 2, 6]);
});

test('association RQ without user information or with an item running past its PDU is refused', () => {
  const bytes = encodeAssociateRQ(rq).subarray(6);
  const truncated = Buffer.from(bytes.subarray(0, bytes.length - 3));
  assert.throws(() => decodeAssociateRQ(truncated), PduError);
  assert.throws(() => decodeAssociateRQ(Buffer.alloc(20)), /shorter than its fixed fields/);
});

test('P-DATA in pieces: PDV headers and data across piece boundaries, data never joined', () => {
  const a = Buffer.alloc(300, 1);
  const b = Buffer.alloc(200, 2);
  const body = Buffer.concat([
    encodePDataHeader(1, false, false, a.length).subarray(6),
    a,
    encodePDataHeader(1, false, true, b.length).subarray(6),
    b,
  ]);
  for (const cut of [1, 3, 5, 6, 7, 306, 307, 310]) {
    const pdvs = decodePDataParts([body.subarray(0, cut), body.subarray(cut)]);
    assert.deepEqual(
      pdvs.map((p) => [p.length, p.isLast]),
      [
        [300, false],
        [200, true],
      ],
      `cut at ${cut}`,
    );
    assert.ok(Buffer.concat(pdvs[0]!.data).equals(a) && Buffer.concat(pdvs[1]!.data).equals(b), `cut at ${cut}`);
  }
});

test('P-DATA: PDVs split out, command/last bits read', () => {
  const a = Buffer.from('abcd');
  const b = Buffer.from('efgh');
  const pdu = Buffer.concat([encodePDataHeader(1, true, true, 4), a]);
  const body = Buffer.concat([pdu.subarray(6), encodePDataHeader(3, false, false, 4).subarray(6), b]);
  const pdvs = decodePData(body);
  assert.equal(pdvs.length, 2);
  assert.deepEqual(
    pdvs.map((p) => [p.contextId, p.isCommand, p.isLast, p.data.toString()]),
    [
      [1, true, true, 'abcd'],
      [3, false, false, 'efgh'],
    ],
  );
  assert.throws(() => decodePData(Buffer.from([0, 0, 0, 9, 1, 3, 0])), /does not fit/);
});

test('PduReader reassembles PDUs across arbitrary chunk boundaries', () => {
  const pdus = [
    encodeAssociateRQ(rq),
    Buffer.concat([encodePDataHeader(1, false, true, 1000), Buffer.alloc(1000, 7)]),
    encodeAbort({ source: 0, reason: 0 }),
  ];
  const stream = Buffer.concat(pdus);
  for (const step of [1, 3, 7, 64, 1000, stream.length]) {
    const r = new PduReader({ maxPDataLength: 4096, maxAssociateLength: 65536 });
    const out = [];
    for (let i = 0; i < stream.length; i += step) out.push(...r.push(stream.subarray(i, i + step)));
    assert.deepEqual(
      out.map((p) => p.type),
      [1, 4, 7],
      `chunk size ${step}`,
    );
    assert.equal(out[1]!.length, 1006);
    assert.ok(
      Buffer.concat(out[1]!.parts).equals(stream.subarray(pdus[0]!.length + 6, pdus[0]!.length + 6 + 1006)),
      'P-DATA body pieces reassemble to the bytes sent',
    );
    assert.equal(r.bufferedBytes, 0);
  }
});

test('PduReader refuses oversized and unknown PDUs at the header, before buffering', () => {
  const r = new PduReader({ maxPDataLength: 16384, maxAssociateLength: 65536 });
  const h = Buffer.from([4, 0, 0x7f, 0xff, 0xff, 0xff]);
  assert.throws(() => r.push(h), /exceeds the maximum length of 16384/);
  assert.throws(
    () => new PduReader({ maxPDataLength: 16384, maxAssociateLength: 65536 }).push(Buffer.from([0x09, 0, 0, 0, 0, 4])),
    /unrecognised PDU type/,
  );
  assert.throws(
    () => new PduReader({ maxPDataLength: 16384, maxAssociateLength: 65536 }).push(Buffer.from([0x05, 0, 0, 0, 1, 0])),
    /must be 4 bytes/,
  );
});

test('DIMSE command round trip; odd UIDs padded with NUL', () => {
  const cmd = {
    commandField: COMMAND_FIELD.C_STORE_RQ,
    messageId: 7,
    affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    affectedSopInstanceUid: '1.2.3',
    priority: 0,
    commandDataSetType: 0,
  };
  const bytes = encodeCommand(cmd);
  assert.equal(bytes.readUInt32LE(8), bytes.length - 12, 'group length');
  assert.deepEqual(decodeCommand(bytes), cmd);
  assert.throws(
    () => decodeCommand(encodeCommand({ commandField: 0x30, commandDataSetType: NO_DATA_SET }).subarray(0, 20)),
    /truncated|runs past/,
  );
});

test('transfer syntax choice looks at every proposed syntax, ours decides the order', () => {
  const pref = STORAGE_TRANSFER_SYNTAX_PREFERENCE;
  assert.equal(chooseTransferSyntax([TS.JPEG2000, TS.ExplicitVRLittleEndian], pref), TS.ExplicitVRLittleEndian);
  assert.equal(
    chooseTransferSyntax(['1.2.840.10008.1.2.4.100', TS.JPEGLSLossless], pref),
    TS.JPEGLSLossless,
    'not just the first proposed',
  );
  assert.equal(chooseTransferSyntax([TS.JPEGBaseline8Bit, TS.RLELossless], pref), TS.RLELossless, 'lossless before lossy');
  assert.equal(chooseTransferSyntax([TS.JPEGBaseline8Bit], pref), TS.JPEGBaseline8Bit);
  assert.equal(chooseTransferSyntax(['1.2.840.10008.1.2.4.201'], pref), null, 'HTJ2K is not accepted');
});

test('version constants agree with package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
  assert.ok(IMPLEMENTATION_VERSION_NAME.length <= 16);
});
