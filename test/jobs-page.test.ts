// GET /api/jobs is paged like /api/series (issue 13): newest first, `limit` (default 100, at most
// 1000), a keyset cursor in `next`, and the filters `state` and `series`. Through the real admin
// server over loopback, on a store of its own (no DICOM node needed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { tmpDir } from './helpers/env';
import { Store, type JobListRow, type RoutedJob } from '../src/store/store';
import { AdminServer } from '../src/admin/server';
import { createLogger } from '../src/log/logger';

const TOKEN = 'test-token-0123456789abcdef';
const ROOT = '1.2.826.0.1.3680043.10.17';
let store: Store;
let admin: AdminServer;
let port: number;

/** Indexes one instance of series `k`, so that jobs can refer to the series. */
function indexSeries(k: number): string {
  const series = `${ROOT}.2.${k}`;
  store.recordInstance(
    {
      sopInstanceUid: `${series}.1`,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      seriesInstanceUid: series,
      studyInstanceUid: `${ROOT}.1.${k}`,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      instanceNumber: 1,
      filePath: `/nonexistent/${k}.dcm`,
      sizeBytes: 1,
      callingAeTitle: 'SCU',
      callingHost: '127.0.0.1',
      associationId: `a${k}`,
      receivedAt: k,
    },
    { modality: 'CT' },
  );
  return series;
}

/** Series `k` routed to `routes` routes (one job each), all queued. */
function routeSeries(k: number, routes: number, now: number, model = 'm1'): JobListRow[] {
  const series = indexSeries(k);
  const jobs: RoutedJob[] = Array.from({ length: routes }, (_, r) => ({
    route: `route-${r}`,
    model,
    priority: r === 0 ? 'urgent' : 'normal',
    state: 'queued',
    reason: null,
    burnedInFlag: null,
  }));
  store.recordRouting(series, jobs, '', now);
  return store.listJobs(series);
}

function get(p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function page(query: string): Promise<{ jobs: JobListRow[]; next: string | null }> {
  const r = await get(`/api/jobs${query}`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as { jobs: JobListRow[]; next: string | null };
}

before(async () => {
  store = new Store(path.join(tmpDir('jobs-page'), 'db.sqlite'), { durableFiles: false });
  // 40 series x 3 routes = 120 jobs; every fifth series' jobs failed.
  for (let k = 0; k < 40; k++) {
    routeSeries(k, 3, 1000 + k, k % 5 === 0 ? 'm-fails' : 'm1');
  }
  for (let j = store.claimNextJob(['m-fails'], new Set(), 2000); j; j = store.claimNextJob(['m-fails'], new Set(), 2000))
    store.finishJob(j.id, 'failed', `model failed on ${j.route}`, 2000);
  admin = new AdminServer(
    { host: '127.0.0.1', port: 0, token: TOKEN },
    {
      readiness: () => [],
      metrics: () => '',
      series: (limit, after) => store.listSeriesPage(limit, after),
      audit: () => [],
      jobs: (limit, filter, afterId) => store.listJobsPage(limit, filter, afterId),
      models: () => [],
      retryJob: () => ({ error: 'not here' }),
    },
    createLogger({ level: 'error', silentConsole: true }),
  );
  port = (await admin.start()).port;
});

after(async () => {
  await admin.stop();
  store.close();
});

test('/api/jobs: newest first, 100 by default; paging visits every job once, and jobs made meanwhile shift nothing', async () => {
  const all = store.listJobs().map((j) => j.id);
  assert.equal(all.length, 120);
  const first = await page('');
  assert.equal(first.jobs.length, 100, 'the default limit is 100');
  assert.ok(first.next, 'more than one page');
  const ids = first.jobs.map((j) => j.id);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => b - a),
    'newest (highest id) first',
  );
  assert.equal(ids[0], Math.max(...all));

  // Page through in sevens; between pages the node routes new series (new jobs) and finishes old ones.
  const seen: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  const added: number[] = [];
  do {
    const p = await page(`?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
    assert.ok(p.jobs.length <= 7);
    seen.push(...p.jobs.map((j) => j.id));
    cursor = p.next;
    if (pages++ < 3) {
      added.push(...routeSeries(100 + pages, 2, 5000 + pages).map((j) => j.id));
      const running = store.claimNextJob(['m1'], new Set(), 6000)!;
      store.finishJob(running.id, 'done', null, 6000);
    }
  } while (cursor);
  assert.equal(pages, Math.ceil(120 / 7), 'the new jobs did not add pages to a paging already under way');
  assert.equal(new Set(seen).size, seen.length, 'no job twice');
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    [...all].sort((a, b) => a - b),
    'every job that existed, once',
  );
  assert.ok(
    added.every((id) => !seen.includes(id)),
    'jobs made while paging are not slipped into later pages',
  );
  // A fresh first page has them on top.
  const fresh = await page('?limit=6');
  assert.deepEqual(new Set(fresh.jobs.map((j) => j.id)), new Set(added));
});

test('/api/jobs?state= and ?series= page only their jobs, with the low-confidence column', async () => {
  const failed = store.listJobs().filter((j) => j.state === 'failed');
  assert.equal(failed.length, 24);
  const got: JobListRow[] = [];
  let cursor: string | null = null;
  do {
    const p = await page(`?state=failed&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
    got.push(...p.jobs);
    cursor = p.next;
  } while (cursor);
  assert.deepEqual(
    got.map((j) => j.id),
    failed.map((j) => j.id).sort((a, b) => b - a),
  );
  assert.ok(got.every((j) => j.state === 'failed' && /^model failed on route-\d$/.test(j.reason ?? '')));
  assert.ok(got.every((j) => 'lowConfidence' in j && j.lowConfidence === null));

  const series = `${ROOT}.2.7`;
  const one = await page(`?series=${series}&limit=2`);
  assert.equal(one.jobs.length, 2);
  assert.ok(one.next);
  const rest = await page(`?series=${series}&limit=2&cursor=${one.next}`);
  assert.equal(rest.next, null, 'the last page says so');
  assert.deepEqual(
    [...one.jobs, ...rest.jobs].map((j) => j.route),
    ['route-2', 'route-1', 'route-0'],
  );
  assert.deepEqual((await page(`?series=${series}&state=failed`)).jobs, [], 'both filters at once');
  assert.equal((await page('?limit=1000')).jobs.length, 126, 'limit 1000 is allowed; 120 + the 6 made while paging');
});

test('/api/jobs says why a limit, state, series or cursor is refused', async () => {
  for (const [query, why] of [
    ['?limit=0', /limit must be a whole number from 1 to 1000 \(got "0"\)/],
    ['?limit=1001', /limit must be a whole number from 1 to 1000/],
    ['?limit=ten', /limit must be a whole number/],
    ['?state=finished', /state must be one of queued, unrouted, processing, done, failed, skipped \(got "finished"\)/],
    ['?series=1.2.3%27%20OR%201%3D1', /series must be a Series Instance UID/],
    ['?cursor=not-a-cursor', /cursor is not one this node gave out/],
    // A /api/series cursor is not a jobs cursor.
    [`?cursor=${Buffer.from(JSON.stringify([1, '1.2.3'])).toString('base64url')}`, /cursor is not one this node gave out/],
  ] as const) {
    const r = await get(`/api/jobs${query}`);
    assert.equal(r.status, 400, query);
    assert.match((JSON.parse(r.body) as { error: string }).error, why, query);
  }
});
