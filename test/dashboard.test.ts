// The operator's dashboard at /ui/, over plain HTTP (fast): no page without a session, sign-in
// with the admin token (cookie flags, audit, rate limit), CSRF on every POST, DICOM strings escaped,
// a series view audited as patient record access, secrets masked. The browser run is
// dashboard-browser.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestNode, TestNode } from './helpers/node';
import { freePort } from './helpers/child-node';
import { SESSION_COOKIE } from '../src/admin/ui/dashboard';
import { esc, html } from '../src/admin/ui/html';

const TOKEN = 'dashboard-token-0123456789abcdef';
const EVIL = '<script>alert("pwned")</script>^<img src=x onerror=alert(1)>';
const SERIES = '2.25.1234.2';
let n: TestNode;

before(async () => {
  // A 2-hour session and 3 failed sign-ins per 10 minutes (admin.ui), not the defaults (8 h, 5 per 5 min).
  // One destination per protocol, nobody listening (their checks fail at once, with the reason).
  const closed = await freePort();
  n = await startTestNode({
    admin: { token: TOKEN, ui: { sessionHours: 2, signInAttempts: 3, signInWindowMinutes: 10 } },
    destinations: {
      PACS: { aeTitle: 'PACS', host: '127.0.0.1', port: closed },
      WEB: { protocol: 'dicomweb', url: `http://127.0.0.1:${closed}/dicom-web` },
    },
  });
  // An instance as ingest would index it, its patient name and description hostile markup.
  n.node.store.recordInstance(
    {
      sopInstanceUid: '2.25.1234.3.1',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      seriesInstanceUid: SERIES,
      studyInstanceUid: '2.25.1234.1',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      instanceNumber: 1,
      filePath: '/nonexistent/1.dcm',
      sizeBytes: 1000,
      callingAeTitle: 'MODALITY"><b>',
      callingHost: '127.0.0.1',
      associationId: 'a1',
      receivedAt: Date.now(),
    },
    { patientName: EVIL, patientId: 'ID<1>', modality: 'CT', seriesDescription: '<i>chest</i>', studyDate: '20260101' },
  );
});
after(async () => {
  await n.stop();
});

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(method: string, path: string, o: { cookie?: string; form?: Record<string, string> } = {}): Promise<Reply> {
  const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: n.node.adminPort,
        method,
        path,
        headers: {
          ...(o.cookie ? { Cookie: o.cookie } : {}),
          ...(body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const r = await request('POST', '/ui/sign-in', { form: { token: TOKEN } });
  assert.equal(r.status, 303);
  const set = String(r.headers['set-cookie']);
  const cookie = /^([^;]+)/.exec(set)![1]!;
  const page = await request('GET', '/ui/', { cookie });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  return { cookie, csrf };
}

test('html escapes every interpolated string; only Html passes through', () => {
  assert.equal(html`<p>${EVIL}</p>`.markup, `<p>${esc(EVIL)}</p>`);
  assert.ok(!html`<p>${EVIL}</p>`.markup.includes('<script'));
  assert.equal(html`<p>${html`<b>${'&'}</b>`}</p>`.markup, '<p><b>&amp;</b></p>');
  assert.equal(esc(`"'\`<>&`), '&quot;&#39;&#96;&lt;&gt;&amp;');
});

test('no page without a session: GETs go to the sign-in page, POSTs are refused', async () => {
  for (const path of ['/ui/', '/ui/series', `/ui/series/${SERIES}`, '/ui/audit', '/ui/config', '/ui/key-image/1']) {
    const r = await request('GET', path);
    assert.equal(r.status, 303, path);
    assert.equal(r.headers.location, '/ui/sign-in', path);
  }
  const forged = await request('GET', '/ui/', { cookie: `${SESSION_COOKIE}=not-a-session` });
  assert.equal(forged.status, 303);
  const p = await request('POST', '/ui/jobs/1/retry', { form: { csrf: 'x' } });
  assert.equal(p.status, 403);
  const page = await request('GET', '/ui/sign-in');
  assert.equal(page.status, 200);
  assert.match(page.body, /<input id="token" name="token" type="password"/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
});

test('sign-in: a wrong token is refused and audited; the right one gives an HttpOnly SameSite=Strict cookie with expiry', async () => {
  const bad = await request('POST', '/ui/sign-in', { form: { token: 'wrong-token-wrong-token' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['set-cookie'], undefined);
  const failures = n.node.store.queryAudit({ event: 'user-sign-in' }, 10).filter((e) => e.outcome === 'failure');
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.remoteAddress, '127.0.0.1');

  const good = await request('POST', '/ui/sign-in', { form: { token: TOKEN } });
  assert.equal(good.status, 303);
  assert.equal(good.headers.location, '/ui/');
  const set = String(good.headers['set-cookie']);
  assert.match(set, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{40,};`));
  assert.match(set, /; HttpOnly/);
  assert.match(set, /; SameSite=Strict/);
  assert.match(set, /; Max-Age=7200(;|$)/, 'admin.ui.sessionHours: 2');
  assert.match(set, /; Path=\/ui/);
  assert.doesNotMatch(set, /Secure/, 'plain HTTP: a Secure cookie would never come back');
  assert.equal(n.node.store.queryAudit({ event: 'user-sign-in' }, 10).filter((e) => e.outcome === 'success').length, 1);
});

test('DICOM strings render as text on the list and the series page; opening a series is audited', async () => {
  const { cookie } = await signIn();
  for (const path of ['/ui/series', `/ui/series/${SERIES}`]) {
    const r = await request('GET', path, { cookie });
    assert.equal(r.status, 200, path);
    assert.ok(r.body.includes(esc(EVIL)), `${path}: the name is shown, escaped`);
    assert.ok(!r.body.includes('<script'), `${path}: no script element`);
    assert.ok(!r.body.includes('<img src=x'), `${path}: no injected element`);
    assert.ok(!r.body.includes('<i>chest'), `${path}: description escaped`);
  }
  const list = await request('GET', '/ui/series', { cookie });
  assert.ok(list.body.includes('MODALITY&quot;&gt;&lt;b&gt;'), 'AE title escaped in text');
  const accessed = n.node.store.queryAudit({ event: 'patient-record-accessed' }, 10);
  assert.equal(accessed.length, 1);
  assert.equal(accessed[0]!.seriesInstanceUid, SERIES);
  assert.equal(accessed[0]!.studyInstanceUid, '2.25.1234.1');
  const filtered = await request('GET', '/ui/series?modality=MR', { cookie });
  assert.match(filtered.body, /0 series; page 1 of 1/);
  const audit = await request('GET', '/ui/audit?event=patient-record-accessed', { cookie });
  assert.match(audit.body, /patient-record-accessed/);
  assert.doesNotMatch(audit.body, /user-sign-in/);
});

test('every POST needs the session CSRF token', async () => {
  const { cookie, csrf } = await signIn();
  const none = await request('POST', '/ui/jobs/1/retry', { cookie, form: {} });
  assert.equal(none.status, 403);
  assert.match(none.body, /CSRF/);
  const wrong = await request('POST', '/ui/jobs/1/retry', { cookie, form: { csrf: csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') } });
  assert.equal(wrong.status, 403);
  const ok = await request('POST', '/ui/jobs/1/retry', { cookie, form: { csrf, back: '/ui/series' } });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.location, '/ui/series');
  const next = await request('GET', '/ui/series', { cookie });
  assert.match(next.body, /Job 1 was not retried: no job 1/, 'the outcome is shown once');
  const offsite = await request('POST', '/ui/jobs/1/retry', { cookie, form: { csrf, back: 'https://evil.example/' } });
  assert.equal(offsite.headers.location, '/ui/', 'never a redirect off the dashboard');
  const out = await request('POST', '/ui/sign-out', { cookie, form: { csrf } });
  assert.equal(out.status, 303);
  assert.equal((await request('GET', '/ui/', { cookie })).status, 303, 'signed out: the session is gone');
});

test("a finding's slice needs a session, and a job without a result gets a 404 with the reason, not an image", async () => {
  const anonymous = await request('GET', '/ui/jobs/1/findings/1.png');
  assert.equal(anonymous.status, 303);
  assert.equal(anonymous.headers.location, '/ui/sign-in');
  const { cookie } = await signIn();
  const before = n.node.store.queryAudit({ event: 'patient-record-accessed' }, 100).length;
  for (const path of ['/ui/jobs/999/findings/1.png', '/ui/jobs/999/findings/1']) {
    const r = await request('GET', path, { cookie });
    assert.equal(r.status, 404, path);
    assert.match(r.body, /job 999 has no result/);
  }
  assert.equal(n.node.store.queryAudit({ event: 'patient-record-accessed' }, 100).length, before, 'nothing shown, nothing audited');
});

test('the overview counts the last hour from the index and lists what needs attention', async () => {
  const now = Date.now();
  n.node.store.recordAssociation({
    id: 'bench-a',
    callingAeTitle: 'CT1',
    calledAeTitle: 'DICOM_AI',
    remoteAddress: '127.0.0.1',
    startedAt: now - 2000,
    endedAt: now - 1000,
    instances: 7,
    bytes: 7000,
    outcome: 'released',
  });
  n.node.store.recordAudit({ at: now, event: 'association-rejected', outcome: 'failure', callingAeTitle: 'STRANGER' });
  const { cookie } = await signIn();
  const r = await request('GET', '/ui/', { cookie });
  assert.equal(r.status, 200);
  assert.match(r.body, /Instances received: 7 \(0\.00\/s\) over the last hour/);
  assert.match(r.body, /aria-label="Instances received, per 5 minutes: (0, )*7(, 0)*"/);
  assert.match(r.body, /<a href="\/ui\/audit\?event=association-rejected">1 associations rejected/);
  assert.match(r.body, /DICOM_AI on plain port \d+/);
});

test('the configuration page masks the admin token', async () => {
  const { cookie } = await signIn();
  const r = await request('GET', '/ui/config', { cookie });
  assert.equal(r.status, 200);
  assert.ok(!r.body.includes(TOKEN));
  assert.match(r.body, /&quot;token&quot;: &quot;•+ \(set, not shown\)&quot;/);
  assert.match(r.body, /&quot;aeTitle&quot;: &quot;DICOM_AI&quot;/);
});

test('the destination check is worded by protocol: C-ECHO for DICOM, QIDO-RS check for DICOMweb, in the button and the outcome', async () => {
  const { cookie, csrf } = await signIn();
  const page = await request('GET', `/ui/series/${SERIES}`, { cookie });
  assert.match(page.body, /<button type="submit">\s*C-ECHO PACS\s*<\/button>/);
  assert.match(page.body, /<button type="submit">\s*QIDO-RS check WEB\s*<\/button>/);
  assert.doesNotMatch(page.body, /C-ECHO WEB/);
  const back = `/ui/series/${SERIES}`;
  for (const [name, wording] of [
    ['WEB', /QIDO-RS check WEB failed: .*ECONNREFUSED/],
    ['PACS', /C-ECHO PACS failed: /],
  ] as const) {
    const r = await request('POST', `/ui/destinations/${name}/echo`, { cookie, form: { csrf, back } });
    assert.equal(r.status, 303);
    assert.match((await request('GET', back, { cookie })).body, wording);
  }
  const echoed = n.node.store.queryAudit({ event: 'destination-echoed' }, 10);
  assert.ok(
    echoed.some((a) => /QIDO-RS check WEB failed/.test(a.detail ?? '')),
    'audited in the same words',
  );
});

test('sign-in failures are rate-limited per address: after admin.ui.signInAttempts (3), even the right token waits', async () => {
  // The failure above was forgiven by the sign-ins that followed it: three new ones.
  for (let i = 0; i < 3; i++) assert.equal((await request('POST', '/ui/sign-in', { form: { token: `wrong-${i}` } })).status, 401);
  const limited = await request('POST', '/ui/sign-in', { form: { token: TOKEN } });
  assert.equal(limited.status, 429);
  const retryAfter = Number(limited.headers['retry-after']);
  assert.ok(retryAfter > 9 * 60 && retryAfter <= 10 * 60, `waits out the 10-minute window (Retry-After ${retryAfter} s)`);
  assert.equal(limited.headers['set-cookie'], undefined);
  assert.ok(n.node.store.queryAudit({ event: 'user-sign-in' }, 20).some((e) => /too many failed attempts/.test(e.detail ?? '')));
});
