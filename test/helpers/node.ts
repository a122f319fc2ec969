// Starts a DicomNode in this process on a free loopback port, with its own data folder, and
// captures every log line (tests assert on them, and on the absence of patient data in them).
import net from 'node:net';
import { Writable } from 'node:stream';
import { DicomNode } from '../../src/node';
import { NodeConfig, parseConfig } from '../../src/config/config';
import { createLogger } from '../../src/log/logger';
import { tmpDir } from './env';
import { recordLogLines } from './log-sink';

export interface TestNode {
  node: DicomNode;
  config: NodeConfig;
  port: number;
  logs: string[];
  dataDir: string;
  stop(): Promise<void>;
}

export type ConfigOverrides = {
  node?: Record<string, unknown>;
  admin?: Record<string, unknown>;
  housekeeping?: Record<string, unknown>;
  routes?: unknown[];
  inference?: Record<string, unknown>;
  imaging?: Record<string, unknown>;
  report?: Record<string, unknown>;
  delivery?: Record<string, unknown>;
  audit?: Record<string, unknown>;
  destinations?: Record<string, unknown>;
  routing?: Record<string, unknown>;
  callers?: unknown[];
  acceptAnyCaller?: boolean;
  series?: Record<string, unknown>;
  storage?: Record<string, unknown>;
};

export function testConfig(dataDir: string, o: ConfigOverrides = {}): NodeConfig {
  return parseConfig(
    {
      node: {
        aeTitle: 'DICOM_AI',
        host: '127.0.0.1',
        port: 0,
        maxAssociations: 8,
        idleTimeoutSeconds: 5,
        artimTimeoutSeconds: 2,
        ...o.node,
      },
      callers: o.callers ?? [
        { aeTitle: 'STORESCU', hosts: ['127.0.0.1', '::1'] },
        { aeTitle: 'ECHOSCU', hosts: ['127.0.0.1', '::1'] },
        { aeTitle: 'TESTSCU', hosts: ['127.0.0.1', '::1'] },
      ],
      acceptAnyCaller: o.acceptAnyCaller ?? false,
      admin: { host: '127.0.0.1', port: 0, ...o.admin },
      ...(o.housekeeping ? { housekeeping: o.housekeeping } : {}),
      storage: { dataDir, ...o.storage },
      series: { stableSeconds: 30, ...o.series },
      destinations: o.destinations ?? { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: 4242 } },
      routes: o.routes ?? [],
      ...(o.routing ? { routing: o.routing } : {}),
      ...(o.inference ? { inference: o.inference } : {}),
      ...(o.imaging ? { imaging: o.imaging } : {}),
      ...(o.report ? { report: o.report } : {}),
      ...(o.delivery ? { delivery: o.delivery } : {}),
      ...(o.audit ? { audit: o.audit } : {}),
    },
    dataDir,
  );
}

export async function startTestNode(o: ConfigOverrides = {}): Promise<TestNode> {
  const dataDir = tmpDir('node');
  const config = testConfig(dataDir, o);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk).trim());
      recordLogLines(String(chunk));
      cb();
    },
  });
  const log = createLogger({ level: 'debug', stream, silentConsole: true });
  const node = new DicomNode(config, log);
  const addr = await node.start();
  return { node, config, port: addr.port, logs, dataDir, stop: () => node.stop(500) };
}

export function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (a peer process just spawned), instead of a fixed sleep that a loaded machine outruns. */
export async function waitForListening(port: number, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
