/** `report.narrative`: a vision-language model behind an OpenAI-compatible server drafts the report text. */
import { isReportLanguage, type ReportLanguage } from '../../report/forms';
import { choice, integer, nullable, readableFile, section, text } from '../kinds';
import { describeValue, keyPath } from '../problems';
import type { Kind, SectionSchema } from '../schema';
import type { NarrativeConfig } from '../types';

const baseUrl: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value !== 'string' || value.trim() === '') {
      problems.add(at, `${describeValue(value)} is not a server address; write it like "http://10.0.0.30:8000/v1"`);
      return undefined;
    }
    let url: URL;
    try {
      url = new URL(value.trim());
    } catch {
      problems.add(at, `${describeValue(value)} is not a web address; write it like "http://10.0.0.30:8000/v1"`);
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.add(at, `${describeValue(value)} must start with http:// or https://`);
      return undefined;
    }
    if (url.username !== '' || url.password !== '') {
      problems.add(at, 'must not contain a user name or password; put the API key in an environment variable and name it in "apiKeyEnv"');
      return undefined;
    }
    if (url.search !== '' || url.hash !== '') {
      problems.add(at, `${describeValue(value)} must not contain ? or #; give only the address up to /v1`);
      return undefined;
    }
    return url.toString().replace(/\/+$/, '');
  },
};

const environmentVariable: Kind<string> = {
  read(value, at, { problems }) {
    if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
      problems.add(at, `${describeValue(value)} is not an environment variable name (letters, digits and _), e.g. "NARRATIVE_API_KEY"`);
      return undefined;
    }
    // The key itself is read when a request is made, never kept in the configuration or logged.
    if (!process.env[value]) problems.add(at, `the environment variable ${value} is not set (or empty) for the node's process`);
    return value;
  },
};

const language: Kind<ReportLanguage> = {
  read(value, at, { problems }) {
    if (isReportLanguage(value)) return value;
    problems.add(at, `${describeValue(value)} is not a report language this node writes; use "en" or "zh-CN"`);
    return undefined;
  },
};

const tlsSection: SectionSchema<{ caFile: string | null }> = {
  fields: {
    caFile: {
      kind: nullable(readableFile),
      default: null,
      defaultDoc: 'system CAs',
      doc: "CA certificates (PEM) the server's certificate must chain to",
    },
  },
};

export const narrativeSection: SectionSchema<NarrativeConfig> = {
  fields: {
    backend: { kind: choice(['openai'] as const), default: 'openai', doc: '`openai`: an OpenAI-compatible chat-completions server' },
    baseUrl: {
      kind: baseUrl,
      default: '',
      missing: 'missing; required (the server\'s address up to /v1, e.g. "http://10.0.0.30:8000/v1")',
      defaultDoc: '',
      doc: 'the server, up to `/v1` (the node posts to `<baseUrl>/chat/completions`)',
    },
    model: {
      kind: text(128),
      default: '',
      missing: 'missing; required (the model name the server serves, e.g. "Qwen/Qwen3-VL-2B-Instruct")',
      defaultDoc: '',
      doc: 'model name sent in each request',
    },
    apiKeyEnv: {
      kind: nullable(environmentVariable),
      default: null,
      defaultDoc: 'no key',
      doc: 'name of the environment variable holding the API key (sent as `Authorization: Bearer`)',
    },
    timeoutSeconds: {
      kind: integer({ min: 1, max: 3600, unit: 'seconds' }),
      default: 60,
      doc: 'one deadline per narrative (queue, request, one retry); after it the report goes out with template text',
    },
    maxImages: { kind: integer({ min: 1, max: 16, unit: 'images' }), default: 4, doc: 'images sent: the key image, then finding slices' },
    language: {
      kind: nullable(language),
      default: null,
      defaultDoc: '`report.language`',
      doc: 'language asked for and checked; must be the report language',
    },
    tls: { kind: nullable(section(tlsSection)), default: null, defaultDoc: '', doc: 'for an `https://` server' },
    concurrency: { kind: integer({ min: 1, max: 64, unit: 'requests' }), default: 2, doc: 'narratives requested at the same time' },
    maxResponseBytes: {
      kind: integer({ min: 1024, max: 64 * 1048576, unit: 'bytes' }),
      default: 1048576,
      doc: 'largest answer read; a longer one fails and the template text is used',
    },
    promptFile: {
      kind: nullable(readableFile),
      default: null,
      defaultDoc: "the node's own (`config/narrative-prompts/`)",
      doc: "the prompt; its SHA-256 is written in every report's provenance",
    },
  },
  check(narrative, _raw, at, { problems }) {
    if (narrative.tls !== null && narrative.baseUrl.startsWith('http://'))
      problems.add(keyPath(at, 'tls'), 'is set but baseUrl starts with http://; use https:// or remove "tls"');
  },
};
