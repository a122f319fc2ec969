/**
 * A small OpenAI-compatible chat-completions server for tests (node:http / node:https on
 * 127.0.0.1): it records every request to /v1/chat/completions as received and answers with
 * whatever `reply` says — a real chat.completion object, an HTTP error, broken JSON, a refusal,
 * nothing for a long time, a byte at a time forever, or 50 MB.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export type Reply = (req: ReceivedRequest, res: http.ServerResponse) => void;

export const SERVED_MODEL = 'Qwen/Qwen3-VL-2B-Instruct-AWQ';

/** The JSON shape of a chat.completion answer (OpenAI API reference; vLLM, llama-server and Ollama answer the same). */
export function chatCompletionObject(content: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 1764990000,
    model: SERVED_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 1200, completion_tokens: 80, total_tokens: 1280 },
    ...extra,
  };
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

export const replies = {
  text:
    (make: (req: ReceivedRequest) => string): Reply =>
    (req, res) =>
      sendJson(res, 200, chatCompletionObject(make(req))),
  status:
    (status: number): Reply =>
    (_req, res) =>
      sendJson(res, status, { error: { message: `test server says ${status}`, type: 'server_error' } }),
  malformed: (): Reply => (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id": "chatcmpl-test", "choices": [ {"message": ');
  },
  empty: (): Reply => (_req, res) => sendJson(res, 200, chatCompletionObject('')),
  refusal: (): Reply => (_req, res) =>
    sendJson(res, 200, {
      ...chatCompletionObject(null),
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' }, finish_reason: 'stop' }],
    }),
  /** Headers at once, then nothing until the client gives up. */
  silent: (): Reply => (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }),
  /** One byte every 50 ms, forever (an idle-socket timer never fires). */
  dribble: (): Reply => (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => res.write(' '), 50);
    res.on('close', () => clearInterval(timer));
  },
  /** A valid-looking answer of `bytes` bytes, streamed. */
  huge:
    (bytes: number): Reply =>
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 16, 0x20);
      let sent = 0;
      const more = (): void => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.on('close', () => (sent = bytes));
      more();
    },
};

export class FakeOpenAi {
  readonly received: ReceivedRequest[] = [];
  reply: Reply = replies.status(503);

  private server: http.Server | undefined;
  private url = '';

  get baseUrl(): string {
    return this.url;
  }

  static async start(tls?: { cert: Buffer; key: Buffer }): Promise<FakeOpenAi> {
    const fake = new FakeOpenAi();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const received = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        fake.received.push(received);
        if (received.method !== 'POST' || received.url !== '/v1/chat/completions')
          return sendJson(res, 404, { error: { message: `no route ${received.method} ${received.url}` } });
        fake.reply(received, res);
      });
    };
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake.server = server;
    fake.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/v1`;
    return fake;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The request body as the OpenAI API defines it (only the parts the node sends). */
export interface SentRequest {
  model: string;
  messages: Array<{ role: string; content: string | Array<{ type: string; text?: string; image_url?: { url: string } }> }>;
}

export interface SentFinding {
  finding: string;
  site?: string;
  laterality?: 'left' | 'right';
  measurements: Array<{ name: string; value: number; unit: string }>;
  confidence: number;
}

/** The findings JSON the node put in the user message. */
export function sentFindings(req: ReceivedRequest): SentFinding[] {
  const body = JSON.parse(req.body) as SentRequest;
  const user = body.messages.find((m) => m.role === 'user');
  const parts = Array.isArray(user?.content) ? user.content : [];
  const text = parts.find((p) => p.type === 'text')?.text ?? '';
  return (JSON.parse(text.slice(text.indexOf('{'))) as { findings: SentFinding[] }).findings;
}

/** What a well-behaved model writes: the findings as given, in English or Chinese. */
export function groundedReport(findings: readonly SentFinding[], language: 'en' | 'zh-CN'): string {
  if (findings.length === 0)
    return language === 'en'
      ? 'FINDINGS: The lungs are clear.\nIMPRESSION: No findings detected.'
      : 'FINDINGS: 双肺清晰。\nIMPRESSION: 未见异常。';
  const sentences = findings.map((f, i) => {
    const d = f.measurements.find((m) => m.unit === 'mm');
    const size = d ? (language === 'en' ? `${d.value} mm` : `${d.value}毫米`) : '';
    if (language === 'en') return `${i + 1}. A ${size} nodule in the ${f.site ?? 'lung'}.`;
    const zone = /^(right|left) (upper|middle|lower) zone$/.exec(f.site ?? '');
    const where = zone
      ? `${zone[1] === 'right' ? '右' : '左'}${{ upper: '上', middle: '中', lower: '下' }[zone[2] as 'upper']}肺野`
      : '肺内';
    return `${i + 1}. ${where}见一${size}结节。`;
  });
  return language === 'en'
    ? `FINDINGS:\n${sentences.join('\n')}\nIMPRESSION:\nPulmonary nodule(s) as described; follow-up per guidelines.`
    : `FINDINGS:\n${sentences.join('\n')}\nIMPRESSION:\n肺结节，建议按指南随访。`;
}
