// The STOW-RS answer (PS3.18 §10.5.3) read per instance: a 202 with a Failed SOP Sequence gives
// each listed instance its Failure Reason as a failure status, the stored ones success or their
// warning, and one the server did not mention no status at all (tried again); answers with no
// per-instance list fail the whole request with the HTTP status in words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSuccessOrWarning } from '../src/delivery/send-files';
import { parseStowResponse, StowRequestError } from '../src/delivery/stow-response';

const JSON_TYPE = 'application/dicom+json; charset=utf-8';

const ref = (uid: string, extra: Record<string, unknown> = {}) => ({
  '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.88.34'] },
  '00081155': { vr: 'UI', Value: [uid] },
  '00081190': { vr: 'UR', Value: [`http://pacs/dicom-web/studies/1/series/2/instances/${uid}`] },
  ...extra,
});

test('202 with a Failed SOP Sequence: failed, stored, warned and unlisted instances each get their own outcome', () => {
  const body = Buffer.from(
    JSON.stringify({
      '00081190': { vr: 'UR', Value: ['http://pacs/dicom-web/studies/1'] },
      '00081198': {
        vr: 'SQ',
        Value: [
          { '00081155': { vr: 'UI', Value: ['1.2.3.2'] }, '00081197': { vr: 'US', Value: [0xa700] } },
          { '00081155': { vr: 'UI', Value: ['1.2.3.5'] } }, // no reason given
          { '00081155': { vr: 'UI', Value: ['1.2.3.6'] }, '00081197': { vr: 'US', Value: [0] } }, // "0" is no success here
        ],
      },
      '00081199': { vr: 'SQ', Value: [ref('1.2.3.1'), ref('1.2.3.3', { '00081196': { vr: 'US', Value: [0xb000] } })] },
    }),
  );
  const out = parseStowResponse(202, JSON_TYPE, body, ['1.2.3.1', '1.2.3.2', '1.2.3.3', '1.2.3.4', '1.2.3.5', '1.2.3.6']);
  assert.deepEqual(
    out.map((o) => [o.sopInstanceUid, o.status, isSuccessOrWarning(o.status)]),
    [
      ['1.2.3.1', 0, true],
      ['1.2.3.2', 0xa700, false],
      ['1.2.3.3', 0xb000, true],
      ['1.2.3.4', null, false],
      ['1.2.3.5', 0x0110, false],
      ['1.2.3.6', 0x0110, false],
    ],
  );
  assert.match(out[1]!.error ?? '', /Failure Reason 0xa700 \(out of resources\)/);
  assert.match(out[3]!.error ?? '', /not listed .*HTTP 202/);
});

test('409 with every instance failed, as an array-wrapped data set', () => {
  const body = Buffer.from(
    JSON.stringify([
      { '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['9.9'] }, '00081197': { vr: 'US', Value: [0x0122] } }] } },
    ]),
  );
  const [o] = parseStowResponse(409, 'application/dicom+json', body, ['9.9']);
  assert.equal(o?.status, 0x0122);
  assert.match(o?.error ?? '', /SOP class not supported/);
});

test('200 means all stored even with an empty body; other statuses without a list fail the whole request in words', () => {
  assert.deepEqual(parseStowResponse(200, '', Buffer.alloc(0), ['1.2']), [{ sopInstanceUid: '1.2', status: 0 }]);
  const whole = (status: number, type: string, body: string) => {
    try {
      parseStowResponse(status, type, Buffer.from(body), ['1.2']);
    } catch (e) {
      assert.ok(e instanceof StowRequestError);
      assert.equal(e.httpStatus, status);
      return e.message;
    }
    assert.fail(`HTTP ${status} was read as per-instance outcomes`);
  };
  assert.match(whole(401, 'text/plain', 'Unauthorized'), /HTTP 401: .*credentials/);
  assert.match(whole(503, 'text/html', '<html>busy</html>'), /HTTP 503: .*try again/);
  assert.match(whole(400, 'application/dicom+json', '{not json'), /HTTP 400/);
  assert.match(whole(202, 'application/dicom+json', '{}'), /HTTP 202/, 'an empty data set lists nothing');
});
