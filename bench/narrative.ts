/**
 * bench/narrative: narratives per minute against an OpenAI-compatible server (vLLM, llama-server,
 * Ollama serving a vision-language model), through the node's own narrative stage: 512 × 512 PNG
 * rendering, the request, the answer and the grounding. Each narrative gets distinct images (a
 * fresh cache), so every one is a real request. Without --url the in-repo fake server answers
 * (what is then measured is the node's own overhead, not a model).
 *
 *   npm run bench:narrative -- [--url http://10.0.0.30:8000/v1] [--model Qwen/Qwen3-VL-2B-Instruct]
 *                              [--api-key-env NAME] [--count 20] [--concurrency 2] [--language en|zh-CN]
 *                              [--timeout 120]
 */
import { createLogger } from '../src/log/logger';
import { UCUM_MM, type Finding } from '../src/inference/findings';
import type { SeriesVolume } from '../src/inference/series-volume';
import { keyImage } from '../src/inference/key-image';
import { NarrativeService } from '../src/narrative/narrative-service';
import type { NarrativeOutcome } from '../src/narrative/outcome';
import { FakeOpenAi, groundedReport, replies, sentFindings } from '../test/helpers/fake-openai';
import { tmpDir } from '../test/helpers/env';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const CT = '1.2.840.10008.5.1.4.1.1.2';

/** A 256 × 256 four-slice volume, different for every `seed`, with one right upper zone nodule. */
function sample(seed: number): { volume: SeriesVolume; findings: Finding[] } {
  const size = 256;
  const uids = [0, 1, 2, 3].map((k) => `2.25.${seed}${k}`);
  const volume: SeriesVolume = {
    modality: 'CT',
    rows: size,
    columns: size,
    pixelSpacing: [0.7, 0.7],
    sliceSpacing: 2.5,
    orientation: [1, 0, 0, 0, 1, 0],
    normal: [0, 0, 1],
    slices: uids.map((uid, k) => ({ sopInstanceUid: uid, sopClassUid: CT, instanceNumber: k + 1, position: [0, 0, k * 2.5] as const })),
    values: uids.map((_, k) => Float32Array.from({ length: size * size }, (_v, i) => ((i * 7 + k * 31 + seed * 13) % 1600) - 1000)),
    warnings: [],
  };
  const findings: Finding[] = [
    {
      id: 1,
      label: 'nodule',
      code: { value: '27925004', scheme: 'SCT', meaning: 'Nodule' },
      text: 'Lung nodule.',
      confidence: 0.9,
      measurements: [
        {
          key: 'diameterMm',
          concept: { value: '81827009', scheme: 'SCT', meaning: 'Diameter' },
          value: 6 + (seed % 40) / 10,
          unit: UCUM_MM,
        },
      ],
      site: { code: { value: '39607008', scheme: 'SCT', meaning: 'Lung' }, laterality: 'right', text: 'right upper zone' },
      region: { sopClassUid: CT, sopInstanceUid: uids[1]!, graphicType: 'CIRCLE', graphicData: [80, 80, 88, 80] },
    },
  ];
  return { volume, findings };
}

async function main(): Promise<void> {
  const count = Number(arg('count', '20'));
  const concurrency = Number(arg('concurrency', '2'));
  const language = arg('language', 'en') === 'zh-CN' ? 'zh-CN' : 'en';
  const url = arg('url', '');
  const fake = url === '' ? await FakeOpenAi.start() : undefined;
  if (fake) fake.reply = replies.text((req) => groundedReport(sentFindings(req), language));
  const apiKeyEnv = arg('api-key-env', '');
  const service = new NarrativeService(
    {
      backend: 'openai',
      baseUrl: url || fake!.baseUrl,
      model: arg('model', 'Qwen/Qwen3-VL-2B-Instruct'),
      apiKeyEnv: apiKeyEnv || null,
      timeoutSeconds: Number(arg('timeout', '120')),
      maxImages: 4,
      language,
      tls: null,
      concurrency,
      maxResponseBytes: 1048576,
      promptFile: null,
    },
    language,
    tmpDir('bench-narrative-cache'),
    createLogger({ level: 'error', silentConsole: true }),
  );
  const jobs = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { volume, findings } = sample(i + 1);
      return { volume, findings, keyImage: await keyImage(volume, findings, 'lung'), window: 'lung', burnedInRisk: false, logFields: {} };
    }),
  );
  const latencies: number[] = [];
  const outcomes = new Map<NarrativeOutcome['kind'], number>();
  const t0 = Date.now();
  await Promise.all(
    jobs.map(async (job) => {
      const started = Date.now();
      const outcome = await service.draft(job);
      latencies.push(Date.now() - started);
      outcomes.set(outcome.kind, (outcomes.get(outcome.kind) ?? 0) + 1);
      if (outcome.kind !== 'accepted') console.log(`${outcome.kind}: ${outcome.reason}`);
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(`server: ${url || `in-repo fake (${fake!.baseUrl})`}; ${count} narratives, concurrency ${concurrency}, ${language}`);
  console.log(`narratives/minute: ${((count / seconds) * 60).toFixed(1)} (${seconds.toFixed(1)} s in all)`);
  console.log(
    `latency per narrative (queue included): median ${latencies[latencies.length >> 1]} ms, max ${latencies[latencies.length - 1]} ms`,
  );
  console.log(`outcomes: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  await fake?.close();
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 1;
});
