// Runs the node as its own process through the CLI (for crash tests and CLI tests).
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CLI } from './env';
import { recordLogLines } from './log-sink';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function writeConfig(dir: string, port: number, extra: Record<string, unknown> = {}): string {
  const cfg = {
    node: { aeTitle: 'DICOM_AI', host: '127.0.0.1', port, maxAssociations: 8 },
    admin: { host: '127.0.0.1', port: 0 },
    callers: [
      { aeTitle: 'STORESCU', hosts: ['127.0.0.1'] },
      { aeTitle: 'ECHOSCU', hosts: ['127.0.0.1'] },
      { aeTitle: 'DICOM_AI', hosts: ['127.0.0.1'] },
    ],
    storage: { dataDir: './data' },
    series: { stableSeconds: 1 },
    destinations: { PACS: { aeTitle: 'ORTHANC', host: '127.0.0.1', port: 4242 } },
    routes: [],
    ...extra,
  };
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}

export interface ChildNode {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `dicom-ai-node serve` and resolves once it listens. */
export function startChildNode(configFile: string, timeoutMs = 15_000): Promise<ChildNode> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`node did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      recordLogLines(String(d));
      if (out.includes('storage SCP listening')) {
        clearTimeout(timer);
        resolve({ proc, output: () => out, exited });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('storage SCP listening')) reject(new Error(`node exited with ${code} before listening:\n${out}`));
    });
  });
}
