// The operator's dashboard at /ui/ on the admin endpoint: server-rendered pages, no script, no
// build step. Every page needs a session (sign-in with the admin token); every POST needs the
// session's CSRF token; sign-in failures are rate-limited and audited; opening a series (patient
// data) is audited as IHE ATNA "Patient Record" access.

import fs from 'node:fs';
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../log/logger';
import { esc, type Html } from './html';
import { layout, signInPage, STYLE, type PostContext } from './layout';
import { csrfMatches, type Session, Sessions, SignInLimiter } from './sessions';
import type { DashboardSources } from './sources';
import { renderFindingSlice } from './finding-slice';
import type { Finding, ImageRegion, SeriesResult } from '../../inference/findings';
import type { JobRow } from '../../store/store';
import { findingPage } from './pages/finding';
import { pixelLimitsFromMegabytes } from '../../dicom/pixel-budget';
import { echoLabel } from '../../delivery/echo-destination';
import { overviewPage } from './pages/overview';
import { seriesListPage, seriesListParams } from './pages/series-list';
import { seriesDetailPage } from './pages/series-detail';
import { deliveriesPage } from './pages/deliveries';
import { auditPage } from './pages/audit';
import { configPage } from './pages/config';

export const SESSION_COOKIE = 'dicom_ai_session';
const MAX_FORM_BYTES = 16 * 1024;

export interface DashboardOptions {
  /** The admin token; null: nobody can sign in (the page says why). */
  readonly token: string | null;
  /** How long a session lasts after sign-in (admin.ui.sessionHours; default 8 hours). */
  readonly sessionLifetimeMs?: number;
  /** Failed sign-ins allowed per client address within `signInWindowMs` (default 5 in 5 minutes). */
  readonly maxSignInFailures?: number;
  readonly signInWindowMs?: number;
}

/** No script may run, no other origin be loaded, no other site frame the pages or receive a form. */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const digest = (s: string) => createHash('sha256').update(s).digest();

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Dashboard {
  private readonly sessions: Sessions;
  private readonly limiter: SignInLimiter;
  /** One message per session, shown on the next page (the outcome of an action). */
  private readonly notices = new Map<string, string>();

  constructor(
    private readonly o: DashboardOptions,
    private readonly src: DashboardSources,
    private readonly log: Logger,
  ) {
    this.sessions = new Sessions(o.sessionLifetimeMs ?? 8 * 3_600_000);
    this.limiter = new SignInLimiter(o.maxSignInFailures ?? 5, o.signInWindowMs ?? 5 * 60_000);
  }

  /** Answers a request under /ui (the admin server hands these over). */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    try {
      await this.route(req, res, url);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) this.log.error('dashboard request failed', { path: url.pathname, error: (e as Error).message });
      if (!res.headersSent) sendText(res, status, status === 500 ? 'internal error (see the node log)' : (e as Error).message);
    }
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const now = Date.now();
    if (req.method === 'GET' && path === '/ui/style.css') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'max-age=300' });
      res.end(STYLE);
      return;
    }
    if (path === '/ui/sign-in') {
      if (req.method === 'POST') return this.signIn(req, res, now);
      return sendHtml(
        res,
        200,
        signInPage(this.o.token === null ? 'No admin token is configured (admin.token or admin.tokenEnv): nobody can sign in.' : null),
      );
    }
    const session = this.sessions.get(cookie(req, SESSION_COOKIE), now);
    if (!session) {
      if (req.method === 'GET') return redirect(res, '/ui/sign-in');
      throw new HttpError(403, 'refused: sign in first');
    }
    if (req.method === 'POST') return this.post(req, res, path, session);
    if (req.method !== 'GET') throw new HttpError(405, `${req.method} is not used here`);
    return this.get(req, res, url, session, now);
  }

  private async signIn(req: http.IncomingMessage, res: http.ServerResponse, now: number): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const wait = this.limiter.waitMs(address, now);
    if (wait > 0) {
      this.src.audit({
        event: 'user-sign-in',
        outcome: 'failure',
        remoteAddress: address,
        detail: 'dashboard: refused, too many failed attempts',
      });
      res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
      return sendHtml(
        res,
        429,
        signInPage(`Too many failed sign-ins from this address; try again in ${Math.ceil(wait / 60_000)} minute(s).`),
      );
    }
    const form = await readForm(req);
    const given = form.get('token') ?? '';
    const ok = this.o.token !== null && timingSafeEqual(digest(given), digest(this.o.token));
    if (!ok) {
      this.limiter.failed(address, now);
      this.src.audit({ event: 'user-sign-in', outcome: 'failure', remoteAddress: address, detail: 'dashboard: wrong admin token' });
      return sendHtml(res, 401, signInPage('That is not the admin token.'));
    }
    this.limiter.succeeded(address);
    const s = this.sessions.create(now);
    this.src.audit({ event: 'user-sign-in', outcome: 'success', remoteAddress: address, detail: 'dashboard' });
    const secure = (req.socket as TLSSocket).encrypted ? '; Secure' : '';
    res.setHeader(
      'Set-Cookie',
      `${SESSION_COOKIE}=${s.id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(this.sessions.lifetimeMs / 1000)}${secure}`,
    );
    return redirect(res, '/ui/');
  }

  private async post(req: http.IncomingMessage, res: http.ServerResponse, path: string, session: Session): Promise<void> {
    const form = await readForm(req);
    if (!csrfMatches(session, form.get('csrf') ?? undefined)) {
      this.log.warn('dashboard POST refused: missing or wrong CSRF token', { path });
      throw new HttpError(403, 'refused: missing or wrong CSRF token (reload the page and try again)');
    }
    // Back to a dashboard page only: a path under /ui/, never another host (no open redirect).
    const asked = form.get('back') ?? '';
    const back = /^\/ui\/[^\s\\]*$/.test(asked) ? asked : '/ui/';
    const address = req.socket.remoteAddress ?? 'unknown';
    let m: RegExpExecArray | null;
    if (path === '/ui/sign-out') {
      this.sessions.end(session.id);
      res.setHeader('Set-Cookie', `${SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0`);
      return redirect(res, '/ui/sign-in');
    }
    if ((m = /^\/ui\/jobs\/(\d+)\/retry$/.exec(path))) {
      const r = this.src.retryJob(Number(m[1]));
      this.notice(session, 'error' in r ? `Job ${m[1]} was not retried: ${r.error}` : `Job ${m[1]} is queued again.`);
    } else if ((m = /^\/ui\/deliveries\/(\d+)\/retry$/.exec(path))) {
      const r = this.src.retryDelivery(Number(m[1]));
      this.notice(session, 'error' in r ? `Delivery ${m[1]} was not retried: ${r.error}` : `Delivery ${m[1]} is queued again.`);
    } else if ((m = /^\/ui\/destinations\/([^/]+)\/echo$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      const r = await this.src.echo(name);
      const check = echoLabel(this.src.config.destinations[name]);
      const text = 'ok' in r ? (r.ok ? `${check} ${name}: success in ${r.ms} ms.` : `${check} ${name} failed: ${r.error ?? ''}`) : r.error;
      this.src.audit({
        event: 'destination-echoed',
        outcome: 'ok' in r && r.ok ? 'success' : 'failure',
        remoteAddress: address,
        detail: `dashboard: ${text}`,
      });
      this.notice(session, text);
    } else throw new HttpError(404, `no such action: POST ${path}`);
    return redirect(res, back);
  }

  private get(req: http.IncomingMessage, res: http.ServerResponse, url: URL, session: Session, now: number): void | Promise<void> {
    const path = url.pathname;
    const post: PostContext = { csrf: session.csrf, back: path + url.search };
    const page = (title: string, active: string, body: Html) =>
      sendHtml(res, 200, layout({ title, active, csrf: session.csrf, body, notice: this.takeNotice(session) }));
    if (path === '/ui' || path === '/ui/') return page('Overview', '/ui/', overviewPage(this.src, now));
    if (path === '/ui/series')
      return page('Studies and series', '/ui/series', seriesListPage(this.src, seriesListParams(url.searchParams)));
    if (path === '/ui/deliveries') return page('Deliveries', '/ui/deliveries', deliveriesPage(this.src, url.searchParams, post));
    if (path === '/ui/audit') return page('Audit', '/ui/audit', auditPage(this.src, url.searchParams));
    if (path === '/ui/config') return page('Configuration', '/ui/config', configPage(this.src));
    let m: RegExpExecArray | null;
    if ((m = /^\/ui\/series\/([^/]+)$/.exec(path))) {
      const uid = decodeURIComponent(m[1]!);
      const series = this.src.store.getSeries(uid);
      if (!series) throw new HttpError(404, 'no such series in the index');
      const study = this.src.store.getStudy(series.studyInstanceUid);
      // IHE ATNA "Patient Record" event (DICOM PS3.15 A.5.3.8, action R: read): who opened which study.
      this.src.audit({
        event: 'patient-record-accessed',
        outcome: 'success',
        remoteAddress: req.socket.remoteAddress ?? null,
        studyInstanceUid: series.studyInstanceUid,
        seriesInstanceUid: uid,
        detail: 'dashboard: series page viewed',
      });
      return page(
        `Series ${series.seriesDescription ?? series.seriesNumber ?? ''}`.trim(),
        '/ui/series',
        seriesDetailPage(this.src, series, study, post),
      );
    }
    if ((m = /^\/ui\/key-image\/(\d+)$/.exec(path))) return this.keyImage(res, Number(m[1]));
    if ((m = /^\/ui\/jobs\/(\d+)\/findings\/(\d+)\.png$/.exec(path))) return this.findingSlice(req, res, Number(m[1]), Number(m[2]));
    if ((m = /^\/ui\/jobs\/(\d+)\/findings\/(\d+)$/.exec(path))) {
      const { job, finding } = this.locatedFinding(Number(m[1]), Number(m[2]));
      return page(`Finding ${finding.id} of job ${job.id}`, '/ui/series', findingPage(job.id, job.seriesInstanceUid, finding));
    }
    throw new HttpError(404, `no such page: ${path}`);
  }

  /** The key image PNG a job kept (already outlined and windowed by the job's key image stage). */
  private keyImage(res: http.ServerResponse, jobId: number): void {
    const r = this.src.store.latestResult(jobId);
    const file = r ? (JSON.parse(r.resultJson) as { keyImage?: string }).keyImage : undefined;
    if (!file) throw new HttpError(404, `job ${jobId} has no key image`);
    let png: Buffer;
    try {
      png = fs.readFileSync(file);
    } catch {
      throw new HttpError(410, `the key image of job ${jobId} is no longer stored (retention)`);
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'image/png', 'Content-Length': png.length });
    res.end(png);
  }

  /**
   * One finding's slice from the ORIGINAL instance, outlined and windowed as the route's key image
   * (finding-slice.ts); audited as IHE ATNA patient record access like the series page.
   */
  private async findingSlice(req: http.IncomingMessage, res: http.ServerResponse, jobId: number, findingId: number): Promise<void> {
    const { job, finding, model } = this.locatedFinding(jobId, findingId);
    const instance = this.src.store.getInstance(finding.region.sopInstanceUid);
    if (!instance) throw new HttpError(410, `the image of finding ${findingId} is no longer stored (retention)`);
    this.src.audit({
      event: 'patient-record-accessed',
      outcome: 'success',
      remoteAddress: req.socket.remoteAddress ?? null,
      studyInstanceUid: this.src.store.getSeries(job.seriesInstanceUid)?.studyInstanceUid ?? null,
      seriesInstanceUid: job.seriesInstanceUid,
      detail: `dashboard: slice of finding ${findingId} of job ${jobId} viewed`,
    });
    let png: Buffer;
    try {
      png = await renderFindingSlice({
        filePath: instance.filePath,
        region: finding.region,
        window: this.src.keyImageWindow(job.route, job.model ?? model),
        limits: pixelLimitsFromMegabytes(this.src.config.imaging),
      });
    } catch (e) {
      const gone = (e as NodeJS.ErrnoException).code === 'ENOENT';
      if (gone) throw new HttpError(410, `the image of finding ${findingId} is no longer stored (retention)`);
      throw new HttpError(422, `the slice of finding ${findingId} cannot be shown: ${(e as Error).message}`);
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'image/png', 'Content-Length': png.length });
    res.end(png);
  }

  /** A finding of a job's latest result that points at an image; 404 with the reason otherwise. */
  private locatedFinding(jobId: number, findingId: number): { job: JobRow; finding: Finding & { region: ImageRegion }; model: string } {
    const job = this.src.store.getJob(jobId);
    const r = this.src.store.latestResult(jobId);
    if (!job || !r) throw new HttpError(404, `job ${jobId} has no result`);
    const finding = (JSON.parse(r.resultJson) as SeriesResult).findings.find((f) => f.id === findingId);
    if (!finding) throw new HttpError(404, `job ${jobId} has no finding ${findingId}`);
    if (!finding.region) throw new HttpError(404, `finding ${findingId} of job ${jobId} points at no image`);
    return { job, finding: { ...finding, region: finding.region }, model: r.model };
  }

  private notice(session: Session, text: string): void {
    this.notices.set(session.id, text);
  }

  private takeNotice(session: Session): string | null {
    const n = this.notices.get(session.id) ?? null;
    this.notices.delete(session.id);
    return n;
  }
}

function cookie(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** An application/x-www-form-urlencoded body, at most MAX_FORM_BYTES. */
async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, `form larger than ${MAX_FORM_BYTES} bytes`);
    chunks.push(c);
  }
  if (size > 0 && !type.startsWith('application/x-www-form-urlencoded'))
    throw new HttpError(415, 'expected a form (application/x-www-form-urlencoded)');
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res: http.ServerResponse, status: number, body: Html): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
  res.end(body.markup);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8' });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status}</title><link rel="stylesheet" href="/ui/style.css"></head><body><main><h1>${status}</h1><p>${esc(text)}</p><p><a href="/ui/">Back to the dashboard</a></p></main></body></html>`,
  );
}

/** 303 See Other: after a POST, the browser GETs the page (no resubmission on reload). */
function redirect(res: http.ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location });
  res.end();
}
