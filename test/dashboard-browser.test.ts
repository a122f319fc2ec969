/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core), one session end to
 * end: a page without a session shows the sign-in form; sign in; a chest-CT phantom (its patient
 * name hostile markup) pushed with storescu walks its timeline; the PACS (Orthanc) is down, so both
 * deliveries fail and show as failed; Orthanc comes up, "Retry" delivers them; the key image loads,
 * the SR view shows the nodule's diameter; a POST without the CSRF token is refused; no page logs
 * a console error or opens a dialog. Every page is screenshotted (DASHBOARD_SCREENSHOTS=folder keeps
 * them; otherwise a temporary folder, printed).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startTestNode, TestNode, waitFor } from './helpers/node';
import { OrthancPacs } from './helpers/orthanc';
import { PROJECT_ROOT, tmpDir } from './helpers/env';
import { run } from './helpers/run';
import { writeChestPhantom } from '../fixtures/chest-phantom';
import { newUidRoot } from '../fixtures/synthetic-ct';
import type { SeriesResult } from '../src/inference/findings';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-test-token-0123456789';
const HOSTILE_NAME = '<script>alert(1)</script>^<img src=x onerror=alert(2)>';
const skip = !fs.existsSync(CHROMIUM) ? `${CHROMIUM} is not installed` : false;

let pacs: OrthancPacs;
let n: TestNode;
let context: BrowserContext;
const problems: string[] = [];

before(async () => {
  if (skip) return;
  // Created (ports chosen) but not started: the PACS is down when the report is ready.
  pacs = await OrthancPacs.create({ node: ['DICOM_AI', '127.0.0.1', 104] });
  n = await startTestNode({
    admin: { token: TOKEN },
    series: { stableSeconds: 1 },
    inference: { modelsDir: path.join(PROJECT_ROOT, 'models'), providers: ['cpu'] },
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: pacs.dicomPort } },
    routes: [{ name: 'chest-ct', match: { Modality: 'CT' }, model: 'lung-nodule-reference', destinations: ['PACS'], keyImage: true }],
    delivery: { backoffSeconds: 1, backoffCapSeconds: 1, maxAttempts: 2 },
  });
  context = await chromium.launchPersistentContext(tmpDir('chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await context?.close();
  await n?.stop();
  await pacs?.stop();
});

/** Every console error, uncaught exception and dialog of a page is a test failure. */
function watch(page: Page): void {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught exception on ${page.url()}: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`a dialog opened on ${page.url()}: ${d.message()}`);
    void d.dismiss();
  });
}

/** Clicks a form's button and waits for the page the POST redirects to (same URL: waitForURL would not wait). */
async function clickAndLoad(page: Page, button: ReturnType<Page['locator']>): Promise<void> {
  const loaded = page.waitForResponse((r) => r.request().method() === 'GET' && r.request().resourceType() === 'document');
  await button.click();
  await loaded;
  await page.waitForLoadState('load');
}

test('the dashboard, end to end in chromium: sign-in, timeline, failed delivery retried, key image, report', { skip }, async (t) => {
  const base = `http://127.0.0.1:${n.node.adminPort}`;
  const shots = process.env.DASHBOARD_SCREENSHOTS ?? tmpDir('dashboard-screenshots');
  fs.mkdirSync(shots, { recursive: true });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.setViewportSize({ width: 1280, height: 900 });
  watch(page);
  const shoot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

  // No session: the sign-in page, whatever was asked for.
  await page.goto(`${base}/ui/series`);
  assert.equal(new URL(page.url()).pathname, '/ui/sign-in');
  await shoot('sign-in');
  await page.fill('#token', TOKEN);
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click('button[type=submit]')]);
  assert.equal(await page.textContent('h1'), 'Overview');

  // A modality sends a chest CT; the PACS is down.
  const p = writeChestPhantom({ outDir: tmpDir('phantom'), seed: 11, uidRoot: newUidRoot(), slices: 100, patient: { name: HOSTILE_NAME } });
  const r = await run('storescu', ['-aet', 'STORESCU', '-aec', 'DICOM_AI', '127.0.0.1', String(n.port), ...p.files], {
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, `storescu failed: ${r.stderr}${r.stdout}`);

  await page.goto(`${base}/ui/series`);
  const link = page.locator(`a[href="/ui/series/${p.seriesInstanceUid}"]`);
  assert.equal(await link.count(), 1, 'the series is listed');
  assert.equal(await page.locator('td', { hasText: '<script>alert(1)</script>' }).count(), 1, 'the hostile name shows as text');
  await Promise.all([page.waitForURL(`**/ui/series/${p.seriesInstanceUid}`), link.click()]);
  assert.match(await page.locator('ol.timeline').innerText(), /Received\s+100 instance\(s\).*from STORESCU/s);

  // The job runs, the SR and key image are written, both deliveries fail (PACS down, 2 attempts).
  await waitFor(
    () => {
      const d = n.node.store.listDeliveries();
      return d.length === 2 && d.every((x) => x.state === 'failed');
    },
    240_000,
    'the job done and both deliveries failed',
  );
  await page.reload();
  const timeline = page.locator('ol.timeline');
  assert.match(await timeline.innerText(), /Stable\s+stable/);
  assert.match(await timeline.innerText(), /route chest-ct → lung-nodule-reference/);
  assert.match(await timeline.innerText(), /Job \d+: lung-nodule-reference\s+done/);
  assert.equal(await timeline.locator('td .badge', { hasText: 'failed' }).count(), 2, 'both deliveries show as failed');
  await shoot('series-failed-delivery');

  // The key image loads; the SR shows the most confident nodule's diameter.
  const img = page.locator('.keyimage img');
  assert.ok(
    (await img.evaluate((e) => {
      const i = e as unknown as { complete: boolean; naturalWidth: number };
      return i.complete ? i.naturalWidth : 0;
    })) > 0,
    'the key image loaded',
  );
  const job = n.node.store.listJobs(p.seriesInstanceUid).find((j) => j.state === 'done')!;
  const result = JSON.parse(n.node.store.latestResult(job.id)!.resultJson) as SeriesResult;
  const diameter = result.findings[0]!.measurements.find((m) => m.key === 'diameterMm')!.value;
  const report = await page.locator('article.report').innerText();
  const shown = [...report.matchAll(/Diameter:\s*([\d.]+)\s*mm/g)].map((m) => Number(m[1]));
  assert.ok(
    shown.some((v) => Math.abs(v - diameter) < 0.05),
    `the SR view shows the diameter ${diameter.toFixed(2)} mm (shown: ${shown.join(', ')})`,
  );

  // The PACS is up again: "Retry" on each failed delivery delivers it.
  await pacs.start();
  for (let i = 0; i < 2; i++) {
    const retry = page.locator('button', { hasText: /Retry delivery \d+/ }).first();
    await clickAndLoad(page, retry);
    assert.match(await page.locator('.notice').innerText(), /Delivery \d+ is queued again/);
  }
  await waitFor(() => n.node.store.listDeliveries().every((x) => x.state === 'delivered'), 60_000, 'both deliveries delivered');
  await page.reload();
  assert.equal(await page.locator('ol.timeline td .badge', { hasText: 'delivered' }).count(), 2);
  assert.match(await timeline.innerText(), /delivery-retried/, 'the operator action is in the timeline');
  assert.equal((await pacs.seriesOfStudy(p.studyInstanceUid)).length, 2, 'the SR and the key image series are in the PACS');
  await shoot('series');

  // C-ECHO from the page, audited.
  await clickAndLoad(page, page.locator('button', { hasText: 'C-ECHO PACS' }));
  assert.match(await page.locator('.notice').innerText(), /C-ECHO PACS: success/);

  // A POST without the CSRF token is refused, even with the session cookie.
  const forged = await page.request.post(`${base}/ui/jobs/${job.id}/retry`, { form: { back: '/ui/' }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);

  for (const [name, url] of [
    ['overview', '/ui/'],
    ['series-list', '/ui/series'],
    ['deliveries', '/ui/deliveries?state=delivered'],
    ['audit', '/ui/audit'],
    ['config', '/ui/config'],
  ] as const) {
    const res = await page.goto(`${base}${url}`);
    assert.equal(res?.status(), 200, url);
    await shoot(name);
    if (name === 'audit') {
      const audit = await page.locator('main').innerText();
      for (const event of ['user-sign-in', 'patient-record-accessed', 'delivery-retried', 'destination-echoed'])
        assert.ok(audit.includes(event), `the audit page lists ${event}`);
    }
  }

  await Promise.all([page.waitForURL(`${base}/ui/sign-in`), page.click('button:has-text("Sign out")')]);
  await page.goto(`${base}/ui/`);
  assert.equal(new URL(page.url()).pathname, '/ui/sign-in', 'signed out: back to the sign-in page');

  assert.deepEqual(problems, []);
  t.diagnostic(`screenshots: ${shots}`);
});
