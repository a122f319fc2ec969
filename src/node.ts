// The running node: config → store → Storage SCP → ingest → series stability. Later stages
// (routing, de-identification, inference, report, delivery) attach to the 'series-stable' event.

import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { StorageScp, RejectionEvent, StoreResultEvent, discardingSink } from './dimse/scp';
import { NodeMetrics } from './admin/node-metrics';
import { AdminServer } from './admin/server';
import { Housekeeping } from './housekeeping/scheduler';
import { routesFor } from './pipeline/router';
import { DeliveryQueue } from './delivery/queue';
import { loadModels, ModelRegistry } from './inference/registry';
import { burnedInAnnotationRisk } from './deid/burned-in';
import { readPart10Header } from './dicom/part10';
import { readFileHead } from './dicom/file-head';
import { readDatasetHeader } from './dicom/dataset-reader';
import { REJECT, AssociateRQ } from './dimse/pdu';
import type { Association } from './dimse/association';
import { STORAGE_TRANSFER_SYNTAX_PREFERENCE, VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAX_PREFERENCE } from './dimse/uids';
import { NodeConfig } from './config/config';
import { checkCaller } from './ingest/caller-policy';
import { Store, SeriesRow, AuditEvent } from './store/store';
import { Logger } from './log/logger';
import { InstanceWriter, StoredInstance, incomingDir } from './ingest/instance-writer';
import { StabilityMonitor } from './ingest/stability';
import { DiskGuard } from './ingest/disk-guard';
import { markRunning, markStopped, reconcileInstances } from './ingest/reconcile';
import { STATUS } from './dimse/command';
import { storageSopClassUids } from './dicom/sop-classes';
import { tlsServerOptions } from './dimse/tls';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './version';
import { JobRunner } from './pipeline/job-runner';
import { SyslogSender } from './log/syslog';
import { runRetention, RetentionResult } from './housekeeping/retention';
import { loadOrCreateDeidSecret } from './deid/secret';
import { POSTPROCESSORS } from './inference/postprocess';

export function databasePath(config: NodeConfig): string {
  return path.join(config.storage.dataDir, 'dicom-ai-node.sqlite');
}

/** Events: 'instance-stored' (StoredInstance), 'series-stable' (SeriesRow). */
export class DicomNode extends EventEmitter {
  readonly store: Store;
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
  private readonly syslog: SyslogSender | null;

  constructor(
    readonly config: NodeConfig,
    readonly log: Logger,
    options: { diskPollMs?: number } = {},
  ) {
    super();
    const dataDir = config.storage.dataDir;
    fs.mkdirSync(dataDir, { recursive: true });
    this.removeAbandonedPartials(dataDir);
    this.store = new Store(databasePath(config), { durableFiles: config.node.fsync });
    if (markRunning(dataDir)) {
      this.log.warn('previous run did not stop cleanly: checking that every stored instance is indexed');
      reconcileInstances(dataDir, this.store, log);
    }
    const sl = config.audit.syslog;
    let syslogFailed = false;
    this.syslog = sl
      ? new SyslogSender(sl.host, sl.port, sl.appName, (e) => {
          // Said once, not per event: a collector that is down would otherwise flood the log.
          if (!syslogFailed) log.error('audit events cannot be sent to syslog', { host: sl.host, port: sl.port, error: e.message });
          syslogFailed = true;
        })
      : null;
    this.disk = new DiskGuard(dataDir, config.storage.minFreeMegabytes * 1048576, log, options.diskPollMs);
    this.stability = new StabilityMonitor(this.store, config.series.stableSeconds * 1000, log, (s) => {
      this.emit('series-stable', s);
      this.route(s);
    });

    const storage = new Set(storageSopClassUids());
    const n = config.node;
    this.scp = new StorageScp({
      aeTitle: n.aeTitle,
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersionName: IMPLEMENTATION_VERSION_NAME,
      maxAssociations: n.maxAssociations,
      limits: {
        maxPduLength: n.maxPduLength,
        maxCommandBytes: 64 * 1024,
        maxAssociateLength: 1024 * 1024,
        maxDataSetBytes: n.maxInstanceBytes,
      },
      timeouts: { artimMs: n.artimTimeoutSeconds * 1000, idleMs: n.idleTimeoutSeconds * 1000 },
      transferSyntaxesFor: (as) =>
        as === VERIFICATION_SOP_CLASS
          ? VERIFICATION_TRANSFER_SYNTAX_PREFERENCE
          : storage.has(as)
            ? STORAGE_TRANSFER_SYNTAX_PREFERENCE
            : null,
      decide: (rq: AssociateRQ, remote: string) => {
        const c = checkCaller(config, rq.callingAeTitle, remote);
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
                dataDir,
                fsync: n.fsync,
                implementationClassUid: IMPLEMENTATION_CLASS_UID,
                implementationVersionName: IMPLEMENTATION_VERSION_NAME,
              },
              this.store,
              log,
              (s: StoredInstance) => {
                this.stability.poke();
                this.emit('instance-stored', s);
              },
            ),
    });
    this.housekeeping = new Housekeeping(config.housekeeping, this.store, log);
    this.deliveries = new DeliveryQueue(this.store, config.destinations, config.delivery, config.node.aeTitle, log, (e) => {
      this.metrics.deliveryAttempts.inc({ destination: e.row.destination, outcome: e.ok ? 'ok' : 'failed' });
      // What was sent where, with which status (IHE ATNA "DICOM Instances Transferred"); a retry
      // that will happen again is in the deliveries table, only the final outcome is audited.
      if (e.final) {
        const d = config.destinations[e.row.destination];
        this.audit({
          event: e.ok ? 'report-delivered' : 'delivery-failed',
          outcome: e.ok ? 'success' : 'failure',
          calledAeTitle: d?.aeTitle,
          remoteAddress: d ? `${d.host}:${d.port}` : undefined,
          detail: `${e.row.destination}: SOP class ${e.sentSopClassUid ?? e.row.sopClassUid}, status ${e.status === null ? 'none' : `0x${e.status.toString(16).padStart(4, '0')}`}, attempt ${e.row.attempts + 1}${e.error ? `: ${e.error}` : ''}`,
        });
      }
    });
    this.housekeeping.add('delivery-sweep', config.delivery.sweepCron, () => this.deliveries.runDue());
    this.jobs = new JobRunner({
      config,
      store: this.store,
      log,
      models: () => this.models,
      deidSecret: loadOrCreateDeidSecret(dataDir),
      postprocessors: POSTPROCESSORS,
      onReportsQueued: () => void this.deliveries.runDue().catch((e: Error) => log.error('delivery sweep failed', { error: e.message })),
      onJobFinished: (e) => {
        this.metrics.jobsFinished.inc({ model: e.model, outcome: e.ok ? 'done' : 'failed' });
        if (e.ok) this.metrics.inferenceSeconds.observe(e.inferenceMs / 1000, { model: e.model, provider: e.provider });
      },
      audit: (e) => this.audit(e),
    });
    if (config.housekeeping.retentionDays !== null) {
      this.housekeeping.add('retention', config.housekeeping.retentionCron, () => this.runRetention());
    }
    // Jobs are started when routed; the sweep also picks up what a stop or a full queue left.
    this.housekeeping.add('job-sweep', '* * * * *', () => this.jobs.kick());
    this.metrics = new NodeMetrics({
      openAssociations: () => this.scp.activeAssociations,
      seriesByState: () => this.store.seriesCountsByState(),
      jobsByState: () => this.store.jobCountsByState(),
      deliveriesByState: () => this.store.deliveryCountsByState(),
      retryBacklog: () => this.store.deliveryRetryBacklog(),
      diskFreeBytes: () => this.disk.free,
    });
    this.admin = new AdminServer(
      config.admin,
      {
        readiness: () => this.readiness(),
        metrics: () => this.metrics.render(),
        series: () => this.store.listSeries(),
        audit: (limit) => this.store.listAudit(limit),
        jobs: () => this.store.listJobs(),
        models: () => this.models?.report ?? [],
        retryJob: (id) => {
          const r = this.store.retryJob(id, Date.now());
          if ('job' in r) {
            this.audit({
              event: 'job-retried',
              outcome: 'success',
              seriesInstanceUid: r.job.seriesInstanceUid,
              detail: `job ${id} (${r.job.route})`,
            });
            this.jobs.kick();
          }
          return r;
        },
      },
      log,
    );
    this.wireEvents();
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
    checks.push({ name: 'dicom-listener', ok: this.address !== null });
    const missing = this.config.routes.filter((r) => !this.models?.get(r.model)).map((r) => `${r.name} → ${r.model}`);
    checks.push({
      name: 'models',
      ok: missing.length === 0,
      detail:
        missing.length === 0 ? `${this.models?.models.size ?? 0} loaded` : `models named by routes but not loaded: ${missing.join(', ')}`,
    });
    return checks;
  }

  get adminPort(): number {
    return this.adminAddress?.port ?? 0;
  }

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
    const requeuedJobs = this.store.requeueInterruptedJobs(Date.now());
    if (requeuedJobs > 0) this.log.warn('jobs interrupted by the last stop are queued again', { count: requeuedJobs });
    const requeued = this.store.requeueInterruptedDeliveries(Date.now());
    if (requeued > 0) this.log.warn('deliveries interrupted by the last stop are queued again', { count: requeued });
    this.disk.start();
    this.stability.start();
    this.housekeeping.start();
    this.address = await this.scp.listen(this.config.node.port, this.config.node.host);
    if (this.config.admin.enabled) this.adminAddress = await this.admin.start();
    const t = this.config.node.tls;
    if (t) {
      this.tlsAddress = await this.scp.listenTls(t.port, this.config.node.host, tlsServerOptions(t));
      this.log.info('storage SCP listening for DICOM TLS', { port: this.tlsAddress.port, requireClientCert: t.requireClientCert });
    }
    this.log.info('storage SCP listening', { aeTitle: this.config.node.aeTitle, host: this.address.address, port: this.address.port });
    this.audit({
      event: 'application-start',
      outcome: 'success',
      calledAeTitle: this.config.node.aeTitle,
      detail: `port ${this.address.port}${this.tlsAddress ? `, TLS port ${this.tlsAddress.port}` : ''}`,
    });
    this.jobs.kick();
    if (requeued > 0) void this.deliveries.runDue().catch((e: Error) => this.log.error('delivery sweep failed', { error: e.message }));
    return this.address;
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
    this.audit({ event: 'application-stop', outcome: 'success', calledAeTitle: this.config.node.aeTitle });
    this.store.close();
    // Let the last datagram (application-stop) leave before the socket goes.
    const sl = this.syslog;
    if (sl) setTimeout(() => sl.close(), 200).unref();
    markStopped(this.config.storage.dataDir);
    this.log.info('storage SCP stopped');
  }

  /**
   * A stable series takes its routes: a queued job per matching route, or an 'unrouted' record.
   * (Later stages pick queued jobs up; a series with late instances is routed again when it is
   * stable again, re-queuing its jobs.)
   */
  private route(series: SeriesRow): void {
    try {
      const row = this.store.seriesForRouting(series.seriesInstanceUid);
      if (!row) return;
      const { seriesInstanceUid, instanceCount, ...attributes } = row;
      const hits = routesFor({ attributes, instanceCount }, this.config.routes, this.config.routing);
      const reason = hits.length > 0 ? '' : `no route matched (${this.config.routes.length} configured)`;
      // Burned-in annotation: the route decides, and the decision is recorded, never silent.
      const risk = hits.length > 0 ? this.burnedInRisk(seriesInstanceUid, row.Modality) : [];
      const jobs = this.store.recordRouting(
        seriesInstanceUid,
        hits.map((r) => {
          const skip = risk.length > 0 && r.burnedInAnnotation === 'skip';
          const reason = risk.length === 0 ? null : `${skip ? 'skipped' : 'flagged'}: burned-in annotation risk (${risk.join('; ')})`;
          return { route: r.name, model: r.model, priority: r.priority, state: skip ? ('skipped' as const) : ('queued' as const), reason };
        }),
        reason,
        Date.now(),
      );
      if (hits.length > 0)
        this.log.info('series routed', {
          modality: row.Modality,
          instances: instanceCount,
          routes: hits.map((r) => r.name),
          urgent: hits.some((r) => r.priority === 'urgent'),
        });
      else this.log.info('series unrouted', { modality: row.Modality, instances: instanceCount, reason });
      this.emit('series-routed', { series, jobs });
      this.jobs.kick();
    } catch (e) {
      this.log.error('routing failed', { error: (e as Error).message });
    }
  }

  /** Burned-in annotation risk of a series, judged from its first instance's header. */
  private burnedInRisk(seriesUid: string, modality: string | null): string[] {
    const first = this.store.listInstances(seriesUid)[0];
    if (!first) return [];
    try {
      const head = readFileHead(first.filePath, 256 * 1024);
      const meta = readPart10Header(head);
      const h = readDatasetHeader(head.subarray(meta.datasetOffset), meta.transferSyntaxUid, {
        tags: { BurnedInAnnotation: 0x00280301, Modality: 0x00080060, SOPClassUID: 0x00080016 },
        totalLength: Number.MAX_SAFE_INTEGER,
      });
      return burnedInAnnotationRisk({
        burnedInAnnotation: h.attributes.BurnedInAnnotation,
        modality: h.attributes.Modality ?? modality ?? undefined,
        sopClassUid: h.attributes.SOPClassUID ?? first.sopClassUid,
        hasPixels: h.stoppedAt !== 'end', // a header longer than the head read counts as having pixels
      });
    } catch (e) {
      // Unreadable header: treat as a risk, so that a 'skip' route does not pass it on unchecked.
      return [`header could not be read (${(e as Error).message})`];
    }
  }

  /** Audit events go to SQLite; a failure to record one is logged, never fatal to DICOM traffic. */
  private audit(e: Omit<AuditEvent, 'at'>): void {
    const event: AuditEvent = { at: Date.now(), ...e };
    try {
      this.store.recordAudit(event);
    } catch (err) {
      this.log.error('could not record an audit event', { event: e.event, error: (err as Error).message });
    }
    this.syslog?.send({ ...event, node: this.config.node.aeTitle });
    const file = this.config.audit.file;
    if (file) {
      // One JSON object per line, appended synchronously: audit events are rare and must not be
      // reordered or lost in a buffer when the process ends.
      try {
        fs.appendFileSync(file, JSON.stringify({ ...event, at: new Date(event.at).toISOString(), node: this.config.node.aeTitle }) + '\n');
      } catch (err) {
        this.log.error('could not append to the audit file', { error: (err as Error).message });
      }
    }
  }

  /** Deletes the files of series delivered more than housekeeping.retentionDays ago. */
  runRetention(now = Date.now()): RetentionResult {
    const days = this.config.housekeeping.retentionDays;
    if (days === null) return { series: 0, files: 0, bytes: 0 };
    return runRetention(
      this.store,
      days,
      this.log,
      (seriesInstanceUid, detail) => this.audit({ event: 'series-purged', outcome: 'success', seriesInstanceUid, detail }),
      now,
    );
  }

  listSeries(): SeriesRow[] {
    return this.store.listSeries();
  }

  /** Temporary files of transfers that never completed (a crash mid-instance): never acknowledged. */
  private removeAbandonedPartials(dataDir: string): void {
    const dir = incomingDir(dataDir);
    fs.mkdirSync(dir, { recursive: true });
    let removed = 0;
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.part')) continue;
      fs.rmSync(path.join(dir, f), { force: true });
      removed++;
    }
    if (removed > 0) this.log.warn('removed partial files of unacknowledged transfers', { count: removed });
  }

  private wireEvents(): void {
    const log = this.log;
    const m = this.metrics;
    this.scp.on('store-result', (e: StoreResultEvent) => {
      m.storeResult(e.status, e.ms);
      if (e.status !== 0) {
        const a = e.association;
        this.audit({
          event: 'instance-refused',
          outcome: 'failure',
          callingAeTitle: a.callingAeTitle,
          remoteAddress: a.remoteAddress,
          associationId: a.id,
          detail: `status 0x${e.status.toString(16).padStart(4, '0')}, SOP class ${e.sopClassUid}`,
        });
      }
    });
    this.scp.on('association', (a: Association, contexts: { result: number }[]) => {
      log.info('association accepted', {
        association: a.id,
        callingAe: a.callingAeTitle,
        calledAe: a.calledAeTitle,
        remote: a.remoteAddress,
        contextsProposed: contexts.length,
        contextsAccepted: contexts.filter((c) => c.result === 0).length,
      });
    });
    this.scp.on('association-closed', (a: Association, reason: string) => {
      const endedAt = Date.now();
      const fields = {
        association: a.id,
        callingAe: a.callingAeTitle,
        remote: a.remoteAddress,
        instances: a.instancesReceived,
        bytes: a.bytesReceived,
        durationMs: endedAt - a.startedAt,
        outcome: reason,
      };
      m.associations.inc({ outcome: reason === 'released' ? 'released' : 'aborted' });
      m.bytes.inc({}, a.bytesReceived);
      if (reason === 'released') log.info('association released', fields);
      else log.warn('association ended abnormally', fields);
      try {
        // "DICOM Instances Transferred" (IHE ATNA): who sent which series, from where.
        for (const r of this.store.instancesByAssociation(a.id)) {
          this.audit({
            event: 'instances-received',
            outcome: 'success',
            callingAeTitle: a.callingAeTitle,
            calledAeTitle: a.calledAeTitle,
            remoteAddress: a.remoteAddress,
            associationId: a.id,
            studyInstanceUid: r.studyInstanceUid,
            seriesInstanceUid: r.seriesInstanceUid,
            instances: r.instances,
          });
        }
        this.store.recordAssociation({
          id: a.id,
          callingAeTitle: a.callingAeTitle,
          calledAeTitle: a.calledAeTitle,
          remoteAddress: a.remoteAddress,
          startedAt: a.startedAt,
          endedAt,
          instances: a.instancesReceived,
          bytes: a.bytesReceived,
          outcome: reason,
        });
      } catch (e) {
        log.error('could not record association', { association: a.id, error: (e as Error).message });
      }
    });
    this.scp.on('rejected', (r: RejectionEvent) => {
      m.rejected.inc({ reason: rejectionLabel(r) });
      this.audit({
        event: 'association-rejected',
        outcome: 'failure',
        callingAeTitle: r.callingAeTitle,
        calledAeTitle: r.calledAeTitle,
        remoteAddress: r.remoteAddress,
        detail: r.why,
      });
      log.warn('association rejected', {
        callingAe: r.callingAeTitle,
        calledAe: r.calledAeTitle,
        remote: r.remoteAddress,
        why: r.why,
        result: r.rejection.result,
        source: r.rejection.source,
        reason: r.rejection.reason,
      });
    });
    this.scp.on('tls-refused', (r: { remoteAddress: string; why: string }) => {
      m.rejected.inc({ reason: 'tls' });
      this.audit({ event: 'tls-refused', outcome: 'failure', remoteAddress: r.remoteAddress, detail: r.why });
      log.warn('TLS connection refused', { remote: r.remoteAddress, why: r.why });
    });
    this.scp.on('aborted', (a: Association, reason: string) => {
      m.associations.inc({ outcome: 'aborted' });
      m.bytes.inc({}, a.bytesReceived);
      log.warn('connection dropped before an association was established', { association: a.id, remote: a.remoteAddress, reason });
    });
  }
}

/** A low-cardinality label for a rejection (PS3.8 Table 9-21 source/reason). */
function rejectionLabel(r: RejectionEvent): string {
  const { source, reason } = r.rejection;
  if (source === 1 && reason === 3) return 'calling-ae-not-recognized';
  if (source === 1 && reason === 7) return 'called-ae-not-recognized';
  if (source === 1 && reason === 2) return 'application-context-not-supported';
  if (source === 3 && reason === 2) return 'local-limit-exceeded';
  if (source === 2 && reason === 2) return 'protocol-version-not-supported';
  return 'other';
}
