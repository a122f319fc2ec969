/**
 * Narratives, asynchronously: a job hands over what the model found and gets back, within one
 * deadline (report.narrative.timeoutSeconds), either grounded draft text or the reason there is
 * none. Requests run at most `concurrency` at a time, outside the model slots, so a slow or dead
 * server delays only the reports waiting for it — never ingest, inference or other jobs.
 *
 * Answers are cached on disk by (configured model, prompt SHA-256, language, findings JSON, image
 * hashes): a job run again after a crash, or an amended report with the same inputs, does not ask
 * the server again. Failures are not cached (the next run may find the server back).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { NarrativeConfig } from '../config/types';
import type { Finding } from '../inference/findings';
import type { KeyImage } from '../inference/key-image';
import type { SeriesVolume } from '../inference/series-volume';
import type { Logger } from '../log/logger';
import { writeFileDurably } from '../pipeline/durable-file';
import type { ReportLanguage } from '../report/forms';
import { type ChatAnswer, type ChatEndpoint, ChatFailure, chatCompletion } from './chat-client';
import { ground } from './grounding';
import type { NarrativeOutcome, NarrativeSource } from './outcome';
import { type Prompt, chatRequest, findingsForModel, loadPrompt, narrativeImages } from './request';
import { wordReason, type NarrativeReason } from './reason-wording';

/** A reason the node words itself: in English for the log, and as data for the SR's language. */
const explained = (why: NarrativeReason): { reason: string; why: NarrativeReason } => ({ reason: wordReason(why, 'en'), why });

export interface NarrativeJob {
  /** The de-identified volume the model saw. */
  readonly volume: SeriesVolume;
  readonly findings: readonly Finding[];
  readonly keyImage: KeyImage | null;
  readonly window: string;
  /** The series was routed despite burned-in annotation risk: its pixels are never sent out. */
  readonly burnedInRisk: boolean;
  /** Log fields of the job (no patient data). */
  readonly logFields: Readonly<Record<string, unknown>>;
}

export class NarrativeService {
  private readonly prompt: Prompt;
  private readonly endpoint: Omit<ChatEndpoint, 'apiKey'>;
  private readonly host: string;
  private readonly slots: Slots;

  constructor(
    private readonly config: NarrativeConfig,
    private readonly language: ReportLanguage,
    private readonly cacheDir: string,
    private readonly log: Logger,
    private readonly onOutcome: (kind: NarrativeOutcome['kind']) => void = () => undefined,
  ) {
    this.prompt = loadPrompt(config.promptFile, language);
    const ca = config.tls?.caFile ? fs.readFileSync(config.tls.caFile) : null;
    this.endpoint = { baseUrl: config.baseUrl, ca, maxResponseBytes: config.maxResponseBytes };
    this.host = new URL(config.baseUrl).host;
    this.slots = new Slots(config.concurrency);
  }

  get promptSha256(): string {
    return this.prompt.sha256;
  }

  /** Never throws: every failure becomes an outcome with its reason, by the deadline. */
  async draft(job: NarrativeJob): Promise<NarrativeOutcome> {
    const started = Date.now();
    const deadline = AbortSignal.timeout(this.config.timeoutSeconds * 1000);
    const outcome = await this.outcomeBy(job, deadline);
    const fields = { ...job.logFields, narrative: outcome.kind, backend: this.host, ms: Date.now() - started };
    if (outcome.kind === 'accepted') this.log.info('narrative accepted', fields);
    else this.log.warn('narrative not used; the report carries template text', { ...fields, reason: outcome.reason });
    this.onOutcome(outcome.kind);
    return outcome;
  }

  private async outcomeBy(job: NarrativeJob, deadline: AbortSignal): Promise<NarrativeOutcome> {
    if (job.burnedInRisk) return { kind: 'skipped', ...explained({ problem: 'burned-in-risk' }) };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<NarrativeOutcome>((resolve) => {
      const fire = (): void => resolve({ kind: 'failed', ...explained({ problem: 'timeout', seconds: this.config.timeoutSeconds }) });
      if (deadline.aborted) fire();
      deadline.addEventListener('abort', fire, { once: true });
      // Belt and braces: the signal's own timer may be delayed by a busy loop; this one is not longer.
      timer = setTimeout(fire, this.config.timeoutSeconds * 1000 + 50);
    });
    try {
      return await Promise.race([this.ask(job, deadline), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async ask(job: NarrativeJob, deadline: AbortSignal): Promise<NarrativeOutcome> {
    try {
      const findingsJson = JSON.stringify({ findings: findingsForModel(job.findings) }, null, 1);
      const images = await narrativeImages({ ...job, maxImages: this.config.maxImages });
      const key = this.cacheKey(findingsJson, images);
      const answer =
        (await this.cached(key)) ?? (await this.call(chatRequest(this.config.model, this.prompt, findingsJson, images), key, deadline));
      const source: NarrativeSource = {
        serverModel: answer.model,
        configuredModel: this.config.model,
        promptSha256: this.prompt.sha256,
        backendHost: this.host,
      };
      const verdict = ground(answer.text, job.findings, this.language);
      return verdict.ok
        ? { kind: 'accepted', findings: verdict.sections.findings, impression: verdict.sections.impression, source }
        : { kind: 'rejected', reason: verdict.reason, why: verdict.why, source };
    } catch (e) {
      const reason = e instanceof ChatFailure ? e.message : `the narrative could not be requested: ${(e as Error).message}`;
      return { kind: 'failed', reason };
    }
  }

  private async call(request: ReturnType<typeof chatRequest>, key: string, deadline: AbortSignal): Promise<ChatAnswer> {
    const release = await this.slots.acquire(deadline);
    try {
      const apiKey = this.config.apiKeyEnv ? (process.env[this.config.apiKeyEnv] ?? null) : null;
      const answer = await chatCompletion({ ...this.endpoint, apiKey }, request, deadline);
      await writeFileDurably(this.cachePath(key), Buffer.from(JSON.stringify(answer)), false);
      return answer;
    } finally {
      release();
    }
  }

  private cacheKey(findingsJson: string, images: readonly Buffer[]): string {
    const h = createHash('sha256');
    for (const part of [this.config.model, this.prompt.sha256, this.language, findingsJson]) h.update(part).update('\0');
    for (const png of images) h.update(createHash('sha256').update(png).digest()).update('\0');
    return h.digest('hex');
  }

  private cachePath(key: string): string {
    return path.join(this.cacheDir, `${key}.json`);
  }

  private async cached(key: string): Promise<ChatAnswer | undefined> {
    try {
      const parsed = JSON.parse(await fsp.readFile(this.cachePath(key), 'utf8')) as Partial<ChatAnswer>;
      if (typeof parsed.model === 'string' && typeof parsed.text === 'string') return { model: parsed.model, text: parsed.text };
    } catch {
      // Not cached (or a torn file from a crash): ask the server.
    }
    return undefined;
  }
}

/** At most `size` holders; a waiter gives up when its deadline fires. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(signal: AbortSignal): Promise<() => void> {
    const release = (): void => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', abandon);
        resolve(release);
      };
      const abandon = (): void => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new ChatFailure('timeout', 'waited for a free narrative slot until the deadline (timeoutSeconds)', false));
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', abandon, { once: true });
    });
  }
}
