// The running node: wires config → store → Storage SCP → ingest → series stability → routing →
// job runner (de-identification, inference, report) → delivery, with the audit trail, metrics,
// housekeeping and the admin API beside them. What each part does lives in its own module.

import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { StorageScp, discardingSink, type Transport } from './dimse/scp';
import { NodeMetrics } from './admin/node-metrics';
import { AdminServer } from './admin/server';
import { Dashboard } from './admin/ui/dashboard';
import { echoDestination } from './delivery/echo-destination';
import { Housekeeping } from './housekeeping/scheduler';
import { DeliveryQueue, type DeliveryOutcome } from './delivery/queue';
import { loadModels, ModelRegistry } from './inference/registry';
import { REJECT, AssociateRQ } from './dimse/pdu';
import { STORAGE_TRANSFER_SYNTAX_PREFERENCE, VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from './dimse/uids';
import { ConfigError, NodeConfig } from './config/config';
import { checkCaller } from './ingest/caller-policy';
import { Store, SeriesRow } from './store/store';
import { Logger } from './log/logger';
import { AuditTrail } from './log/audit';
import { InstanceWriter, incomingDir } from './ingest/instance-writer';
import { StabilityMonitor } from './ingest/stability';
import { DiskGuard } from './ingest/disk-guard';
import { markRunning, markStopped, reconcileInstances } from './ingest/reconcile';
import { observeAssociations } from './ingest/association-observer';
import { STATUS } from './dimse/command';
import { storageSopClassUids } from './dicom/sop-classes';
import { tlsServerOptions } from './dimse/tls';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './version';
import { JobRunner } from './pipeline/job-runner';
import { routeSeries } from './pipeline/route-series';
import { routeModelProblems } from './pipeline/route-model-check';
import { runRetention, RetentionResult } from './housekeeping/retention';
import { loadOrCreateDeidSecret } from './deid/secret';
import { setUidRefKey } from './log/uid-ref';
import { POSTPROCESSORS } from './inference/postprocess';
import { mkdirPrivate, tightenDataDir } from './private-files';
import { pixelLimitsFromMegabytes } from './dicom/pixel-budget';
import { NarrativeService } from './narrative/narrative-service';

export function databasePath(config: NodeConfig): string {
  return path.join(config.storage.dataDir, 'dicom-ai-node.sqlite');
}

/** Events a DicomNode emits (for tests and embedders; the pipeline itself does not listen). */
export interface DicomNodeEvents {
  /** A series received no new instance for series.stableSeconds; it is routed right after. */
  'series-stable': [series: SeriesRow];
}

/** Wires the components together; what each does lives in its own module. */
export class DicomNode extends EventEmitter<DicomNodeEvents> {
  readonly store: Store;
  private readonly audit: AuditTrail;
  private readonly scp: StorageScp;
  private readonly stability: StabilityMonitor;
  readonly disk: DiskGuard;
  readonly metrics: NodeMetrics;
  readonly housekeeping: Housekeeping;
  readonly deliveries: DeliveryQueue;
  private address: AddressInfo | null = null;
  private tlsAddress: AddressInfo | null = null;
  private adminAddress: AddressInfo | null = null;
  private readonly admin: AdminServer;
  private models: ModelRegistry | null = null;
  readonly jobs: JobRunner;

  constructor(
    readonly config: NodeConfig,
    readonly log: Logger,
    options: { diskPollMs?: number } = {},
  ) {
    super();
    const dataDir = config.storage.dataDir;
    const tightened = tightenDataDir(dataDir);
    if (tightened && tightened.files + tightened.folders > 0)
      this.log.info('data folder made private to the node user (files 0600, folders 0700)', tightened);
    const deidSecret = loadOrCreateDeidSecret(dataDir);
    // UIDs in log lines become references keyed by this installation's secret (src/log/uid-ref.ts).
    setUidRefKey(deidSecret);
    this.removeAbandonedPartials(dataDir);
    this.store = new Store(databasePath(config), { durableFiles: config.node.fsync });
    if (markRunning(dataDir)) {
      this.log.warn('previous run did not stop cleanly: checking that every stored instance is indexed');
      reconcileInstances(dataDir, this.store, log);
    }
    this.audit = new AuditTrail(this.store, config.audit, config.node.aeTitle, log);
    this.disk = new DiskGuard(dataDir, config.storage.minFreeMegabytes * 1048576, log, options.diskPollMs);
    // Before every component whose callbacks count something.
    this.metrics = new NodeMetrics({
      openAssociations: () => this.scp.activeAssociations,
      seriesByState: () => this.store.seriesCountsByState(),
      jobsByState: () => this.store.jobCountsByState(),
      deliveriesByState: () => this.store.deliveryCountsByState(),
      retryBacklog: () => this.store.deliveryRetryBacklog(),
      diskFreeBytes: () => this.disk.free,
    });
    this.stability = new StabilityMonitor(this.store, config.series.stableSeconds * 1000, log, (series) => this.seriesStable(series));
    this.scp = this.createScp();
    this.housekeeping = new Housekeeping(config.housekeeping, this.store, log);
    this.deliveries = new DeliveryQueue(this.store, config.destinations, config.delivery, config.node.aeTitle, log, (e) =>
      this.deliveryAttempted(e),
    );
    this.jobs = new JobRunner({
      config,
      store: this.store,
      log,
      models: () => this.models,
      deidSecret,
      postprocessors: POSTPROCESSORS,
      onReportsQueued: () => this.sweepDeliveries(),
      onJobFinished: (e) => this.jobFinished(e),
      onPlausibility: (e) => {
        for (const check of new Set(e.checks)) this.metrics.plausibility.inc({ model: e.model, outcome: e.outcome, check });
      },
      audit: this.audit.sink,
      narratives: this.createNarratives(),
    });
    this.scheduleHousekeeping();
    this.admin = this.createAdmin();
    observeAssociations(this.scp, { store: this.store, metrics: this.metrics, audit: this.audit.sink, log });
  }

  private createScp(): StorageScp {
    const { config, log } = this;
    const storage = new Set(storageSopClassUids());
    const n = config.node;
    return new StorageScp({
      aeTitle: n.aeTitle,
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersionName: IMPLEMENTATION_VERSION_NAME,
      maxAssociations: n.maxAssociations,
      pending: { maxPending: n.maxPendingConnections, maxPendingPerAddress: n.maxPendingConnectionsPerAddress },
      limits: {
        maxPduLength: n.maxPduLength,
        maxCommandBytes: 64 * 1024,
        maxAssociateLength: 1024 * 1024,
        maxDataSetBytes: n.maxInstanceBytes,
      },
      timeouts: {
        artimMs: n.artimTimeoutSeconds * 1000,
        associateRqMs: n.associationRequestTimeoutSeconds * 1000,
        idleMs: n.idleTimeoutSeconds * 1000,
      },
      transferSyntaxesFor: (as) =>
        as === VERIFICATION_SOP_CLASS
          ? VERIFICATION_TRANSFER_SYNTAX_PREFERENCE
          : storage.has(as)
            ? STORAGE_TRANSFER_SYNTAX_PREFERENCE
            : null,
      decide: (rq: AssociateRQ, remote: string, transport: Transport) => {
        const c = checkCaller(config, rq.callingAeTitle, remote, transport);
        if (c.allowed) return { accept: true };
        return {
          accept: false,
          why: c.reason,
          rejection: {
            result: REJECT.result.permanent,
            source: REJECT.source.serviceUser,
            reason: REJECT.reason.user.callingAeNotRecognized,
          },
        };
      },
      onStore: (req) =>
        this.disk.isLow
          ? discardingSink(STATUS.OutOfResources, 'out of resources: disk space below storage.minFreeMegabytes')
          : new InstanceWriter(
              req,
              {
                dataDir: config.storage.dataDir,
                fsync: n.fsync,
                implementationClassUid: IMPLEMENTATION_CLASS_UID,
                implementationVersionName: IMPLEMENTATION_VERSION_NAME,
                pixelLimits: pixelLimitsFromMegabytes(config.imaging),
              },
              this.store,
              log,
              () => this.stability.poke(),
            ),
    });
  }

  private createAdmin(): AdminServer {
    return new AdminServer(
      this.config.admin,
      {
        readiness: () => this.readiness(),
        metrics: () => this.metrics.render(),
        series: (limit, after) => this.store.listSeriesPage(limit, after),
        audit: (limit) => this.store.listAudit(limit),
        jobs: (limit, filter, afterId) => this.store.listJobsPage(limit, filter, afterId),
        models: () => this.models?.report ?? [],
        retryJob: (id) => this.retryJob(id),
      },
      this.log,
      this.createDashboard(),
    );
  }

  private retryJob(id: number): ReturnType<Store['retryJob']> {
    const r = this.store.retryJob(id, Date.now());
    if ('job' in r) {
      this.audit.record({
        event: 'job-retried',
        outcome: 'success',
        seriesInstanceUid: r.job.seriesInstanceUid,
        detail: `job ${id} (${r.job.route})`,
      });
      this.jobs.kick();
    }
    return r;
  }

  /** The operator's dashboard at /ui/ (src/admin/ui/): the store's queries, live state, audited actions. */
  private createDashboard(): Dashboard {
    return new Dashboard(
      {
        token: this.config.admin.token,
        sessionLifetimeMs: this.config.admin.ui.sessionHours * 3_600_000,
        maxSignInFailures: this.config.admin.ui.signInAttempts,
        signInWindowMs: this.config.admin.ui.signInWindowMinutes * 60_000,
      },
      {
        store: this.store,
        config: this.config,
        readiness: () => this.readiness(),
        models: () => this.models?.report ?? [],
        listeners: () => [
          ...(this.address ? [{ kind: 'plain', port: this.address.port }] : []),
          ...(this.tlsAddress ? [{ kind: 'TLS', port: this.tlsAddress.port }] : []),
        ],
        diskFreeBytes: () => this.disk.free,
        retryJob: (id) => this.retryJob(id),
        retryDelivery: (id) => this.retryDelivery(id),
        echo: async (name) => {
          const d = this.config.destinations[name];
          return d ? echoDestination(d, this.config.node.aeTitle) : { error: `no destination "${name}" is configured` };
        },
        keyImageWindow: (route, model) => {
          const w = this.config.routes.find((r) => r.name === route)?.window;
          return w && w !== 'auto' ? w : (this.models?.get(model)?.manifest.preprocessing.window ?? 'auto');
        },
        audit: this.audit.sink,
      },
      this.log,
    );
  }

  /** An operator's retry of a failed delivery, or re-send of a delivered one; audited, then sent. */
  private retryDelivery(id: number): { ok: true } | { error: string } {
    const d = this.store.getDelivery(id);
    if (!d) return { error: `no delivery ${id}` };
    if (d.state === 'failed') this.store.retryDeliveries(id, Date.now());
    else if (d.state === 'delivered') this.store.enqueueDelivery({ ...d, alternatives: d.alternatives }, Date.now());
    else return { error: `delivery ${id} is ${d.state}; it will be sent without help` };
    this.audit.record({
      event: 'delivery-retried',
      outcome: 'success',
      seriesInstanceUid: this.store.seriesOfReport(d.sopInstanceUid) ?? null,
      calledAeTitle: this.config.destinations[d.destination]?.aeTitle,
      detail: `delivery ${id} to ${d.destination} (${d.state === 'failed' ? 'retry' : 're-send'}) by an operator`,
    });
    this.sweepDeliveries();
    return { ok: true };
  }

  private scheduleHousekeeping(): void {
    const hk = this.config.housekeeping;
    this.housekeeping.add('delivery-sweep', this.config.delivery.sweepCron, () => this.deliveries.runDue());
    if (hk.retentionDays !== null) this.housekeeping.add('retention', hk.retentionCron, () => this.runRetention());
    // Jobs are started when routed; the sweep also picks up what a stop or a full queue left.
    this.housekeeping.add('job-sweep', '* * * * *', () => this.jobs.kick());
  }

  /** A stable series takes its routes; its queued jobs start as soon as a model is free. */
  private seriesStable(series: SeriesRow): void {
    this.emit('series-stable', series);
    routeSeries(series.seriesInstanceUid, { store: this.store, config: this.config, log: this.log }, Date.now()).then(
      () => this.jobs.kick(),
      (e: Error) => this.log.error('routing failed', { error: e.message }),
    );
  }

  /** Metrics of every attempt; the final outcome audited (IHE ATNA "DICOM Instances Transferred"). */
  private deliveryAttempted(e: DeliveryOutcome): void {
    this.metrics.deliveryAttempts.inc({ destination: e.row.destination, outcome: e.ok ? 'ok' : 'failed' });
    // A retry that will happen again is in the deliveries table; only the final outcome is audited.
    if (!e.final) return;
    const d = this.config.destinations[e.row.destination];
    if (e.withoutSegmentation)
      this.audit.record({
        event: 'sr-without-segmentation',
        outcome: 'success',
        calledAeTitle: d?.aeTitle,
        detail: `${e.row.destination} does not hold the Segmentation the SR references (refused or failed): the SR without segment references was sent instead`,
      });
    this.audit.record({
      event: e.ok ? 'report-delivered' : 'delivery-failed',
      outcome: e.ok ? 'success' : 'failure',
      calledAeTitle: d?.aeTitle,
      remoteAddress: d ? `${d.host}:${d.port}` : undefined,
      detail: `${e.row.destination}: SOP class ${e.sentSopClassUid ?? e.row.sopClassUid}, status ${e.status === null ? 'none' : `0x${e.status.toString(16).padStart(4, '0')}`}, attempt ${e.row.attempts + 1}${e.error ? `: ${e.error}` : ''}`,
    });
  }

  /** The narrative model's client, when report.narrative is configured (answers cached under data/narratives). */
  private createNarratives(): NarrativeService | null {
    const { report, storage } = this.config;
    if (!report.narrative) return null;
    const language = report.narrative.language ?? report.language;
    return new NarrativeService(report.narrative, language, path.join(storage.dataDir, 'narratives'), this.log, (kind) =>
      this.metrics.narratives.inc({ outcome: kind }),
    );
  }

  private jobFinished(e: { model: string; ok: boolean; inferenceMs: number; provider: string; skipped?: boolean }): void {
    this.metrics.jobsFinished.inc({ model: e.model, outcome: e.ok ? 'done' : e.skipped ? 'skipped' : 'failed' });
    if (e.ok) this.metrics.inferenceSeconds.observe(e.inferenceMs / 1000, { model: e.model, provider: e.provider });
  }

  private sweepDeliveries(): void {
    void this.deliveries.runDue().catch((e: Error) => this.log.error('delivery sweep failed', { error: e.message }));
  }

  /** What /readyz checks: the database takes writes, the disk has room, the SCP listens. */
  readiness(): { name: string; ok: boolean; detail?: string }[] {
    const checks: { name: string; ok: boolean; detail?: string }[] = [];
    try {
      this.store.probeWrite();
      checks.push({ name: 'database', ok: true });
    } catch (e) {
      checks.push({ name: 'database', ok: false, detail: (e as Error).message });
    }
    checks.push({
      name: 'disk',
      ok: !this.disk.isLow,
      detail: `${Math.floor(this.disk.free / 1048576)} MB free, minimum ${this.config.storage.minFreeMegabytes} MB`,
    });
    checks.push({ name: 'dicom-listener', ok: this.listening() });
    const missing = this.config.routes.filter((r) => !this.models?.get(r.model)).map((r) => `${r.name} → ${r.model}`);
    checks.push({
      name: 'models',
      ok: missing.length === 0,
      detail:
        missing.length === 0 ? `${this.models?.models.size ?? 0} loaded` : `models named by routes but not loaded: ${missing.join(', ')}`,
    });
    return checks;
  }

  /** Every configured DICOM listener (plain, TLS or both) is listening. */
  private listening(): boolean {
    const plain = this.config.node.port === null || this.address !== null;
    const tls = this.config.node.tls === null || this.tlsAddress !== null;
    return plain && tls && (this.address ?? this.tlsAddress) !== null;
  }

  get adminPort(): number {
    return this.adminAddress?.port ?? 0;
  }

  /** Starts everything; returns the plain DICOM listener's address (the TLS one's in TLS-only mode). */
  async start(): Promise<AddressInfo> {
    const inf = this.config.inference;
    this.models = await loadModels(inf.modelsDir, {
      providers: [...inf.providers],
      intraOpNumThreads: inf.intraOpNumThreads,
      logger: this.log,
    });
    for (const r of this.config.routes) {
      const why = this.models.get(r.model) ? null : this.models.whyUnavailable(r.model);
      if (why)
        this.log.warn('a route names a model that is not loaded: its series will wait as queued jobs', {
          route: r.name,
          model: r.model,
          why,
        });
    }
    const routeProblems = routeModelProblems(this.config.routes, (name) => this.models?.get(name)?.manifest);
    if (routeProblems.length > 0) {
      await this.models.close(); // the model workers would keep the process alive
      throw new ConfigError(routeProblems);
    }
    const requeuedJobs = this.store.requeueInterruptedJobs(Date.now());
    if (requeuedJobs > 0) this.log.warn('jobs interrupted by the last stop are queued again', { count: requeuedJobs });
    const requeued = this.store.requeueInterruptedDeliveries(Date.now());
    if (requeued > 0) this.log.warn('deliveries interrupted by the last stop are queued again', { count: requeued });
    this.disk.start();
    this.stability.start();
    this.housekeeping.start();
    const { port, host } = this.config.node;
    // node.port null: DICOM TLS only (the configuration then requires node.tls).
    if (port !== null) this.address = await this.scp.listen(port, host);
    if (this.config.admin.enabled) this.adminAddress = await this.admin.start();
    const t = this.config.node.tls;
    if (t) {
      const options = tlsServerOptions({ ...t, handshakeTimeoutMs: t.handshakeTimeoutSeconds * 1000 });
      this.tlsAddress = await this.scp.listenTls(t.port, host, options);
      this.log.info('storage SCP listening for DICOM TLS', { port: this.tlsAddress.port, requireClientCert: t.requireClientCert });
    }
    const listening = this.address ?? this.tlsAddress;
    if (listening === null) throw new Error('no DICOM listener configured: node.port is null and node.tls is absent');
    if (this.address)
      this.log.info('storage SCP listening', { aeTitle: this.config.node.aeTitle, host: this.address.address, port: this.address.port });
    else
      this.log.info('storage SCP listening for DICOM TLS only: no plain DICOM port (node.port is null)', {
        aeTitle: this.config.node.aeTitle,
      });
    this.audit.record({
      event: 'application-start',
      outcome: 'success',
      calledAeTitle: this.config.node.aeTitle,
      detail: [this.address ? `port ${this.address.port}` : 'no plain port', this.tlsAddress ? `TLS port ${this.tlsAddress.port}` : '']
        .filter(Boolean)
        .join(', '),
    });
    this.jobs.kick();
    if (requeued > 0) this.sweepDeliveries();
    return listening;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  get tlsPort(): number {
    return this.tlsAddress?.port ?? 0;
  }

  get activeAssociations(): number {
    return this.scp.activeAssociations;
  }

  async stop(graceMs = 5000): Promise<void> {
    // First stop taking associations and let open ones finish (their instances still get filed,
    // indexed and answered); only then stop the timers and close the database.
    await this.scp.close(graceMs);
    this.stability.stop();
    this.disk.stop();
    await this.jobs.stop(graceMs);
    await this.housekeeping.stop();
    await this.admin.stop();
    await this.models?.close();
    this.audit.record({ event: 'application-stop', outcome: 'success', calledAeTitle: this.config.node.aeTitle });
    this.store.close();
    this.audit.close();
    markStopped(this.config.storage.dataDir);
    this.log.info('storage SCP stopped');
  }

  /** Deletes the files of series delivered more than housekeeping.retentionDays ago. */
  runRetention(now = Date.now()): RetentionResult {
    const days = this.config.housekeeping.retentionDays;
    if (days === null) return { series: 0, files: 0, bytes: 0 };
    return runRetention(
      this.store,
      days,
      this.log,
      (seriesInstanceUid, detail) => this.audit.record({ event: 'series-purged', outcome: 'success', seriesInstanceUid, detail }),
      now,
    );
  }

  listSeries(): SeriesRow[] {
    return this.store.listSeries();
  }

  /** Temporary files of transfers that never completed (a crash mid-instance): never acknowledged. */
  private removeAbandonedPartials(dataDir: string): void {
    const dir = incomingDir(dataDir);
    mkdirPrivate(dir);
    let removed = 0;
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.part')) continue;
      fs.rmSync(path.join(dir, f), { force: true });
      removed++;
    }
    if (removed > 0) this.log.warn('removed partial files of unacknowledged transfers', { count: removed });
  }
}
