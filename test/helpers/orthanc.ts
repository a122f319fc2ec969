// Debian's Orthanc as the PACS in end-to-end tests: its own temporary config on loopback ports,
// started and stopped by PID, restartable on the same storage and ports (outage tests).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { freePort } from './child-node';
import { tmpDir } from './env';

const ORTHANC_BIN = '/usr/sbin/Orthanc';
/** Debian's orthanc-dicomweb package puts the plugin here. */
export const DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** Orthanc as a DICOMweb server: the plugin at /dicom-web/, HTTP basic auth, optionally https. */
export interface DicomWebOptions {
  /** Orthanc's RegisteredUsers (user -> password); the first one is used by rest(). */
  readonly users: Readonly<Record<string, string>>;
  /** Serve https with this certificate (PEM files); rest() trusts `caFile`. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

export interface HttpResult {
  status: number;
  body: Buffer;
  text: string;
  headers: http.IncomingHttpHeaders;
}

export class OrthancPacs {
  private proc: ChildProcess | null = null;
  readonly output: string[] = [];

  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    readonly dicomPort: number,
    private readonly modalities: Record<string, unknown>,
    private readonly overwriteInstances: boolean,
    readonly dicomWeb: DicomWebOptions | null,
  ) {}

  /**
   * `modalities`: Orthanc's DicomModalities (who may store: checked by AE title and host).
   * `overwriteInstances`: a resend of a SOP Instance UID replaces the stored one (default), like
   * most PACS configured to accept corrections; false keeps the first (Orthanc's default).
   */
  static async create(
    modalities: Record<string, unknown>,
    o: { overwriteInstances?: boolean; dicomWeb?: DicomWebOptions } = {},
  ): Promise<OrthancPacs> {
    return new OrthancPacs(
      tmpDir('orthanc'),
      await freePort(),
      await freePort(),
      modalities,
      o.overwriteInstances ?? true,
      o.dicomWeb ?? null,
    );
  }

  /** The DICOMweb root, e.g. https://127.0.0.1:PORT/dicom-web (only with `dicomWeb`). */
  get dicomWebUrl(): string {
    return `${this.dicomWeb?.tls ? 'https' : 'http'}://127.0.0.1:${this.httpPort}/dicom-web`;
  }

  /** Orthanc's settings for `dicomWeb`: the plugin, its root, basic auth and https. */
  private dicomWebConfig(): Record<string, unknown> {
    const w = this.dicomWeb;
    if (!w) return {};
    const tls = w.tls;
    const pem = path.join(this.dir, 'https.pem');
    // Orthanc wants the certificate and its key in one PEM file (SslCertificate).
    if (tls) fs.writeFileSync(pem, fs.readFileSync(tls.certFile, 'utf8') + fs.readFileSync(tls.keyFile, 'utf8'));
    return {
      Plugins: [DICOMWEB_PLUGIN],
      DicomWeb: { Enable: true, Root: '/dicom-web/' },
      AuthenticationEnabled: true,
      RegisteredUsers: w.users,
      ...(tls ? { SslEnabled: true, SslCertificate: pem } : {}),
    };
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    const config = {
      Name: 'dicom-ai-node-test',
      StorageDirectory: path.join(this.dir, 'storage'),
      IndexDirectory: path.join(this.dir, 'index'),
      Plugins: [],
      LuaScripts: [],
      StorageCompression: false,
      HttpServerEnabled: true,
      HttpPort: this.httpPort,
      RemoteAccessAllowed: false,
      AuthenticationEnabled: false,
      OrthancExplorerEnabled: false,
      WebDavEnabled: false,
      HttpCompressionEnabled: false,
      DicomServerEnabled: true,
      DicomAet: 'ORTHANC',
      DicomPort: this.dicomPort,
      // A hardened PACS: the called AE must be ORTHANC, and C-STORE is accepted only from the
      // modalities listed, matched by AE title and host. (Orthanc's defaults are the opposite:
      // DicomCheckCalledAet false, DicomAlwaysAllowStore true — any AE may store.)
      DicomCheckCalledAet: true,
      DicomAlwaysAllowStore: false,
      DicomCheckModalityHost: true,
      DicomModalities: this.modalities,
      DicomScuTimeout: 10,
      DicomScpTimeout: 10,
      SaveJobs: false,
      SyncStorageArea: false,
      OverwriteInstances: this.overwriteInstances,
      ...this.dicomWebConfig(),
    };
    const configPath = path.join(this.dir, 'orthanc.json');
    fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
    const proc = spawn(ORTHANC_BIN, [configPath], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    proc.stdout.on('data', (d) => this.output.push(String(d)));
    proc.stderr.on('data', (d) => this.output.push(String(d)));
    this.proc = proc;
    const t0 = Date.now();
    for (;;) {
      if (!this.running) throw new Error(`Orthanc exited (${proc.exitCode ?? proc.signalCode}):\n${this.output.join('')}`);
      try {
        if ((await this.rest('GET', '/system', undefined, 1000)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() - t0 > 20_000) {
        proc.kill('SIGKILL');
        throw new Error(`Orthanc did not answer GET /system within 20 s:\n${this.output.join('')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  rest(
    method: string,
    urlPath: string,
    body?: Buffer | string | object,
    timeoutMs = 30_000,
    extraHeaders: Record<string, string> = {},
  ): Promise<HttpResult> {
    const payload =
      body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const user = Object.entries(this.dicomWeb?.users ?? {})[0];
    const tls = this.dicomWeb?.tls;
    return new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(
        {
          host: '127.0.0.1',
          port: this.httpPort,
          method,
          path: urlPath,
          headers: {
            ...(payload
              ? { 'content-length': payload.length, 'content-type': Buffer.isBuffer(body) ? 'application/dicom' : 'application/json' }
              : {}),
            ...(user ? { authorization: `Basic ${Buffer.from(`${user[0]}:${user[1]}`).toString('base64')}` } : {}),
            ...extraHeaders,
          },
          timeout: timeoutMs,
          ...(tls ? { ca: fs.readFileSync(tls.caFile) } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const b = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, body: b, text: b.toString('utf8'), headers: res.headers });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async json<T = unknown>(method: string, urlPath: string, body?: Buffer | string | object): Promise<T> {
    const r = await this.rest(method, urlPath, body);
    assert.ok(
      r.status >= 200 && r.status < 300,
      `${method} ${urlPath}: HTTP ${r.status} ${r.text}\nOrthanc's log:\n${this.output.join('').slice(-3000)}`,
    );
    return JSON.parse(r.text) as T;
  }

  /** Orthanc's ID of a study/series/instance by its DICOM UID (POST /tools/lookup). */
  async idOf(uid: string, type: 'Study' | 'Series' | 'Instance'): Promise<string | undefined> {
    const hits = await this.json<{ ID: string; Type: string }[]>('POST', '/tools/lookup', uid);
    return hits.find((h) => h.Type === type)?.ID;
  }

  /** Series of a study (by Study Instance UID) with their main tags. */
  async seriesOfStudy(studyUid: string): Promise<{ ID: string; MainDicomTags: Record<string, string>; Instances: string[] }[]> {
    const id = await this.idOf(studyUid, 'Study');
    if (!id) return [];
    return this.json('GET', `/studies/${id}/series`);
  }
}
