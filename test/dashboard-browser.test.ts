/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core), one session end to
 * end: a page without a session shows the sign-in form; sign in; a chest-CT phantom (its patient
 * name hostile markup) pushed with storescu walks its timeline; the PACS (Orthanc) is down, so both
 * deliveries fail and show as failed; Orthanc comes up, "Retry" delivers them; the key image loads,
 * the SR view shows the nodule's diameter; each finding's slice (the original image, outlined) loads
 * and matches the key image; a POST without the CSRF token is refused; no page logs a console
 * error or opens a dialog; axe-core finds no serious or critical accessibility violation on any page. Every page is screenshotted (DASHBOARD_SCREENSHOTS=folder keeps
 * them; otherwise a temporary folder, printed).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
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

/**
 * axe-core's WCAG 2.1 A/AA rules and best practices on the page as shown; serious and critical
 * violations are test failures. Injected with page.evaluate (DevTools evaluation, which the pages'
 * CSP does not govern), so nothing is relaxed: the pages still run no script of their own.
 */
const AXE_SOURCE = fs.readFileSync(path.join(PROJECT_ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}
async function checkAccessibility(page: Page, name: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const { violations, passed } = await page.evaluate(async (): Promise<{ violations: AxeViolation[]; passed: number }> => {
    type Axe = {
      run(
        context: unknown,
        options: unknown,
      ): Promise<{ passes: unknown[]; violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }>;
    };
    const axe = (globalThis as unknown as { axe: Axe }).axe;
    const r = await axe.run('html', { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return {
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => String(n.target)) })),
      passed: r.passes.length,
    };
  });
  // Rules that passed: axe really ran on the page (an empty result from a failed injection is no proof).
  assert.ok(passed > 10, `axe ran on ${name} (${passed} rules passed)`);
  accessibilityChecked.push(name);
  for (const v of violations)
    if (v.impact === 'serious' || v.impact === 'critical')
      problems.push(`axe on ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.targets.slice(0, 3).join(', ')}`);
    else minorAccessibility.push(`${name}: ${v.impact ?? '?'} ${v.id}`);
}
const accessibilityChecked: string[] = [];
/** Moderate and minor findings: reported, not failures. */
const minorAccessibility: string[] = [];

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
  await checkAccessibility(page, 'sign-in');
  await page.fill('#token', TOKEN);
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click('button[type=submit]')]);
  assert.equal(await page.textContent('h1'), 'Overview');
  const signedInAt = Date.now();

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
  await checkAccessibility(page, 'series (failed deliveries)');

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

  // Every finding's slice on request: the original instance's frame, windowed as the route's key
  // image and outlined the same way. For the phantom (axial, untilted: the volume is the source
  // grid) the first finding's slice is the key image, drawn by another path (worker, de-identified
  // copy, volume): the two must agree.
  const sliceLinks = page.locator('a', { hasText: /^Slice of finding \d+$/ });
  assert.equal(await sliceLinks.count(), result.findings.filter((f) => f.region).length, 'one slice link per located finding');
  const firstHref = await page.locator(`a[href="/ui/jobs/${job.id}/findings/${result.findings[0]!.id}"]`).getAttribute('href');
  assert.ok(firstHref, 'the most confident finding links its slice');
  const keyPng = await page.request.get(`${base}/ui/key-image/${job.id}`);
  const slicePng = await page.request.get(`${base}${firstHref}.png`);
  assert.equal(slicePng.status(), 200);
  assert.equal(slicePng.headers()['content-type'], 'image/png');
  const raw = async (png: Buffer) => sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const key = await raw(await keyPng.body());
  const slice = await raw(await slicePng.body());
  assert.deepEqual([slice.info.width, slice.info.height, slice.info.channels], [key.info.width, key.info.height, 3]);
  let differing = 0;
  let yellow = 0;
  for (let i = 0; i < slice.data.length; i += 3) {
    if (Math.abs(slice.data[i]! - key.data[i]!) > 1 || Math.abs(slice.data[i + 2]! - key.data[i + 2]!) > 1) differing++;
    if (slice.data[i] === 255 && slice.data[i + 1] === 220 && slice.data[i + 2] === 0) yellow++;
  }
  assert.ok(yellow > 50, `the finding is outlined (${yellow} outline pixels)`);
  assert.equal(differing, 0, 'the slice from the original equals the key image from the de-identified volume');
  await Promise.all([page.waitForURL(`**${firstHref}`), page.locator(`a[href="${firstHref}"]`).click()]);
  assert.ok(
    (await page
      .locator('img')
      .first()
      .evaluate((e) => (e as unknown as { naturalWidth: number }).naturalWidth)) > 0,
    'the browser shows the slice',
  );
  assert.match(await page.locator('main').innerText(), /Diameter [\d.]+ mm/);
  await shoot('finding');
  await checkAccessibility(page, 'finding');
  await page.goBack();
  const sliceAudit = n.node.store
    .queryAudit({ event: 'patient-record-accessed' }, 50)
    .filter((e) => /slice of finding/.test(e.detail ?? ''));
  assert.ok(sliceAudit.length >= 2 && sliceAudit.every((e) => e.seriesInstanceUid === p.seriesInstanceUid && e.at >= signedInAt));

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
  await checkAccessibility(page, 'series (delivered)');

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
    await checkAccessibility(page, name);
    if (name === 'audit') {
      const audit = await page.locator('main').innerText();
      for (const event of ['user-sign-in', 'patient-record-accessed', 'delivery-retried', 'destination-echoed'])
        assert.ok(audit.includes(event), `the audit page lists ${event}`);
    }
  }

  await Promise.all([page.waitForURL(`${base}/ui/sign-in`), page.click('button:has-text("Sign out")')]);
  await page.goto(`${base}/ui/`);
  assert.equal(new URL(page.url()).pathname, '/ui/sign-in', 'signed out: back to the sign-in page');

  assert.equal(accessibilityChecked.length, 9, `axe ran on every page: ${accessibilityChecked.join(', ')}`);
  assert.deepEqual(problems, []);
  const kept = process.env.DASHBOARD_SCREENSHOTS !== undefined || process.env.DICOM_AI_KEEP_TMP === '1';
  t.diagnostic(`screenshots: ${shots}${kept ? '' : ' (removed at exit: DASHBOARD_SCREENSHOTS=DIR or DICOM_AI_KEEP_TMP=1 keeps them)'}`);
  t.diagnostic(`axe, moderate or minor: ${minorAccessibility.length === 0 ? 'none' : minorAccessibility.join('; ')}`);
});
