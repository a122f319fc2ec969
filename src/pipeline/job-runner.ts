/**
 * Queued jobs -> results -> reports -> deliveries.
 *
 * One job = one (stable series, route). The runner takes queued jobs urgent-first, at most
 * `inference.concurrency` at a time and one per model at a time (a model's session runs one
 * inference after another anyway; a second job would only wait inside the worker). Each run is a
 * sequence of stages, each its own module:
 *
 *   1. deidentify-series: the stored instances, DE-IDENTIFIED in memory (PS3.15 Basic Profile);
 *   2. volume-stage: only those copies are decoded into the volume the model sees. Stages 1 and 2
 *      run together in a worker thread, one instance at a time, under the job's time limit: the
 *      event loop (the Storage SCP) never inflates, de-identifies or decodes;
 *   3. the model (src/inference/run-model.ts) under the job's time limit (time-limit), and the
 *      key image of its most confident finding (key-image-stage);
 *   4. record-result: the result with its provenance (and the job's burned-in flag) in SQLite;
 *   5. report-set + write-report-set: the SR in every form the route's destinations may need,
 *      from the ORIGINAL patient and study identity, under UIDs derived from (series, model,
 *      version, revision): a rerun after a crash rebuilds the very same objects, so a resend
 *      replaces instead of duplicating;
 *   6. delivery-plan: reports + deliveries + "done" recorded in one transaction.
 *
 * With report.narrative, a vision-language model drafts report text from the key image and the
 * findings (src/narrative/). It is asked right after the model ran; the job then gives up its
 * model slot (the next job may run) and waits for the narrative, at most until its deadline,
 * before stage 5.
 */
import { routeOutputs, type NodeConfig, type RouteConfig } from '../config/config';
import type { ClaimedJob, Store } from '../store/store';
import type { Logger } from '../log/logger';
import type { AuditSink } from '../log/audit';
import type { ModelRegistry, LoadedModel } from '../inference/registry';
import type { Postprocessor } from '../inference/postprocess/types';
import type { SeriesResult } from '../inference/findings';
import { NotAVolumeError, type SeriesVolume, type StackOptions } from '../inference/series-volume';
import { findingsOnSourcePixels } from '../inference/source-pixels';
import { summaryText } from '../imaging/stacks';
import { runModel } from '../inference/run-model';
import { pixelLimitsFromMegabytes } from '../dicom/pixel-budget';
import { seriesInstances, type SeriesInstances } from './series-instances';
import { DEID_DESCRIPTION, firstOriginal } from './deidentify-series';
import { volumeOfSeries } from './volume-stage';
import { StageClock } from './stage-clock';
import { withTimeLimit } from './time-limit';
import { makeKeyImage, type JobKeyImage } from './key-image-stage';
import { resultRecord } from './record-result';
import { formsNeeded, planReportSet, reportRevision, type ReportSetPlan } from './report-set';
import { writeReportSet, type ReportSet } from './write-report-set';
import { destinationsWithoutSegmentation, planDeliveries, reportRows } from './delivery-plan';
import type { NarrativeService } from '../narrative/narrative-service';
import type { NarrativeOutcome } from '../narrative/outcome';
import { originalFacts } from './original-facts';
import { segmentationGeometryOf } from '../inference/label-resample';
import type { SourceLabels } from '../inference/source-labels';
import type { SegmentationSource } from './write-report-set';
import { applyPlausibility, describeIssue, headerIssues, volumeIssues, type PlausibilityIssue } from '../inference/plausibility';

export interface JobRunnerDeps {
  readonly config: NodeConfig;
  readonly store: Store;
  readonly log: Logger;
  readonly models: () => ModelRegistry | null;
  readonly deidSecret: Buffer;
  readonly postprocessors: Readonly<Record<string, Postprocessor>>;
  /** Called after a job's reports were queued for delivery. */
  readonly onReportsQueued: () => void;
  /** Metrics: every job that ends (not those interrupted by a stop); `skipped`: its input failed the model's checks. */
  readonly onJobFinished?: (e: { model: string; ok: boolean; inferenceMs: number; provider: string; skipped?: boolean }) => void;
  /** Metrics: a result flagged low confidence, or a job skipped, with the checks that caused it. */
  readonly onPlausibility?: (e: { model: string; outcome: 'flagged' | 'skipped'; checks: readonly string[] }) => void;
  readonly audit: AuditSink;
  /** Drafts report text when report.narrative is configured; null = template text only. */
  readonly narratives?: NarrativeService | null;
}

/** Log fields of a job (no patient data). */
type JobFields = { job: number; route: string; model: string; version: string; stagesMs?: Record<string, number> };

export class JobRunner {
  /** Jobs in progress; `holdsSlot` = still counted against inference.concurrency and its model (false while waiting for a narrative). */
  private readonly running = new Map<number, { model: string; done: Promise<void>; holdsSlot: boolean }>();
  private stopped = false;
  private pumping = false;

  constructor(private readonly d: JobRunnerDeps) {}

  /** Starts what can start now (new jobs queued, a job finished, a model loaded). */
  kick(): void {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      const registry = this.d.models();
      if (!registry) return;
      const loaded = [...registry.models.keys()];
      for (;;) {
        const holding = [...this.running.values()].filter((r) => r.holdsSlot);
        if (holding.length >= this.d.config.inference.concurrency) break;
        const busy = new Set(holding.map((r) => r.model));
        const job = this.d.store.claimNextJob(loaded, busy, Date.now());
        if (!job) break;
        const model = registry.get(job.model);
        if (!model) throw new Error(`job ${job.id} was claimed for model ${job.model}, which is not loaded`);
        const done = this.process(job, model)
          .catch((e: Error) => void this.d.log.error('job ended abnormally', { job: job.id, error: e.message }))
          .finally(() => {
            this.running.delete(job.id);
            setImmediate(() => this.kick());
          });
        this.running.set(job.id, { model: model.name, done, holdsSlot: true });
      }
    } catch (e) {
      this.d.log.error('could not take the next job', { error: (e as Error).message });
    } finally {
      this.pumping = false;
    }
  }

  get activeJobs(): number {
    return this.running.size;
  }

  /** Waits for running jobs up to `graceMs`; what is still running stays 'processing' and is re-queued at the next start. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    const all = Promise.all([...this.running.values()].map((r) => r.done.catch(() => undefined)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  private async process(job: ClaimedJob, model: LoadedModel): Promise<void> {
    const { store, log, config } = this.d;
    const started = Date.now();
    const clock = new StageClock();
    const fields: JobFields = { job: job.id, route: job.route, model: model.name, version: model.manifest.version };
    try {
      const route = config.routes.find((r) => r.name === job.route);
      if (!route) throw new Error(`route "${job.route}" is no longer configured`);
      const series = seriesInstances(job.seriesInstanceUid, store.listInstances(job.seriesInstanceUid));
      log.info('job started', { ...fields, instances: series.instances.length, urgent: job.priority === 'urgent' });
      // The ORIGINAL header, before anything is de-identified: the age picks the expected ranges'
      // band (it never reaches the model or the log); modality and body part are checked first.
      const original = await firstOriginal(series);
      const facts = originalFacts(original);
      const wrongSeries = headerIssues(model.manifest.applicability, facts);
      if (wrongSeries.some((i) => i.skip)) return this.skipped(job, model, wrongSeries, fields, started);

      const limits = pixelLimitsFromMegabytes(config.imaging);
      const volume = await withTimeLimit(config.inference.timeLimitSeconds, 'inference.timeLimitSeconds', (signal) =>
        volumeOfSeries({ instances: series.instances, secret: this.d.deidSecret, limits, stackOptions: stackOptionsOf(model) }, signal),
      );
      clock.lap('readDeidentifyVolume');
      if (volume.stack) {
        const stack = summaryText(volume.stack);
        store.setJobStack(job.id, stack);
        log.info('series volume made from one stack', { ...fields, stack });
      }
      // Gaps, uneven spacing, localizers or non-image objects left out: geometry and counts only.
      if (volume.warnings.length > 0) log.warn('series volume has warnings', { ...fields, warnings: volume.warnings });
      const inputIssues = [...wrongSeries, ...volumeIssues(model.manifest.plausibility?.inputChecks ?? {}, volume, facts)];
      if (inputIssues.some((i) => i.skip)) return this.skipped(job, model, inputIssues, fields, started);
      const timings = { modelMs: 0, postprocessingMs: 0 };
      const outputs = routeOutputs(route);
      // Asked for only when the route sends a SEG: the worker then also puts the labels on the source grid.
      const labels: { value?: SourceLabels | string } | undefined = outputs.has('seg') ? {} : undefined;
      const inferred = await this.infer(volume, model, route, timings, labels);
      const onVolume = applyPlausibility(inferred, model.manifest, facts.ageYears, inputIssues);
      // The model's own run (with its input building), then post-processing and the job's remainder.
      clock.lapSplit('model', timings.modelMs, 'postprocessing');
      const key = await this.keyImage(job, series, volume, onVolume, keyImageWindow(route, model), fields);
      clock.lap('keyImage');
      // Images for the narrative are drawn on the volume, like the key image.
      const narrative = this.narrative(job, route, volume, onVolume, key, keyImageWindow(route, model), fields);
      // The key image is drawn on the volume; the result and the SR point at the source images' pixels.
      const result = findingsOnSourcePixels(onVolume, volume);
      const resultId = store.recordResult(
        resultRecord({
          jobId: job.id,
          burnedInFlag: job.burnedInFlag,
          model: modelIdentity(model),
          series,
          result,
          keyImagePath: key?.filePath ?? null,
        }),
        Date.now(),
      );
      // Without a narrative to wait for, the job keeps its slot to the end (as it always did).
      if (this.d.narratives && route.narrative) this.releaseSlot(job.id);
      const narrativeOutcome = await narrative;
      const segmentation = labels ? this.segmentationSource(labels.value, volume, fields) : null;
      const plan = this.planReports(
        job,
        model,
        series,
        formsNeeded(route.destinations, config.destinations),
        outputs.has('key-image-sc') && key !== null,
        segmentation !== null,
      );
      const source = {
        series,
        firstOriginal: original,
        result,
        model: modelIdentity(model),
        keyImage: key,
        segmentation,
        ...(narrativeOutcome ? { narrative: narrativeOutcome } : {}),
      };
      const reports = await writeReportSet(plan, source, config);
      this.queueReports(job, model, series, resultId, reports, route.destinations);
      clock.lap('report');
      this.finished(job, model, result, reports, route.destinations, { ...fields, stagesMs: clock.ms }, started);
    } catch (e) {
      this.failed(job, model, e as Error, fields, started);
    }
  }

  /** The job no longer needs its model: the next job may start while this one waits for its narrative. */
  private releaseSlot(jobId: number): void {
    const entry = this.running.get(jobId);
    if (!entry || !entry.holdsSlot) return;
    entry.holdsSlot = false;
    setImmediate(() => this.kick());
  }

  /** The narrative of the result, when configured and the route wants one (never rejects). */
  private narrative(
    job: ClaimedJob,
    route: RouteConfig,
    volume: SeriesVolume,
    result: SeriesResult,
    key: JobKeyImage | null,
    window: string,
    fields: JobFields,
  ): Promise<NarrativeOutcome | undefined> {
    const service = this.d.narratives;
    if (!service || !route.narrative) return Promise.resolve(undefined);
    return service.draft({
      volume,
      findings: result.findings,
      keyImage: key?.image ?? null,
      window,
      burnedInRisk: job.burnedInFlag !== null,
      logFields: fields,
    });
  }

  /** What the SEG is written from; null (and the job log says why) when the result has no labels to write. */
  private segmentationSource(
    labels: SourceLabels | string | undefined,
    volume: SeriesVolume,
    fields: JobFields,
  ): SegmentationSource | null {
    if (typeof labels !== 'object' || !labels.slices.some((s) => s.some((v) => v !== 0))) {
      const reason =
        typeof labels === 'string' ? labels : labels ? 'no voxel was labelled: there is no region to send' : 'the model gave no labels';
      this.d.log.info('no Segmentation for this result; the SR goes without one', { ...fields, reason });
      return null;
    }
    return { geometry: segmentationGeometryOf(volume), labels };
  }

  /** The model on the de-identified volume, under the job's time limit. */
  private infer(
    volume: SeriesVolume,
    model: LoadedModel,
    route: RouteConfig,
    timings: { modelMs: number; postprocessingMs: number },
    sourceLabels?: { value?: SourceLabels | string },
  ): Promise<SeriesResult> {
    return withTimeLimit(this.d.config.inference.timeLimitSeconds, 'inference.timeLimitSeconds', (signal) =>
      runModel(volume, {
        name: model.name,
        manifest: model.manifest,
        session: model.session,
        sha256: model.sha256,
        postprocessors: this.d.postprocessors,
        window: route.window,
        deidentification: DEID_DESCRIPTION,
        signal,
        offload: true,
        timings,
        ...(sourceLabels ? { sourceLabels } : {}),
      }),
    );
  }

  /** The report rows, their deliveries and "done", in one transaction. */
  private queueReports(
    job: ClaimedJob,
    model: LoadedModel,
    series: SeriesInstances,
    resultId: number,
    reports: ReportSet,
    destinations: readonly string[],
  ): void {
    const { store, config } = this.d;
    const rows = reportRows(reports, {
      jobId: job.id,
      resultId,
      seriesInstanceUid: job.seriesInstanceUid,
      model: model.name,
      modelVersion: model.manifest.version,
      instancesHash: series.instancesHash,
    });
    store.recordReportAndDeliveries(job.id, rows, planDeliveries(destinations, config.destinations, reports), Date.now());
    for (const name of destinationsWithoutSegmentation(destinations, config.destinations, reports)) {
      const detail = `job ${job.id}: ${name} does not take Segmentations (acceptsSegmentation false): no SEG, the SR without segment references instead`;
      this.d.log.info('destination gets the SR without segment references', { jobId: job.id, destination: name });
      this.d.audit({ event: 'sr-without-segmentation', outcome: 'success', seriesInstanceUid: job.seriesInstanceUid, detail });
    }
  }

  /** The key image, kept with the job; a report goes without it when it cannot be made. */
  private async keyImage(
    job: ClaimedJob,
    series: SeriesInstances,
    volume: SeriesVolume,
    result: SeriesResult,
    window: string,
    fields: JobFields,
  ): Promise<JobKeyImage | null> {
    const { config } = this.d;
    try {
      return await makeKeyImage({
        volume,
        findings: result.findings,
        window,
        dataDir: config.storage.dataDir,
        jobId: job.id,
        instancesHash: series.instancesHash,
        fsync: config.node.fsync,
      });
    } catch (e) {
      this.d.log.warn('key image could not be made; the report goes without it', { ...fields, error: (e as Error).message });
      return null;
    }
  }

  /** The revision and objects this run makes, from the reports already made for (series, model, version). */
  private planReports(
    job: ClaimedJob,
    model: LoadedModel,
    series: SeriesInstances,
    forms: ReturnType<typeof formsNeeded>,
    withKeyImage: boolean,
    withSegmentation: boolean,
  ): ReportSetPlan {
    const { store } = this.d;
    const version = model.manifest.version;
    const revision = reportRevision(store.latestReports(job.seriesInstanceUid, model.name, version), series.instancesHash);
    return planReportSet({
      seriesInstanceUid: job.seriesInstanceUid,
      model: model.name,
      modelVersion: version,
      revision,
      forms,
      previousRevision: revision > 1 ? store.reportsOfRevision(job.seriesInstanceUid, model.name, version, revision - 1) : [],
      studyInstanceUid: store.getSeries(job.seriesInstanceUid)?.studyInstanceUid ?? '',
      withKeyImage,
      withSegmentation,
    });
  }

  /** Audit, log and metrics of a job whose reports were queued. */
  private finished(
    job: ClaimedJob,
    model: LoadedModel,
    result: SeriesResult,
    reports: ReportSet,
    destinations: readonly string[],
    fields: JobFields,
    started: number,
  ): void {
    const provider = result.provenance.executionProvider;
    const study = reports.srs.values().next().value?.studyInstanceUid;
    const flag = result.lowConfidenceReason;
    this.d.audit({
      event: 'report-created',
      outcome: 'success',
      seriesInstanceUid: job.seriesInstanceUid,
      ...(study ? { studyInstanceUid: study } : {}),
      detail: `job ${job.id}: ${model.name} ${model.manifest.version} on ${provider}, ${result.findings.length} finding(s), revision ${reports.revision}, forms ${[...reports.srs.keys()].join('/')}, to ${destinations.join(', ') || 'no destination'}${flag ? `; ${flag}` : ''}`,
    });
    this.d.log.info('job done', {
      ...fields,
      findings: result.findings.length,
      lowConfidence: result.lowConfidence,
      ...(flag ? { lowConfidenceReason: flag, ageBand: result.plausibility?.band } : {}),
      provider,
      revision: reports.revision,
      inferenceMs: result.provenance.durationMs,
      totalMs: Date.now() - started,
    });
    this.d.onJobFinished?.({ model: model.name, ok: true, inferenceMs: result.provenance.durationMs, provider });
    if (result.lowConfidence) {
      const checks: string[] = (result.plausibility?.issues ?? []).map((i) => i.check);
      if (result.lowConfidenceReason?.includes('uncertainty')) checks.unshift('uncertainty');
      this.d.onPlausibility?.({ model: model.name, outcome: 'flagged', checks });
    }
    this.d.onReportsQueued();
  }

  /**
   * A series the model cannot give a meaningful result for (wrong modality or body part, a scout,
   * too few slices): the job ends `skipped` with why, in the log, /api/jobs and the audit trail.
   */
  private skipped(job: ClaimedJob, model: LoadedModel, issues: readonly PlausibilityIssue[], fields: JobFields, started: number): void {
    const failing = issues.filter((i) => i.skip);
    const why = `input outside the model's checks: ${failing.map(describeIssue).join('; ')}`.slice(0, 500);
    this.d.store.finishJob(job.id, 'skipped', why, Date.now());
    this.d.audit({
      event: 'job-skipped',
      outcome: 'failure',
      seriesInstanceUid: job.seriesInstanceUid,
      detail: `job ${job.id} (${job.route}): ${why}`,
    });
    this.d.log.warn('job skipped', { ...fields, reason: why, ms: Date.now() - started });
    this.d.onJobFinished?.({ model: model.name, ok: false, inferenceMs: 0, provider: model.session.provider, skipped: true });
    this.d.onPlausibility?.({ model: model.name, outcome: 'skipped', checks: failing.map((i) => i.check) });
  }

  /** A job that failed is recorded failed with why; one interrupted by the stop stays for the next start. */
  private failed(job: ClaimedJob, model: LoadedModel, error: Error, fields: JobFields, started: number): void {
    const { store, log } = this.d;
    const why = error.message.slice(0, 500);
    if (this.stopped) {
      // Stopping closed the model or the database under the job: it stays 'processing' and is
      // queued again at the next start, where it rebuilds the same report objects.
      log.warn('job interrupted by the stop; it runs again at the next start', { ...fields });
      return;
    }
    if (error instanceof NotAVolumeError) {
      // No usable stack (or a geometry the model must not get): not a failure of the node.
      store.finishJob(job.id, 'skipped', why, Date.now());
      // Skipped like a series outside the model's checks: in the audit trail and the metrics too.
      this.d.audit({
        event: 'job-skipped',
        outcome: 'failure',
        seriesInstanceUid: job.seriesInstanceUid,
        detail: `job ${job.id} (${job.route}): ${why}`,
      });
      log.warn('job skipped: the series gives the model no usable volume', { ...fields, reason: why });
      this.d.onJobFinished?.({ model: model.name, ok: false, inferenceMs: 0, provider: model.session.provider, skipped: true });
      return;
    }
    store.finishJob(job.id, 'failed', why, Date.now());
    this.d.onJobFinished?.({ model: model.name, ok: false, inferenceMs: 0, provider: model.session.provider });
    this.d.audit({
      event: 'job-failed',
      outcome: 'failure',
      seriesInstanceUid: job.seriesInstanceUid,
      detail: `job ${job.id} (${job.route}): ${why}`,
    });
    log.error('job failed', { ...fields, error: why, ms: Date.now() - started });
  }
}

/** Name, version and checksum of a model, as results and reports cite it. */
function modelIdentity(model: LoadedModel): { name: string; version: string; sha256: string } {
  return { name: model.name, version: model.manifest.version, sha256: model.sha256 };
}

/** What the model's manifest says about stacks and gantry tilt (the volume worker gets only these). */
function stackOptionsOf(model: LoadedModel): StackOptions {
  const { stack, gantryTilt } = model.manifest;
  return { ...(stack ? { stack } : {}), ...(gantryTilt ? { gantryTilt } : {}) };
}

/** The key image shows the slice as the model saw it: the route's window, or the model's own. */
function keyImageWindow(route: RouteConfig, model: LoadedModel): string {
  return route.window && route.window !== 'auto' ? route.window : model.manifest.preprocessing.window;
}
