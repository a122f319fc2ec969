// The admin/metrics HTTP endpoint, for hospital IT and their monitoring: health and readiness
// (no auth, for load balancers and Docker), Prometheus metrics and a JSON API (bearer token).
// Bound to 127.0.0.1 by default; it never returns patient names or IDs.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log/logger';
import { LogThrottle } from '../log/throttle';
import type { JobFilter, SeriesCursor } from '../store/store';
import { encodeCursor, seriesPageRequest } from './series-page';
import { encodeJobCursor, jobsPageRequest } from './jobs-page';

export interface AdminSources {
  /** Checks for /readyz: name → ok and a word on why not. */
  readiness: () => { name: string; ok: boolean; detail?: string }[];
  metrics: () => string;
  /** One page of series, newest first (see series-page.ts). */
  series: (limit: number, after?: SeriesCursor) => { series: unknown[]; next: SeriesCursor | null };
  audit: (limit: number) => unknown[];
  /** One page of jobs, newest first, optionally filtered (see jobs-page.ts). */
  jobs: (limit: number, filter: JobFilter, afterId?: number) => { jobs: unknown[]; next: number | null };
  models: () => readonly unknown[];
  retryJob: (id: number) => { job: unknown } | { error: string };
}

export interface AdminOptions {
  host: string;
  port: number;
  token: string | null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The operator's dashboard (src/admin/ui/), mounted at /ui/: it does its own sessions and errors. */
export interface UiHandler {
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void>;
}

export class AdminServer {
  private server: http.Server | null = null;

  constructor(
    private readonly o: AdminOptions,
    private readonly src: AdminSources,
    private readonly log: Logger,
    private readonly ui: UiHandler | null = null,
  ) {}

  async start(): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (e) {
        this.log.error('admin request failed', { path: req.url?.split('?')[0], error: (e as Error).message });
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
      }
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.o.port, host: this.o.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listen(), an 'error' without a listener (EMFILE on accept) would end the process.
    const errors = new LogThrottle(60_000);
    server.on('error', (e: NodeJS.ErrnoException) => {
      const t = errors.take(e.code ?? 'unknown');
      if (t.log)
        this.log.error('admin HTTP endpoint could not accept a connection; it keeps listening', {
          code: e.code,
          error: e.message,
          heldBack: t.heldBack,
        });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.log.info('admin HTTP endpoint listening', { host: addr.address, port: addr.port, tokenConfigured: this.o.token !== null });
    return addr;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (this.o.token === null) return false;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    // Compare digests in constant time: the token's length and content leak nothing.
    return m !== null && timingSafeEqual(digest(m[1]!), digest(this.o.token));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /healthz') return send(res, 200, { status: 'ok' });
    if (route === 'GET /readyz') {
      const checks = this.src.readiness();
      const ready = checks.every((c) => c.ok);
      // Anyone may ask whether the node is ready (load balancers, probes); only an operator with
      // the token gets the details, which can carry internals (a database error's text, paths).
      const shown = this.authorized(req) ? checks : checks.map(({ name, ok }) => ({ name, ok }));
      return send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks: shown });
    }
    if (this.ui && (url.pathname === '/ui' || url.pathname.startsWith('/ui/'))) {
      void this.ui.handle(req, res, url);
      return;
    }
    const known = ['GET /metrics', 'GET /api/series', 'GET /api/audit', 'GET /api/jobs', 'GET /api/models'];
    const retry = req.method === 'POST' ? /^\/api\/jobs\/(\d+)\/retry$/.exec(url.pathname) : null;
    if (!known.includes(route) && !retry) return send(res, 404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
    if (!this.authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="dicom-ai-node"');
      const why = this.o.token === null ? 'no admin token is configured (admin.token or admin.tokenEnv)' : 'missing or wrong bearer token';
      return send(res, 401, { error: why });
    }
    if (retry) {
      const r = this.src.retryJob(Number(retry[1]));
      if ('error' in r) return send(res, /^no job/.test(r.error) ? 404 : 409, r);
      this.log.info('job retried by an operator', { job: Number(retry[1]) });
      return send(res, 200, r);
    }
    if (route === 'GET /metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(this.src.metrics());
      return;
    }
    if (route === 'GET /api/audit') {
      const limit = Math.min(10_000, Math.max(1, Number(url.searchParams.get('limit') ?? 1000) || 1000));
      return send(res, 200, { events: this.src.audit(limit) });
    }
    if (route === 'GET /api/jobs') {
      const jobsPage = jobsPageRequest(url.searchParams);
      if ('error' in jobsPage) return send(res, 400, { error: jobsPage.error });
      const { jobs, next } = this.src.jobs(jobsPage.limit, jobsPage.filter, jobsPage.afterId);
      return send(res, 200, { jobs, next: next === null ? null : encodeJobCursor(next) });
    }
    if (route === 'GET /api/models') return send(res, 200, { models: this.src.models() });
    const page = seriesPageRequest(url.searchParams);
    if ('error' in page) return send(res, 400, { error: page.error });
    const { series, next } = this.src.series(page.limit, page.after);
    return send(res, 200, { series, next: next ? encodeCursor(next) : null });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}
