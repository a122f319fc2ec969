/**
 * A client for the OpenAI chat-completions API (POST <baseUrl>/chat/completions), as served by
 * vLLM, llama.cpp's llama-server and Ollama, with node:http/https only.
 *
 * Every call runs under ONE deadline given by the caller (an AbortSignal): connecting, sending,
 * the server's thinking time, a slow drip of bytes and the one retry all count against it — an
 * idle-socket timer alone would let a server that sends a byte a second hold a job forever. The
 * answer is read up to a byte cap; a longer one is abandoned. The API key is sent as a Bearer
 * token and never appears in an error or a log line.
 */
import http from 'node:http';
import https from 'node:https';

/** OpenAI content parts: text, or an image as a data URL. */
export type ChatContentPart =
  { readonly type: 'text'; readonly text: string } | { readonly type: 'image_url'; readonly image_url: { readonly url: string } };

export interface ChatRequest {
  readonly model: string;
  readonly messages: ReadonlyArray<{ readonly role: 'system' | 'user'; readonly content: string | readonly ChatContentPart[] }>;
  readonly temperature: number;
  readonly max_tokens: number;
}

export interface ChatAnswer {
  /** `model` of the answer: what the server says it ran. */
  readonly model: string;
  readonly text: string;
}

export interface ChatEndpoint {
  /** Up to /v1, without a trailing slash. */
  readonly baseUrl: string;
  readonly apiKey: string | null;
  /** PEM CA certificates for https; null = system CAs. */
  readonly ca: Buffer | null;
  readonly maxResponseBytes: number;
}

/** Why a call gave no usable text; `retryable` failures get the one retry the deadline allows. */
export class ChatFailure extends Error {
  constructor(
    readonly reason: 'timeout' | 'http' | 'network' | 'tls' | 'too-large' | 'malformed' | 'empty' | 'refusal',
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'ChatFailure';
  }
}

/** One request, then at most one retry after a network error or a 5xx/429, all before `signal` fires. */
export async function chatCompletion(endpoint: ChatEndpoint, request: ChatRequest, signal: AbortSignal): Promise<ChatAnswer> {
  const body = Buffer.from(JSON.stringify(request), 'utf8');
  try {
    return await postOnce(endpoint, body, signal);
  } catch (e) {
    if (!(e instanceof ChatFailure) || !e.retryable || signal.aborted) throw e;
    return postOnce(endpoint, body, signal);
  }
}

function postOnce(endpoint: ChatEndpoint, body: Buffer, signal: AbortSignal): Promise<ChatAnswer> {
  const url = new URL(`${endpoint.baseUrl}/chat/completions`);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': body.length,
    accept: 'application/json',
  };
  if (endpoint.apiKey) headers['authorization'] = `Bearer ${endpoint.apiKey}`;
  const options: https.RequestOptions = { method: 'POST', headers, signal };
  if (url.protocol === 'https:' && endpoint.ca) options.ca = endpoint.ca;
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<ChatAnswer>((resolve, reject) => {
    const req = transport.request(url, options, (res) => {
      readCapped(res, endpoint.maxResponseBytes, signal).then((text) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          reject(new ChatFailure('http', `the server answered HTTP ${status}${errorDetail(text)}`, status >= 500 || status === 429));
          return;
        }
        try {
          resolve(parseAnswer(text));
        } catch (e) {
          reject(e instanceof Error ? e : new ChatFailure('malformed', String(e), false));
        }
      }, reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(transportFailure(e, signal)));
    req.end(body);
  });
}

/** The body as text, failing past `cap` bytes or when the deadline fires. */
function readCapped(res: http.IncomingMessage, cap: number, signal: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) {
        // Rejected first: destroying the response also emits 'aborted', which must not win.
        reject(new ChatFailure('too-large', `the answer is larger than maxResponseBytes (${cap} bytes)`, false));
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (e: NodeJS.ErrnoException) => reject(transportFailure(e, signal)));
    res.on('aborted', () => reject(transportFailure(new Error('the server closed the connection mid-answer'), signal)));
  });
}

function transportFailure(e: NodeJS.ErrnoException, signal: AbortSignal): ChatFailure {
  if (e instanceof ChatFailure) return e;
  if (signal.aborted || e.name === 'AbortError')
    return new ChatFailure('timeout', 'no complete answer before the deadline (timeoutSeconds)', false);
  const code = e.code ?? '';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code) || /certificate|ssl|tls/i.test(e.message))
    return new ChatFailure('tls', `TLS connection refused: ${code || e.message}`, false);
  return new ChatFailure('network', `cannot reach the server: ${code || e.message}`, true);
}

/** A short, safe excerpt of an error body (servers say why in `error.message`). */
function errorDetail(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof message === 'string') return `: ${message.slice(0, 200)}`;
  } catch {
    // Not JSON: the status says enough.
  }
  return '';
}

/** The chat.completion object: choices[0].message.content (string or text parts), and `model`. */
export function parseAnswer(text: string): ChatAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ChatFailure('malformed', 'the answer is not JSON', false);
  }
  const answer = parsed as {
    model?: unknown;
    choices?: Array<{ finish_reason?: unknown; message?: { content?: unknown; refusal?: unknown } }>;
  };
  const choice = Array.isArray(answer.choices) ? answer.choices[0] : undefined;
  if (!choice || typeof choice.message !== 'object' || choice.message === null)
    throw new ChatFailure('malformed', 'the answer has no choices[0].message (not a chat.completion object)', false);
  const { content, refusal } = choice.message;
  if ((typeof refusal === 'string' && refusal.trim() !== '') || choice.finish_reason === 'content_filter')
    throw new ChatFailure('refusal', 'the model refused to write the text', false);
  const body = contentText(content);
  if (body === undefined) throw new ChatFailure('malformed', 'choices[0].message.content is neither text nor text parts', false);
  if (body.trim() === '') throw new ChatFailure('empty', 'the model returned empty text', false);
  return { model: typeof answer.model === 'string' && answer.model !== '' ? answer.model : '(not reported)', text: body };
}

function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (content === null) return '';
  if (!Array.isArray(content)) return undefined;
  const parts = content.map((p: { type?: unknown; text?: unknown }) => (p?.type === 'text' && typeof p.text === 'string' ? p.text : ''));
  return parts.join('');
}
