// How long the dashboard takes to render each page with 10,000 series in the index (issue 15:
// under 300 ms each). Fills the index through the Store API (one instance per series, a job per
// series, a report and a delivery for every tenth, audit events), signs in over HTTP, and times
// each page several times. Prints numbers; asserts nothing.
//   npm run bench:dashboard [-- --series N]
import http from 'node:http';
import { startTestNode } from '../test/helpers/node';

const SERIES = Number(process.argv[process.argv.indexOf('--series') + 1]) || 10_000;
const TOKEN = 'bench-dashboard-token-0123456789';
const RUNS = 15;

function request(
  port: number,
  method: string,
  path: string,
  cookie?: string,
  form?: string,
): Promise<{ status: number; ms: number; headers: http.IncomingHttpHeaders; bytes: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: {
          ...(cookie ? { Cookie: cookie } : {}),
          ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(form) } : {}),
        },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - t0) / 1e6, headers: res.headers, bytes }),
        );
      },
    );
    req.on('error', reject);
    req.end(form);
  });
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

async function main(): Promise<void> {
  const n = await startTestNode({ admin: { token: TOKEN } });
  const s = n.node.store;
  const t0 = Date.now();
  const now = Date.now();
  for (let i = 0; i < SERIES; i++) {
    const series = `2.25.777.${i}.2`;
    s.recordInstance(
      {
        sopInstanceUid: `2.25.777.${i}.3.1`,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
        seriesInstanceUid: series,
        studyInstanceUid: `2.25.777.${i}.1`,
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        instanceNumber: 1,
        filePath: `/bench/${i}.dcm`,
        sizeBytes: 524_288,
        callingAeTitle: i % 3 === 0 ? 'CT_SCANNER' : 'MR_SCANNER',
        callingHost: '127.0.0.1',
        associationId: `a${i}`,
        receivedAt: now - (SERIES - i) * 1000,
      },
      {
        patientName: `BENCH^PATIENT^${i}`,
        patientId: `ID${i}`,
        modality: i % 3 === 0 ? 'CT' : 'MR',
        seriesDescription: `series ${i}`,
        studyDate: '20260101',
      },
    );
    // Every tenth series has a finished job with a report and a delivery (its own model name, so
    // that claiming takes exactly that job: the store marks only a processing job done).
    const reported = i % 10 === 0;
    s.recordRouting(
      series,
      [{ route: 'r', model: reported ? 'm-reported' : 'm', priority: 'normal', state: 'queued', reason: null, burnedInFlag: null }],
      '',
      now,
    );
    const job = reported ? s.claimNextJob(['m-reported'], new Set(), now) : undefined;
    if (job) {
      const sop = `2.25.777.${i}.5`;
      s.recordReportAndDeliveries(
        job.id,
        [
          {
            sopInstanceUid: sop,
            sopClassUid: '1.2.840.10008.5.1.4.1.1.88.34',
            form: 'comprehensive3d',
            seriesInstanceUid: series,
            model: 'm',
            modelVersion: '1',
            revision: 1,
            instancesHash: 'h',
            srSeriesInstanceUid: `2.25.777.${i}.4`,
            jobId: job.id,
            resultId: 0,
            filePath: '/bench/sr.dcm',
          },
        ],
        [
          {
            sopInstanceUid: sop,
            sopClassUid: '1.2.840.10008.5.1.4.1.1.88.34',
            filePath: '/bench/sr.dcm',
            destination: 'PACS',
            alternatives: [],
          },
        ],
        now,
      );
    }
    s.recordAudit({
      at: now - i,
      event: 'instances-received',
      outcome: 'success',
      callingAeTitle: 'CT_SCANNER',
      seriesInstanceUid: series,
      instances: 1,
    });
  }
  s.markStableSeries(now, now);
  const fill = Date.now() - t0;
  const port = n.node.adminPort;
  const signIn = await request(port, 'POST', '/ui/sign-in', undefined, `token=${TOKEN}`);
  const cookie = /^([^;]+)/.exec(String(signIn.headers['set-cookie']))![1]!;
  const pages = [
    '/ui/',
    '/ui/series',
    `/ui/series?page=${Math.floor(SERIES / 50 / 2)}`,
    '/ui/series?modality=CT&state=done',
    `/ui/series?ae=CT_SCANNER&day=${today()}`,
    `/ui/series/2.25.777.${SERIES - 10}.2`,
    '/ui/deliveries?state=queued',
    '/ui/audit',
    '/ui/audit?event=instances-received&ae=CT_SCANNER',
    '/ui/config',
  ];
  process.stdout.write(`dashboard pages, ${SERIES} series in the index (filled in ${fill} ms); ${RUNS} runs each, ms\n`);
  process.stdout.write(`${'page'.padEnd(48)} ${'median'.padStart(8)} ${'p95'.padStart(8)} ${'max'.padStart(8)} ${'KiB'.padStart(6)}\n`);
  for (const p of pages) {
    const times: number[] = [];
    let bytes = 0;
    for (let r = 0; r < RUNS; r++) {
      const res = await request(port, 'GET', p, cookie);
      if (res.status !== 200) throw new Error(`${p}: HTTP ${res.status}`);
      times.push(res.ms);
      bytes = res.bytes;
    }
    times.sort((a, b) => a - b);
    const q = (f: number) => times[Math.min(times.length - 1, Math.floor(f * times.length))]!;
    process.stdout.write(
      `${p.padEnd(48)} ${q(0.5).toFixed(1).padStart(8)} ${q(0.95).toFixed(1).padStart(8)} ${times[times.length - 1]!.toFixed(1).padStart(8)} ${(bytes / 1024).toFixed(0).padStart(6)}\n`,
    );
  }
  await n.stop();
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
