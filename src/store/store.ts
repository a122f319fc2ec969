// The one place that talks SQL. SQLite in WAL mode with versioned migrations; every state change
// is one transaction, so a crash between two steps resumes from the last committed one.

import Database from 'better-sqlite3';
import path from 'node:path';
import { MIGRATIONS } from './migrations';
import { chmodPrivateFile, ensurePrivateFile, mkdirPrivate } from '../private-files';

export type SeriesState = 'receiving' | 'stable';

export interface InstanceRecord {
  sopInstanceUid: string;
  sopClassUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  transferSyntaxUid: string;
  instanceNumber: number | null;
  filePath: string;
  sizeBytes: number;
  callingAeTitle: string;
  callingHost: string;
  associationId: string;
  receivedAt: number;
  /**
   * Why this instance's pixels may carry burned-in identifying text, judged from its header at
   * ingest (empty: no known risk). Absent or null: not judged (indexed before migration 8).
   */
  burnedInRisk?: readonly string[] | null;
}

/** Study/series attributes read from the data set (patient data: database only, never logs). */
export interface IndexAttributes {
  patientId?: string;
  patientName?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  accessionNumber?: string;
  studyDescription?: string;
  modality?: string;
  bodyPartExamined?: string;
  seriesDescription?: string;
  seriesNumber?: number | null;
  manufacturer?: string;
}

/** An indexed instance, with how many times it arrived (a re-send replaces the row and counts). */
export interface IndexedInstance extends InstanceRecord {
  receiveCount: number;
}

/** A study as indexed, from its latest instance (patient data: database only, never logs). */
export interface StudyRow {
  studyInstanceUid: string;
  patientId: string | null;
  patientName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  studyDate: string | null;
  studyTime: string | null;
  accessionNumber: string | null;
  studyDescription: string | null;
}

export interface SeriesRow {
  seriesInstanceUid: string;
  studyInstanceUid: string;
  modality: string | null;
  bodyPartExamined: string | null;
  seriesDescription: string | null;
  seriesNumber: number | null;
  callingAeTitle: string | null;
  state: SeriesState;
  instanceCount: number;
  totalBytes: number;
  firstReceivedAt: number;
  lastReceivedAt: number;
  stableAt: number | null;
}

export interface SeriesArrival {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  state: SeriesState;
  lastReceivedAt: number;
}

/** Where a page of series ended: the next page starts after this series (newest-first order). */
export interface SeriesCursor {
  lastReceivedAt: number;
  seriesInstanceUid: string;
}

export interface AssociationRecord {
  id: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  startedAt: number;
  endedAt: number;
  instances: number;
  bytes: number;
  outcome: string;
}

/** One audit event (IHE ATNA vocabulary where it applies). No patient names: UIDs, AEs, addresses. */
export interface AuditEvent {
  at: number;
  /** e.g. application-start, application-stop, association-rejected, instances-received, instance-refused, tls-refused */
  event: string;
  /** success | failure (with detail) */
  outcome: 'success' | 'failure';
  callingAeTitle?: string | null;
  calledAeTitle?: string | null;
  remoteAddress?: string | null;
  associationId?: string | null;
  studyInstanceUid?: string | null;
  seriesInstanceUid?: string | null;
  instances?: number | null;
  detail?: string | null;
}

export type JobState = 'queued' | 'unrouted' | 'processing' | 'done' | 'failed' | 'skipped';

export interface JobRow {
  id: number;
  seriesInstanceUid: string;
  /** '' for the unrouted record of a series. */
  route: string;
  model: string | null;
  priority: 'urgent' | 'normal';
  state: JobState;
  reason: string | null;
  /**
   * Set when the route's burned-in annotation policy is 'flag' and the series carries the risk:
   * the job runs, and the flag (this text) goes into its result. Null otherwise.
   */
  burnedInFlag: string | null;
  /** Which stack of the series the model was given, in words; null until the volume is made. */
  stack: string | null;
  runs: number;
  createdAt: number;
  updatedAt: number;
}

/** The attributes routing matches on, for one series (study ones included). */
export interface SeriesRoutingRow {
  seriesInstanceUid: string;
  Modality: string | null;
  BodyPartExamined: string | null;
  SeriesDescription: string | null;
  StudyDescription: string | null;
  Manufacturer: string | null;
  CallingAETitle: string | null;
  instanceCount: number;
}

export type DeliveryState = 'queued' | 'sending' | 'delivered' | 'failed';

export interface DeliveryRow {
  id: number;
  sopInstanceUid: string;
  sopClassUid: string;
  filePath: string;
  destination: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: number;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
  /** Other forms of the same report, in order of preference, for a destination that refuses this one's SOP class. */
  alternatives: DeliveryAlternative[];
}

export interface DeliveryAlternative {
  sopInstanceUid: string;
  sopClassUid: string;
  filePath: string;
  /**
   * This form leaves out the segment references; it is sent only when the destination does not
   * hold the Segmentation with this SOP Instance UID (refused, failed for good). delivery/queue.ts.
   */
  whenSegmentationMissing?: string;
}

export interface ResultRecord {
  jobId: number;
  seriesInstanceUid: string;
  model: string;
  modelVersion: string;
  modelSha256: string;
  executionProvider: string;
  preprocessing: string;
  deidentification: string;
  instancesHash: string;
  instanceCount: number;
  findings: number;
  lowConfidence: boolean;
  resultJson: string;
  durationMs: number;
}

export interface ReportRecord {
  sopInstanceUid: string;
  sopClassUid: string;
  form: string;
  seriesInstanceUid: string;
  model: string;
  modelVersion: string;
  revision: number;
  instancesHash: string;
  srSeriesInstanceUid: string;
  jobId: number;
  resultId: number;
  filePath: string;
  createdAt: number;
}

/** The dashboard's series filters; absent: any. `state` is a series state or a job state. */
export interface DashboardSeriesFilter {
  receivedFrom?: number;
  receivedBefore?: number;
  modality?: string;
  callingAeTitle?: string;
  state?: string;
}

export interface DashboardSeriesRow extends SeriesRow {
  patientName: string | null;
  studyDate: string | null;
  /** The states of the series' jobs, space-separated (null: not routed yet). */
  jobStates: string | null;
}

const JOB_COLUMNS = `id, series_uid AS seriesInstanceUid, route, model, priority, state, reason, burned_in_flag AS burnedInFlag, stack, runs,
  created_at AS createdAt, updated_at AS updatedAt`;

/**
 * The latest result's low-confidence reason (record-result.ts keeps it in the result JSON): the
 * plausibility flag "low confidence — outside the expected range: ..." or the uncertainty's.
 */
const LOW_CONFIDENCE_COLUMN = `(SELECT json_extract(r.result_json, '$.lowConfidenceReason') FROM results r
  WHERE r.job_id = jobs.id ORDER BY r.id DESC LIMIT 1) AS lowConfidence`;

/** Which jobs a page of /api/jobs holds (both: jobs of that series in that state). */
export interface JobFilter {
  state?: JobState;
  seriesUid?: string;
}

/** A job as /api/jobs lists it. */
export type JobListRow = JobRow & { lowConfidence: string | null };

/** A job the runner took: it has a model (unrouted records have none and are never claimed). */
export type ClaimedJob = JobRow & { model: string };

/** One job of a routing decision (see recordRouting). */
export interface RoutedJob {
  route: string;
  model: string;
  priority: 'urgent' | 'normal';
  state: 'queued' | 'skipped';
  reason: string | null;
  burnedInFlag: string | null;
}

const DELIVERY_COLUMNS = `id, sop_instance_uid AS sopInstanceUid, sop_class_uid AS sopClassUid, file_path AS filePath, destination, state,
  attempts, last_status AS lastStatus, last_error AS lastError, next_attempt_at AS nextAttemptAt, created_at AS createdAt,
  updated_at AS updatedAt, delivered_at AS deliveredAt, alternatives`;

const REPORT_COLUMNS = `sop_instance_uid AS sopInstanceUid, sop_class_uid AS sopClassUid, form, series_uid AS seriesInstanceUid, model,
  model_version AS modelVersion, revision, instances_hash AS instancesHash, sr_series_uid AS srSeriesInstanceUid, job_id AS jobId,
  result_id AS resultId, file_path AS filePath, created_at AS createdAt`;

type RawDelivery = Omit<DeliveryRow, 'alternatives'> & { alternatives: string | null };

function deliveryRow(r: RawDelivery): DeliveryRow {
  return { ...r, alternatives: r.alternatives ? (JSON.parse(r.alternatives) as DeliveryAlternative[]) : [] };
}

export class Store {
  // Private: every SQL statement stays in this module, and callers never see better-sqlite3 types.
  private readonly db: Database.Database;

  constructor(
    readonly file: string,
    options: { durableFiles?: boolean } = {},
  ) {
    mkdirPrivate(path.dirname(file));
    // The index holds names, IDs and birth dates: 0600. SQLite creates the -wal and -shm files with
    // the main file's mode, so the main file is made private before it is opened (created here
    // when new); those of an older install are tightened too.
    ensurePrivateFile(file);
    for (const companion of ['-wal', '-shm', '-journal']) chmodPrivateFile(file + companion);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a crash of the process (the WAL is written before the
    // response), but not necessarily a power loss. The instance files themselves are fsync'd
    // before success is answered, and after an unclean stop the node re-indexes any stored file
    // the database lost (ingest/reconcile.ts) — so nothing acknowledged is lost, without paying a
    // second fsync per instance on the event loop. With node.fsync off, SQLite does not sync either.
    this.db.pragma(options.durableFiles === false ? 'synchronous = OFF' : 'synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // Left at SQLite's defaults on purpose, measured with bench/index-pages.ts (issue 13):
    // wal_autocheckpoint 4000 instead of 1000 pages and cache_size 16 MB instead of 2 MB changed
    // neither the CPU per commit nor its p99 beyond run-to-run noise; mmap_size is not set because
    // mapped database pages count in the process's resident memory (the ingest memory target) and
    // the instance path reads few pages; temp_store does not matter (no temporary b-tree on it).
    this.migrate();
    // Made once: better-sqlite3 builds a new wrapper (and its four BEGIN/COMMIT/ROLLBACK variants)
    // on every db.transaction() call, which was a tenth of the CPU of an instance's index row.
    this.runInTransaction = this.db.transaction((work: () => unknown) => work());
    this.recordInTransaction = this.db.transaction((inst: InstanceRecord, attrs: IndexAttributes) => this.recordInstanceRows(inst, attrs));
  }

  private readonly statements = new Map<string, Database.Statement>();
  private readonly runInTransaction: Database.Transaction<(work: () => unknown) => unknown>;
  private readonly recordInTransaction: Database.Transaction<
    (inst: InstanceRecord, attrs: IndexAttributes) => { replacedFile: string | null }
  >;

  /** Prepared once, reused: the ingest path runs the same few statements for every instance. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Runs `work` (calls of this store's own methods) in one transaction: loading many rows at once
   * (benchmarks, imports). Each method's own transaction nests inside it as a savepoint.
   */
  inOneTransaction<T>(work: () => T): T {
    return this.runInTransaction(work) as T;
  }

  /** Proves the database takes writes (readiness): a write in a transaction that is rolled back. */
  probeWrite(): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.stmt('INSERT INTO schema_migrations (version, applied_at) VALUES (-1, 0)').run();
    } finally {
      this.db.exec('ROLLBACK');
    }
  }

  schemaVersion(): number {
    return (this.stmt('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const current = this.schemaVersion();
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.stmt('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, Date.now());
      })();
    }
  }

  /**
   * Indexes one durably written instance. The same SOP Instance UID again replaces the earlier
   * row (idempotent re-send); returns the file path of the copy it replaced when that differs.
   *
   * Runs once per C-STORE before its response, so it writes as few pages as it can (each page is
   * one WAL frame of the commit; bench/index-pages.ts counts them): the study row only when one
   * of its attributes changed, and, for an instance of a series already receiving with the same
   * attributes, only the series' arrival time and counts (recordArrival), which leaves the indexes
   * on state, purge and study untouched. Every row ends as the full upserts below would leave it.
   */
  recordInstance(inst: InstanceRecord, attrs: IndexAttributes): { replacedFile: string | null } {
    return this.recordInTransaction(inst, attrs);
  }

  private recordInstanceRows(inst: InstanceRecord, attrs: IndexAttributes): { replacedFile: string | null } {
    const previous = this.stmt(
      'SELECT file_path AS filePath, series_uid AS seriesUid, size_bytes AS sizeBytes FROM instances WHERE sop_instance_uid = ?',
    ).get(inst.sopInstanceUid) as { filePath: string; seriesUid: string; sizeBytes: number } | undefined;

    this.upsertStudy(inst, attrs);
    const sameSeries = !previous || previous.seriesUid === inst.seriesInstanceUid;
    const added = previous ? { count: 0, bytes: inst.sizeBytes - previous.sizeBytes } : { count: 1, bytes: inst.sizeBytes };
    if (!sameSeries || !this.recordArrival(inst, attrs, added)) {
      this.upsertSeries(inst, attrs);
      // Counts kept up to date incrementally (not recounted: that would grow with the series).
      const adjust = this.stmt('UPDATE series SET instance_count = instance_count + ?, total_bytes = total_bytes + ? WHERE series_uid = ?');
      if (sameSeries) adjust.run(added.count, added.bytes, inst.seriesInstanceUid);
      else {
        adjust.run(-1, -previous.sizeBytes, previous.seriesUid);
        adjust.run(1, inst.sizeBytes, inst.seriesInstanceUid);
      }
    }

    this.stmt(
      `INSERT INTO instances (sop_instance_uid, sop_class_uid, series_uid, transfer_syntax_uid, instance_number, file_path,
            size_bytes, calling_ae, calling_host, association_id, received_at, receive_count, burned_in_risk)
         VALUES (@sopInstanceUid, @sopClassUid, @seriesInstanceUid, @transferSyntaxUid, @instanceNumber, @filePath,
            @sizeBytes, @callingAeTitle, @callingHost, @associationId, @receivedAt, 1, @burnedInRisk)
         ON CONFLICT (sop_instance_uid) DO UPDATE SET
            sop_class_uid = excluded.sop_class_uid, series_uid = excluded.series_uid,
            transfer_syntax_uid = excluded.transfer_syntax_uid, instance_number = excluded.instance_number,
            file_path = excluded.file_path, size_bytes = excluded.size_bytes, calling_ae = excluded.calling_ae,
            calling_host = excluded.calling_host, association_id = excluded.association_id,
            received_at = excluded.received_at, receive_count = instances.receive_count + 1,
            burned_in_risk = excluded.burned_in_risk`,
    ).run({ ...inst, burnedInRisk: inst.burnedInRisk ? JSON.stringify(inst.burnedInRisk) : null });
    return { replacedFile: previous && previous.filePath !== inst.filePath ? previous.filePath : null };
  }

  /**
   * The study row from its latest instance. The update's WHERE skips a row whose attributes are
   * all unchanged (the usual case: every instance of a study repeats them), so that instance
   * writes no studies page; updated_at is then the time the attributes last changed (nothing
   * reads it for anything else).
   */
  private upsertStudy(inst: InstanceRecord, attrs: IndexAttributes): void {
    this.stmt(
      `INSERT INTO studies (study_uid, patient_id, patient_name, patient_birth_date, patient_sex, study_date, study_time,
            accession_number, study_description, created_at, updated_at)
         VALUES (@studyUid, @patientId, @patientName, @patientBirthDate, @patientSex, @studyDate, @studyTime,
            @accessionNumber, @studyDescription, @now, @now)
         ON CONFLICT (study_uid) DO UPDATE SET
            patient_id = excluded.patient_id, patient_name = excluded.patient_name,
            patient_birth_date = excluded.patient_birth_date, patient_sex = excluded.patient_sex,
            study_date = excluded.study_date, study_time = excluded.study_time,
            accession_number = excluded.accession_number, study_description = excluded.study_description,
            updated_at = excluded.updated_at
         WHERE patient_id IS NOT excluded.patient_id OR patient_name IS NOT excluded.patient_name
            OR patient_birth_date IS NOT excluded.patient_birth_date OR patient_sex IS NOT excluded.patient_sex
            OR study_date IS NOT excluded.study_date OR study_time IS NOT excluded.study_time
            OR accession_number IS NOT excluded.accession_number OR study_description IS NOT excluded.study_description`,
    ).run({
      studyUid: inst.studyInstanceUid,
      patientId: attrs.patientId ?? null,
      patientName: attrs.patientName ?? null,
      patientBirthDate: attrs.patientBirthDate ?? null,
      patientSex: attrs.patientSex ?? null,
      studyDate: attrs.studyDate ?? null,
      studyTime: attrs.studyTime ?? null,
      accessionNumber: attrs.accessionNumber ?? null,
      studyDescription: attrs.studyDescription ?? null,
      now: inst.receivedAt,
    });
  }

  private seriesParams(inst: InstanceRecord, attrs: IndexAttributes) {
    return {
      seriesUid: inst.seriesInstanceUid,
      modality: attrs.modality ?? null,
      bodyPart: attrs.bodyPartExamined ?? null,
      seriesDescription: attrs.seriesDescription ?? null,
      seriesNumber: attrs.seriesNumber ?? null,
      manufacturer: attrs.manufacturer ?? null,
      now: inst.receivedAt,
    };
  }

  /**
   * The steady state of a C-STORE: one more instance of a series that is receiving, not purged,
   * with the attributes it already has (an absent attribute keeps the stored one, as in
   * upsertSeries). Then upsertSeries would change nothing but last_received_at and the counts, so
   * only those are written: the SET names no column of series_receiving, series_unpurged or
   * series_study, and SQLite leaves an index alone when an UPDATE sets none of its columns.
   * last_received_at is still written for every instance — the stability sweep and the newest-
   * first order of /api/series read it, and a series must never turn stable while instances
   * still arrive. Returns false (nothing written) when the row is in any other state.
   */
  private recordArrival(inst: InstanceRecord, attrs: IndexAttributes, added: { count: number; bytes: number }): boolean {
    return (
      this.stmt(
        `UPDATE series SET last_received_at = MAX(last_received_at, @now),
            instance_count = instance_count + @count, total_bytes = total_bytes + @bytes
         WHERE series_uid = @seriesUid AND state = 'receiving' AND stable_at IS NULL AND purged_at IS NULL
            AND (@modality IS NULL OR modality IS @modality) AND (@bodyPart IS NULL OR body_part IS @bodyPart)
            AND (@seriesDescription IS NULL OR series_description IS @seriesDescription)
            AND (@seriesNumber IS NULL OR series_number IS @seriesNumber)
            AND (@manufacturer IS NULL OR manufacturer IS @manufacturer)`,
      ).run({ ...this.seriesParams(inst, attrs), count: added.count, bytes: added.bytes }).changes === 1
    );
  }

  /** A new instance (re)opens its series: stability is measured from the last arrival. */
  private upsertSeries(inst: InstanceRecord, attrs: IndexAttributes): void {
    this.stmt(
      `INSERT INTO series (series_uid, study_uid, modality, body_part, series_description, series_number, manufacturer,
            calling_ae, state, first_received_at, last_received_at, stable_at, state_changed_at)
         VALUES (@seriesUid, @studyUid, @modality, @bodyPart, @seriesDescription, @seriesNumber, @manufacturer,
            @callingAe, 'receiving', @now, @now, NULL, @now)
         ON CONFLICT (series_uid) DO UPDATE SET
            modality = COALESCE(excluded.modality, series.modality),
            body_part = COALESCE(excluded.body_part, series.body_part),
            series_description = COALESCE(excluded.series_description, series.series_description),
            series_number = COALESCE(excluded.series_number, series.series_number),
            manufacturer = COALESCE(excluded.manufacturer, series.manufacturer),
            last_received_at = MAX(series.last_received_at, excluded.last_received_at),
            state_changed_at = CASE WHEN series.state = 'receiving' THEN series.state_changed_at ELSE excluded.state_changed_at END,
            state = 'receiving',
            stable_at = NULL,
            purged_at = NULL`,
    ).run({ ...this.seriesParams(inst, attrs), studyUid: inst.studyInstanceUid, callingAe: inst.callingAeTitle });
  }

  /**
   * Marks every series quiet since `quietSince` (epoch ms) as stable, in one transaction, and
   * returns them. Runs from a timer; also right after start-up, so stability survives restarts.
   */
  markStableSeries(quietSince: number, now: number): SeriesRow[] {
    return this.db.transaction(() => {
      const due = this.stmt(
        // INDEXED BY: the few series still receiving, never a range of series_recent over every older series.
        `SELECT ${SERIES_COLUMNS} FROM series INDEXED BY series_receiving WHERE state = 'receiving' AND last_received_at <= ?
         ORDER BY last_received_at`,
      ).all(quietSince) as SeriesRow[];
      const upd = this.stmt(
        `UPDATE series SET state = 'stable', stable_at = ?, state_changed_at = ? WHERE series_uid = ? AND state = 'receiving'`,
      );
      for (const s of due) {
        upd.run(now, now, s.seriesInstanceUid);
        s.state = 'stable';
        s.stableAt = now;
      }
      return due;
    })();
  }

  /** When the next series would become stable (epoch ms of its last arrival), if any is receiving. */
  oldestReceivingSeriesAt(): number | null {
    const r = this.stmt(`SELECT MIN(last_received_at) AS t FROM series INDEXED BY series_receiving WHERE state = 'receiving'`).get() as {
      t: number | null;
    };
    return r.t;
  }

  seriesCountsByState(): { state: string; count: number }[] {
    // Two states only (the table's CHECK): receiving from its small partial index, stable as the
    // rest of a COUNT(*) that reads the narrowest index. Same rows as GROUP BY state: sorted by
    // state, none with a zero count.
    const { all, receiving } = this.stmt(
      `SELECT (SELECT COUNT(*) FROM series) AS "all",
         (SELECT COUNT(*) FROM series INDEXED BY series_receiving WHERE state = 'receiving') AS receiving`,
    ).get() as { all: number; receiving: number };
    return [
      { state: 'receiving', count: receiving },
      { state: 'stable', count: all - receiving },
    ].filter((r) => r.count > 0);
  }

  /** Every series, newest first. Small indexes only (tests, tools): operators page with listSeriesPage. */
  listSeries(): SeriesRow[] {
    return this.stmt(`SELECT ${SERIES_COLUMNS} FROM series ORDER BY last_received_at DESC, series_uid DESC`).all() as SeriesRow[];
  }

  /**
   * One page of series, newest first, after `after` (the last row of the previous page). Keyset
   * paging on the series_recent index: a page costs the same at the millionth instance as at the
   * first, where OFFSET would read and skip every earlier row.
   */
  listSeriesPage(limit: number, after?: SeriesCursor): { series: SeriesRow[]; next: SeriesCursor | null } {
    const rows = (
      after
        ? this.stmt(
            `SELECT ${SERIES_COLUMNS} FROM series WHERE (last_received_at, series_uid) < (?, ?)
             ORDER BY last_received_at DESC, series_uid DESC LIMIT ?`,
          ).all(after.lastReceivedAt, after.seriesInstanceUid, limit + 1)
        : this.stmt(`SELECT ${SERIES_COLUMNS} FROM series ORDER BY last_received_at DESC, series_uid DESC LIMIT ?`).all(limit + 1)
    ) as SeriesRow[];
    const series = rows.slice(0, limit);
    const last = series[series.length - 1];
    const next = rows.length > limit && last ? { lastReceivedAt: last.lastReceivedAt, seriesInstanceUid: last.seriesInstanceUid } : null;
    return { series, next };
  }

  /** Each indexed series' UIDs, state and latest indexed arrival (start-up repair). */
  seriesArrivals(): SeriesArrival[] {
    return this.stmt(
      'SELECT study_uid AS studyInstanceUid, series_uid AS seriesInstanceUid, state, last_received_at AS lastReceivedAt FROM series',
    ).all() as SeriesArrival[];
  }

  /** The indexed file paths of one series (start-up repair of that series' folder). */
  seriesFilePaths(seriesUid: string): Set<string> {
    return new Set(
      (this.stmt('SELECT file_path AS p FROM instances WHERE series_uid = ?').all(seriesUid) as { p: string }[]).map((r) => r.p),
    );
  }

  getSeries(seriesUid: string): SeriesRow | undefined {
    return this.stmt(`SELECT ${SERIES_COLUMNS} FROM series WHERE series_uid = ?`).get(seriesUid) as SeriesRow | undefined;
  }

  getInstance(sopInstanceUid: string): IndexedInstance | undefined {
    return this.stmt(`SELECT ${INSTANCE_COLUMNS}, i.receive_count AS receiveCount FROM instances i WHERE i.sop_instance_uid = ?`).get(
      sopInstanceUid,
    ) as IndexedInstance | undefined;
  }

  getStudy(studyUid: string): StudyRow | undefined {
    return this.stmt(
      `SELECT study_uid AS studyInstanceUid, patient_id AS patientId, patient_name AS patientName, patient_birth_date AS patientBirthDate,
         patient_sex AS patientSex, study_date AS studyDate, study_time AS studyTime, accession_number AS accessionNumber,
         study_description AS studyDescription
       FROM studies WHERE study_uid = ?`,
    ).get(studyUid) as StudyRow | undefined;
  }

  listInstances(seriesUid?: string): InstanceRecord[] {
    const where = seriesUid ? 'WHERE i.series_uid = ?' : '';
    const stmt = this.stmt(`SELECT ${INSTANCE_COLUMNS} FROM instances i ${where} ORDER BY i.instance_number, i.received_at`);
    return (seriesUid ? stmt.all(seriesUid) : stmt.all()) as InstanceRecord[];
  }

  recordAssociation(a: AssociationRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO associations (id, calling_ae, called_ae, remote_address, started_at, ended_at, instances, bytes, outcome)
         VALUES (@id, @callingAeTitle, @calledAeTitle, @remoteAddress, @startedAt, @endedAt, @instances, @bytes, @outcome)`,
      )
      .run(a);
  }

  recordAudit(e: AuditEvent): void {
    this.db
      .prepare(
        `INSERT INTO audit_events (at, event, outcome, calling_ae, called_ae, remote_address, association_id, study_uid, series_uid, instances, detail)
         VALUES (@at, @event, @outcome, @callingAeTitle, @calledAeTitle, @remoteAddress, @associationId, @studyInstanceUid, @seriesInstanceUid, @instances, @detail)`,
      )
      .run({
        callingAeTitle: null,
        calledAeTitle: null,
        remoteAddress: null,
        associationId: null,
        studyInstanceUid: null,
        seriesInstanceUid: null,
        instances: null,
        detail: null,
        ...e,
      });
  }

  listAudit(limit = 1000): AuditEvent[] {
    return this.db
      .prepare(
        `SELECT at, event, outcome, calling_ae AS callingAeTitle, called_ae AS calledAeTitle, remote_address AS remoteAddress,
           association_id AS associationId, study_uid AS studyInstanceUid, series_uid AS seriesInstanceUid, instances, detail
         FROM audit_events ORDER BY id DESC LIMIT ?`,
      )
      .all(limit) as AuditEvent[];
  }

  /** Instances an association delivered, per series (for the "instances received" audit events). */
  instancesByAssociation(associationId: string): { studyInstanceUid: string; seriesInstanceUid: string; instances: number }[] {
    return this.db
      .prepare(
        `SELECT s.study_uid AS studyInstanceUid, i.series_uid AS seriesInstanceUid, COUNT(*) AS instances
         FROM instances i JOIN series s ON s.series_uid = i.series_uid
         WHERE i.association_id = ? GROUP BY i.series_uid ORDER BY s.study_uid, i.series_uid`,
      )
      .all(associationId) as { studyInstanceUid: string; seriesInstanceUid: string; instances: number }[];
  }

  checkpoint(): { busy: number; log: number; checkpointed: number } {
    const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    return r!;
  }

  /** Online backup (better-sqlite3 copies pages while the node keeps writing). */
  async backupTo(file: string): Promise<void> {
    await this.db.backup(file);
  }

  seriesForRouting(seriesUid: string): SeriesRoutingRow | undefined {
    return this.stmt(
      `SELECT s.series_uid AS seriesInstanceUid, s.modality AS Modality, s.body_part AS BodyPartExamined,
         s.series_description AS SeriesDescription, st.study_description AS StudyDescription, s.manufacturer AS Manufacturer,
         s.calling_ae AS CallingAETitle, s.instance_count AS instanceCount
       FROM series s JOIN studies st ON st.study_uid = s.study_uid WHERE s.series_uid = ?`,
    ).get(seriesUid) as SeriesRoutingRow | undefined;
  }

  /**
   * Burned-in annotation risk of a series over every instance: the distinct reasons its judged
   * instances carry (any at risk puts the series at risk), and the instances not judged yet
   * (indexed before the risk was recorded at ingest), for the caller to judge from their files.
   */
  seriesBurnedInRisk(seriesUid: string): {
    reasons: string[];
    unjudged: { sopInstanceUid: string; sopClassUid: string; filePath: string }[];
  } {
    const judged = this.stmt(
      `SELECT DISTINCT burned_in_risk AS risk FROM instances WHERE series_uid = ? AND burned_in_risk IS NOT NULL AND burned_in_risk <> '[]'`,
    ).all(seriesUid) as { risk: string }[];
    const reasons = [...new Set(judged.flatMap((r) => JSON.parse(r.risk) as string[]))];
    const unjudged = this.stmt(
      `SELECT sop_instance_uid AS sopInstanceUid, sop_class_uid AS sopClassUid, file_path AS filePath
       FROM instances WHERE series_uid = ? AND burned_in_risk IS NULL ORDER BY instance_number, received_at`,
    ).all(seriesUid) as { sopInstanceUid: string; sopClassUid: string; filePath: string }[];
    return { reasons, unjudged };
  }

  /** Records the burned-in risk of an instance judged after ingest (see seriesBurnedInRisk). */
  setBurnedInRisk(sopInstanceUid: string, reasons: readonly string[]): void {
    this.stmt('UPDATE instances SET burned_in_risk = ? WHERE sop_instance_uid = ?').run(JSON.stringify(reasons), sopInstanceUid);
  }

  /**
   * Records the routing decision of a series that became stable, in one transaction: a queued job
   * per matching route (re-queued when the series was stable before and got new instances), or one
   * 'unrouted' row saying why nothing matched.
   */
  recordRouting(seriesUid: string, jobs: readonly RoutedJob[], unroutedReason: string, now: number): JobRow[] {
    return this.db.transaction(() => {
      if (jobs.length === 0) {
        this.stmt(
          `INSERT INTO jobs (series_uid, route, model, priority, state, reason, created_at, updated_at) VALUES (?, '', NULL, 'normal', 'unrouted', ?, ?, ?)
           ON CONFLICT (series_uid, route) DO UPDATE SET state = 'unrouted', reason = excluded.reason, burned_in_flag = NULL, updated_at = excluded.updated_at`,
        ).run(seriesUid, unroutedReason, now, now);
      } else {
        this.stmt(`DELETE FROM jobs WHERE series_uid = ? AND route = '' AND state = 'unrouted'`).run(seriesUid);
        const up = this.stmt(
          `INSERT INTO jobs (series_uid, route, model, priority, state, reason, burned_in_flag, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (series_uid, route) DO UPDATE SET state = excluded.state, model = excluded.model, priority = excluded.priority, reason = excluded.reason,
             burned_in_flag = excluded.burned_in_flag, updated_at = excluded.updated_at`,
        );
        for (const j of jobs) up.run(seriesUid, j.route, j.model, j.priority, j.state, j.reason, j.burnedInFlag, now, now);
      }
      return this.listJobs(seriesUid);
    })();
  }

  getJob(id: number): JobRow | undefined {
    return this.stmt(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
  }

  /** Jobs with, for those that made a result, why it is low confidence (null when it is not). */
  listJobs(seriesUid?: string): JobListRow[] {
    const cols = `${JOB_COLUMNS}, ${LOW_CONFIDENCE_COLUMN}`;
    return (
      seriesUid
        ? this.stmt(`SELECT ${cols} FROM jobs WHERE series_uid = ? ORDER BY id`).all(seriesUid)
        : this.stmt(`SELECT ${cols} FROM jobs ORDER BY CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, created_at, id`).all()
    ) as JobListRow[];
  }

  /**
   * One page of jobs, newest first (highest id), after job `afterId` (the last row of the previous
   * page), optionally only those in `filter.state` or of `filter.seriesUid`. Keyset paging on the
   * id: a new job gets a higher id, so it lands before any cursor already given out and never
   * shifts or repeats a later page; with the jobs_state_recent index a state filter reads only its
   * own rows. A page costs the same at 10,000 series as at ten.
   */
  listJobsPage(limit: number, filter: JobFilter = {}, afterId?: number): { jobs: JobListRow[]; next: number | null } {
    const conditions: [string, string | number | undefined][] = [
      ['state = ?', filter.state],
      ['series_uid = ?', filter.seriesUid],
      ['id < ?', afterId],
    ];
    const used = conditions.filter(([, v]) => v !== undefined && v !== '');
    const where = used.map(([sql]) => sql);
    const args = used.map(([, v]) => v!);
    const rows = this.stmt(
      `SELECT ${JOB_COLUMNS}, ${LOW_CONFIDENCE_COLUMN} FROM jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT ?`,
    ).all(...args, limit + 1) as JobListRow[];
    const jobs = rows.slice(0, limit);
    const last = jobs[jobs.length - 1];
    return { jobs, next: rows.length > limit && last ? last.id : null };
  }

  /** The newest `limit` jobs, in queue order (urgent first, then oldest): status at any size of the index. */
  listRecentJobs(limit: number): JobRow[] {
    return this.stmt(
      `SELECT * FROM (SELECT ${JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?)
       ORDER BY CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, createdAt, id`,
    ).all(limit) as JobRow[];
  }

  /**
   * Puts a failed or skipped job back in the queue (an operator's decision, e.g. after fixing a
   * model or accepting a burned-in risk). Returns the job, or why it cannot be retried.
   */
  retryJob(id: number, now: number): { job: JobRow } | { error: string } {
    return this.db.transaction(() => {
      const job = this.getJob(id);
      if (!job) return { error: `no job ${id}` };
      if (job.state !== 'failed' && job.state !== 'skipped')
        return { error: `job ${id} is ${job.state}; only failed or skipped jobs can be retried` };
      this.stmt(`UPDATE jobs SET state = 'queued', reason = ?, updated_at = ? WHERE id = ?`).run(
        `retried by an operator (was ${job.state}${job.reason ? `: ${job.reason}` : ''})`,
        now,
        id,
      );
      return { job: this.getJob(id)! };
    })();
  }

  /**
   * Queues an instance for a destination. The same instance for the same destination is one
   * delivery: enqueuing it again re-queues it (a resend of an unchanged object is harmless: the
   * receiver replaces it), unless it is being sent right now.
   */
  enqueueDelivery(
    d: { sopInstanceUid: string; sopClassUid: string; filePath: string; destination: string; alternatives?: DeliveryAlternative[] },
    now: number,
  ): DeliveryRow {
    this.stmt(
      `INSERT INTO deliveries (sop_instance_uid, sop_class_uid, file_path, destination, state, attempts, next_attempt_at, created_at, updated_at, alternatives)
       VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)
       ON CONFLICT (sop_instance_uid, destination) DO UPDATE SET
         file_path = excluded.file_path, sop_class_uid = excluded.sop_class_uid, alternatives = excluded.alternatives,
         state = CASE WHEN deliveries.state = 'sending' THEN 'sending' ELSE 'queued' END,
         attempts = CASE WHEN deliveries.state = 'sending' THEN deliveries.attempts ELSE 0 END,
         next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at`,
    ).run(
      d.sopInstanceUid,
      d.sopClassUid,
      d.filePath,
      d.destination,
      now,
      now,
      now,
      d.alternatives && d.alternatives.length > 0 ? JSON.stringify(d.alternatives) : null,
    );
    return deliveryRow(
      this.stmt(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE sop_instance_uid = ? AND destination = ?`).get(
        d.sopInstanceUid,
        d.destination,
      ) as RawDelivery,
    );
  }

  /** Takes every due delivery (state queued, time come) and marks it sending, in one transaction. */
  claimDueDeliveries(now: number, limit = 500): DeliveryRow[] {
    return this.db.transaction(() => {
      const due = (
        this.stmt(
          `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
        ).all(now, limit) as RawDelivery[]
      ).map(deliveryRow);
      const mark = this.stmt(`UPDATE deliveries SET state = 'sending', updated_at = ? WHERE id = ?`);
      for (const d of due) mark.run(now, d.id);
      return due.map((d) => ({ ...d, state: 'sending' as const }));
    })();
  }

  markDelivered(id: number, status: number, now: number): void {
    this.stmt(
      `UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?, last_error = NULL, delivered_at = ?, updated_at = ? WHERE id = ?`,
    ).run(status, now, now, id);
  }

  /** A failed attempt: back in the queue at `nextAttemptAt`, or failed for good when none is left. */
  markAttemptFailed(id: number, status: number | null, error: string, nextAttemptAt: number | null, now: number): void {
    this.stmt(
      `UPDATE deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, state = ?, next_attempt_at = COALESCE(?, next_attempt_at), updated_at = ? WHERE id = ?`,
    ).run(status, error, nextAttemptAt === null ? 'failed' : 'queued', nextAttemptAt, now, id);
  }

  /** The delivery of one object to one destination, if it was ever queued. */
  deliveryOf(sopInstanceUid: string, destination: string): DeliveryRow | undefined {
    const r = this.stmt(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE sop_instance_uid = ? AND destination = ?`).get(
      sopInstanceUid,
      destination,
    ) as RawDelivery | undefined;
    return r ? deliveryRow(r) : undefined;
  }

  /** Not attempted yet (it waits for another delivery): back in the queue at `nextAttemptAt`, no attempt counted. */
  deferDelivery(id: number, nextAttemptAt: number, reason: string, now: number): void {
    this.stmt(`UPDATE deliveries SET state = 'queued', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?`).run(
      nextAttemptAt,
      reason,
      now,
      id,
    );
  }

  /** After a crash, deliveries caught mid-send go back to the queue (a resend replaces, never duplicates). */
  requeueInterruptedDeliveries(now: number): number {
    return this.stmt(`UPDATE deliveries SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE state = 'sending'`).run(now, now)
      .changes;
  }

  listDeliveries(): DeliveryRow[] {
    return (this.stmt(`SELECT ${DELIVERY_COLUMNS} FROM deliveries ORDER BY id`).all() as RawDelivery[]).map(deliveryRow);
  }

  /** The newest `limit` deliveries, oldest of them first (status at any size of the index). */
  listRecentDeliveries(limit: number): DeliveryRow[] {
    return (this.stmt(`SELECT ${DELIVERY_COLUMNS} FROM deliveries ORDER BY id DESC LIMIT ?`).all(limit) as RawDelivery[])
      .map(deliveryRow)
      .reverse();
  }

  /**
   * Series whose instances may go: stable, not purged yet, at least one job done and none queued,
   * processing or failed, at least one report delivery, and every report delivery delivered
   * before `deliveredBefore`. A series with anything undelivered is never a candidate. At most
   * `limit`, in series UID order after `afterSeriesUid` (the last of the previous batch): each
   * batch walks the unpurged-series index only as far as it needs, whatever the size of the index.
   */
  retentionCandidates(deliveredBefore: number, limit = 500, afterSeriesUid = ''): string[] {
    return (
      this.stmt(
        `SELECT s.series_uid AS uid FROM series s
         WHERE s.state = 'stable' AND s.purged_at IS NULL AND s.series_uid > ?
           AND EXISTS (SELECT 1 FROM jobs j WHERE j.series_uid = s.series_uid AND j.state = 'done')
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.series_uid = s.series_uid AND j.state IN ('queued', 'processing', 'failed'))
           AND EXISTS (SELECT 1 FROM reports r JOIN deliveries d ON d.sop_instance_uid = r.sop_instance_uid WHERE r.series_uid = s.series_uid)
           AND NOT EXISTS (SELECT 1 FROM reports r JOIN deliveries d ON d.sop_instance_uid = r.sop_instance_uid
                           WHERE r.series_uid = s.series_uid AND (d.state != 'delivered' OR d.delivered_at > ?))
         ORDER BY s.series_uid LIMIT ?`,
      ).all(afterSeriesUid, deliveredBefore, limit) as { uid: string }[]
    ).map((r) => r.uid);
  }

  /** Files that belong to a series: its instances, its report files, its key images. */
  seriesFiles(seriesUid: string): { instances: string[]; reports: string[]; keyImages: string[] } {
    const instances = (this.stmt('SELECT file_path AS p FROM instances WHERE series_uid = ?').all(seriesUid) as { p: string }[]).map(
      (r) => r.p,
    );
    const reports = (this.stmt('SELECT file_path AS p FROM reports WHERE series_uid = ?').all(seriesUid) as { p: string }[]).map(
      (r) => r.p,
    );
    const keyImages = (
      this.stmt(
        `SELECT json_extract(result_json, '$.keyImage') AS p FROM results WHERE series_uid = ? AND json_extract(result_json, '$.keyImage') IS NOT NULL`,
      ).all(seriesUid) as { p: string }[]
    ).map((r) => r.p);
    return { instances, reports, keyImages };
  }

  /** After the files are gone: the instance rows go, the series keeps its history and says when. */
  markSeriesPurged(seriesUid: string, now: number): number {
    return this.db.transaction(() => {
      const n = this.stmt('DELETE FROM instances WHERE series_uid = ?').run(seriesUid).changes;
      this.stmt('UPDATE series SET purged_at = ? WHERE series_uid = ?').run(now, seriesUid);
      return n;
    })();
  }

  /** Queued deliveries that have failed at least once (waiting for their backoff). */
  deliveryRetryBacklog(): number {
    return (this.stmt(`SELECT COUNT(*) AS n FROM deliveries WHERE state = 'queued' AND attempts > 0`).get() as { n: number }).n;
  }

  /** An operator's retry of a failed delivery (or of every failed one): queued again, attempts reset. */
  retryDeliveries(id: number | 'all-failed', now: number): number {
    return id === 'all-failed'
      ? this.stmt(`UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE state = 'failed'`).run(
          now,
          now,
        ).changes
      : this.stmt(
          `UPDATE deliveries SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'failed'`,
        ).run(now, now, id).changes;
  }

  deliveryCountsByState(): { state: string; count: number }[] {
    return this.stmt('SELECT state, COUNT(*) AS count FROM deliveries GROUP BY state').all() as { state: string; count: number }[];
  }

  /**
   * Takes the next queued job (urgent first, then oldest) whose model is one of `models` and not
   * in `busyModels`, and marks it processing, in one transaction. The selection is SQL's: however
   * many jobs of unloaded or busy models wait ahead, a runnable one is found.
   */
  claimNextJob(models: readonly string[], busyModels: ReadonlySet<string>, now: number): ClaimedJob | undefined {
    return this.db.transaction(() => {
      const next = this.stmt(
        `SELECT id FROM jobs
         WHERE state = 'queued'
           AND model IN (SELECT value FROM json_each(?))
           AND model NOT IN (SELECT value FROM json_each(?))
         ORDER BY CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, created_at, id
         LIMIT 1`,
      ).get(JSON.stringify(models), JSON.stringify([...busyModels])) as { id: number } | undefined;
      if (!next) return undefined;
      this.stmt(`UPDATE jobs SET state = 'processing', runs = runs + 1, updated_at = ? WHERE id = ?`).run(now, next.id);
      const job = this.getJob(next.id);
      return job && job.model !== null ? { ...job, model: job.model } : undefined;
    })();
  }

  /** Which stack of the series a running job's model is given (several stacks in one series). */
  setJobStack(id: number, stack: string): void {
    this.stmt(`UPDATE jobs SET stack = ? WHERE id = ?`).run(stack, id);
  }

  /** Ends a job run: done, failed or skipped (with why), or back to queued (e.g. the series changed meanwhile). */
  finishJob(id: number, state: 'done' | 'failed' | 'queued' | 'skipped', reason: string | null, now: number): void {
    this.stmt(`UPDATE jobs SET state = ?, reason = ?, updated_at = ? WHERE id = ? AND state = 'processing'`).run(state, reason, now, id);
  }

  /** After a crash, jobs caught mid-run go back to the queue (the report UIDs make a rerun idempotent). */
  requeueInterruptedJobs(now: number): number {
    return this.stmt(
      `UPDATE jobs SET state = 'queued', reason = 'interrupted by a stop; run again', updated_at = ?
       WHERE state = 'processing'`,
    ).run(now).changes;
  }

  recordResult(r: ResultRecord, now: number): number {
    return Number(
      this.stmt(
        `INSERT INTO results (job_id, series_uid, model, model_version, model_sha256, execution_provider, preprocessing, deidentification,
           instances_hash, instance_count, findings, low_confidence, result_json, duration_ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        r.jobId,
        r.seriesInstanceUid,
        r.model,
        r.modelVersion,
        r.modelSha256,
        r.executionProvider,
        r.preprocessing,
        r.deidentification,
        r.instancesHash,
        r.instanceCount,
        r.findings,
        r.lowConfidence ? 1 : 0,
        r.resultJson,
        r.durationMs,
        now,
      ).lastInsertRowid,
    );
  }

  latestResult(jobId: number): (ResultRecord & { id: number; createdAt: number }) | undefined {
    const r = this.stmt(
      `SELECT id, job_id AS jobId, series_uid AS seriesInstanceUid, model, model_version AS modelVersion, model_sha256 AS modelSha256,
         execution_provider AS executionProvider, preprocessing, deidentification, instances_hash AS instancesHash, instance_count AS instanceCount,
         findings, low_confidence AS lowConfidence, result_json AS resultJson, duration_ms AS durationMs, created_at AS createdAt
       FROM results WHERE job_id = ? ORDER BY id DESC LIMIT 1`,
    ).get(jobId) as (ResultRecord & { id: number; createdAt: number; lowConfidence: unknown }) | undefined;
    return r ? { ...r, lowConfidence: Boolean(r.lowConfidence) } : undefined;
  }

  /** The newest report revision of (series, model, version): every form of it. */
  latestReports(seriesUid: string, model: string, modelVersion: string): ReportRecord[] {
    const top = this.stmt(`SELECT MAX(revision) AS r FROM reports WHERE series_uid = ? AND model = ? AND model_version = ?`).get(
      seriesUid,
      model,
      modelVersion,
    ) as { r: number | null };
    if (top.r === null) return [];
    return this.stmt(
      `SELECT ${REPORT_COLUMNS} FROM reports WHERE series_uid = ? AND model = ? AND model_version = ? AND revision = ? ORDER BY created_at, form`,
    ).all(seriesUid, model, modelVersion, top.r) as ReportRecord[];
  }

  reportsOfRevision(seriesUid: string, model: string, modelVersion: string, revision: number): ReportRecord[] {
    return this.stmt(
      `SELECT ${REPORT_COLUMNS} FROM reports WHERE series_uid = ? AND model = ? AND model_version = ? AND revision = ? ORDER BY form`,
    ).all(seriesUid, model, modelVersion, revision) as ReportRecord[];
  }

  listReports(seriesUid?: string): ReportRecord[] {
    return (
      seriesUid
        ? this.stmt(`SELECT ${REPORT_COLUMNS} FROM reports WHERE series_uid = ? ORDER BY created_at, revision, form`).all(seriesUid)
        : this.stmt(`SELECT ${REPORT_COLUMNS} FROM reports ORDER BY created_at, revision, form`).all()
    ) as ReportRecord[];
  }

  /**
   * Records the report files of one revision and queues their delivery, then marks the job done:
   * one transaction, so that after a crash either all of it happened or the job runs again (and
   * builds the same objects under the same UIDs).
   */
  recordReportAndDeliveries(
    jobId: number,
    reports: Omit<ReportRecord, 'createdAt'>[],
    deliveries: {
      sopInstanceUid: string;
      sopClassUid: string;
      filePath: string;
      destination: string;
      alternatives: DeliveryAlternative[];
    }[],
    now: number,
  ): void {
    this.db.transaction(() => {
      const ins = this.stmt(
        `INSERT INTO reports (sop_instance_uid, sop_class_uid, form, series_uid, model, model_version, revision, instances_hash, sr_series_uid, job_id, result_id, file_path, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sop_instance_uid) DO UPDATE SET file_path = excluded.file_path, result_id = excluded.result_id, job_id = excluded.job_id`,
      );
      for (const r of reports) {
        ins.run(
          r.sopInstanceUid,
          r.sopClassUid,
          r.form,
          r.seriesInstanceUid,
          r.model,
          r.modelVersion,
          r.revision,
          r.instancesHash,
          r.srSeriesInstanceUid,
          r.jobId,
          r.resultId,
          r.filePath,
          now,
        );
      }
      for (const d of deliveries) this.enqueueDelivery(d, now);
      this.finishJob(jobId, 'done', null, now);
    })();
  }

  jobCountsByState(): { state: string; count: number }[] {
    return this.stmt('SELECT state, COUNT(*) AS count FROM jobs GROUP BY state').all() as { state: string; count: number }[];
  }

  countAssociations(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM associations').get() as { n: number }).n;
  }

  // The operator's dashboard (src/admin/ui/): read-only queries of their own, so that its paging
  // and filters never change what the JSON API or the pipeline read.

  /** One page of series, newest first, with the study's patient name and date and the jobs' states. */
  dashboardSeries(f: DashboardSeriesFilter, limit: number, offset: number): { rows: DashboardSeriesRow[]; total: number } {
    const { where, args, add } = conditions();
    if (f.receivedFrom !== undefined) add('s.last_received_at >= ?', f.receivedFrom);
    if (f.receivedBefore !== undefined) add('s.first_received_at < ?', f.receivedBefore);
    if (f.modality) add('s.modality = ?', f.modality);
    if (f.callingAeTitle) add('s.calling_ae = ?', f.callingAeTitle);
    if (f.state === 'receiving' || f.state === 'stable') add('s.state = ?', f.state);
    else if (f.state) add('s.series_uid IN (SELECT series_uid FROM jobs WHERE state = ?)', f.state);
    const w = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM series s ${w}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(
        `SELECT ${DASHBOARD_SERIES_COLUMNS}, st.patient_name AS patientName, st.study_date AS studyDate,
           (SELECT group_concat(j.state, ' ') FROM jobs j WHERE j.series_uid = s.series_uid) AS jobStates
         FROM series s JOIN studies st ON st.study_uid = s.study_uid ${w}
         ORDER BY s.last_received_at DESC, s.series_uid LIMIT ? OFFSET ?`,
      )
      .all(...args, limit, offset) as DashboardSeriesRow[];
    return { rows, total };
  }

  /** Every delivery of a series' reports and key images, with the object's form and revision. */
  deliveriesOfSeries(seriesUid: string): (DeliveryRow & { form: string; revision: number })[] {
    return (
      this.stmt(
        `SELECT ${DASHBOARD_DELIVERY_COLUMNS}, r.form, r.revision
         FROM reports r JOIN deliveries d ON d.sop_instance_uid = r.sop_instance_uid
         WHERE r.series_uid = ? ORDER BY d.id`,
      ).all(seriesUid) as (RawDelivery & { form: string; revision: number })[]
    ).map((r) => ({ ...deliveryRow(r), form: r.form, revision: r.revision }));
  }

  /** Deliveries in one state, newest change first, with the series their object was made from. */
  deliveriesInState(state: DeliveryState, limit: number): (DeliveryRow & { seriesInstanceUid: string | null; form: string | null })[] {
    return (
      this.stmt(
        `SELECT ${DASHBOARD_DELIVERY_COLUMNS}, r.series_uid AS seriesInstanceUid, r.form
         FROM deliveries d LEFT JOIN reports r ON r.sop_instance_uid = d.sop_instance_uid
         WHERE d.state = ? ORDER BY d.updated_at DESC, d.id DESC LIMIT ?`,
      ).all(state, limit) as (RawDelivery & { seriesInstanceUid: string | null; form: string | null })[]
    ).map((r) => ({ ...deliveryRow(r), seriesInstanceUid: r.seriesInstanceUid, form: r.form }));
  }

  getDelivery(id: number): DeliveryRow | undefined {
    const r = this.stmt(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`).get(id) as RawDelivery | undefined;
    return r ? deliveryRow(r) : undefined;
  }

  /** The series a report or key image was made from (a delivery names only its object). */
  seriesOfReport(sopInstanceUid: string): string | undefined {
    return (this.stmt('SELECT series_uid AS s FROM reports WHERE sop_instance_uid = ?').get(sopInstanceUid) as { s: string } | undefined)
      ?.s;
  }

  /** Audit events, newest first, filtered by event name, either AE title, and time. */
  queryAudit(
    f: { event?: string; aeTitle?: string; from?: number; before?: number; seriesInstanceUid?: string },
    limit: number,
  ): AuditEvent[] {
    const { where, args, add } = conditions();
    if (f.event) add('event = ?', f.event);
    if (f.aeTitle) add('(calling_ae = ? OR called_ae = ?)', f.aeTitle, f.aeTitle);
    if (f.from !== undefined) add('at >= ?', f.from);
    if (f.before !== undefined) add('at < ?', f.before);
    if (f.seriesInstanceUid) add('series_uid = ?', f.seriesInstanceUid);
    return this.db
      .prepare(
        `SELECT at, event, outcome, calling_ae AS callingAeTitle, called_ae AS calledAeTitle, remote_address AS remoteAddress,
           association_id AS associationId, study_uid AS studyInstanceUid, series_uid AS seriesInstanceUid, instances, detail
         FROM audit_events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      )
      .all(...args, limit) as AuditEvent[];
  }

  /** Audit events since `since`, counted per (event, outcome): what needs attention. */
  auditCountsSince(since: number): { event: string; outcome: string; count: number }[] {
    return this.stmt(`SELECT event, outcome, COUNT(*) AS count FROM audit_events WHERE at >= ? GROUP BY event, outcome`).all(since) as {
      event: string;
      outcome: string;
      count: number;
    }[];
  }

  /** Instances received (by associations that ended) and jobs finished, per bucket of `bucketMs` since `since`. */
  activitySince(since: number, bucketMs: number): { instances: { bucket: number; n: number }[]; jobs: { bucket: number; n: number }[] } {
    const instances = this.stmt(
      `SELECT CAST((ended_at - ?) / ? AS INTEGER) AS bucket, SUM(instances) AS n FROM associations WHERE ended_at >= ? GROUP BY bucket`,
    ).all(since, bucketMs, since) as { bucket: number; n: number }[];
    const jobs = this.stmt(
      `SELECT CAST((created_at - ?) / ? AS INTEGER) AS bucket, COUNT(*) AS n FROM results WHERE created_at >= ? GROUP BY bucket`,
    ).all(since, bucketMs, since) as { bucket: number; n: number }[];
    return { instances, jobs };
  }
}

const SERIES_COLUMNS = `series_uid AS seriesInstanceUid, study_uid AS studyInstanceUid, modality, body_part AS bodyPartExamined,
  series_description AS seriesDescription, series_number AS seriesNumber, calling_ae AS callingAeTitle, state,
  instance_count AS instanceCount, total_bytes AS totalBytes, first_received_at AS firstReceivedAt,
  last_received_at AS lastReceivedAt, stable_at AS stableAt`;

const INSTANCE_COLUMNS = `i.sop_instance_uid AS sopInstanceUid, i.sop_class_uid AS sopClassUid, i.series_uid AS seriesInstanceUid,
  (SELECT study_uid FROM series s WHERE s.series_uid = i.series_uid) AS studyInstanceUid,
  i.transfer_syntax_uid AS transferSyntaxUid, i.instance_number AS instanceNumber, i.file_path AS filePath,
  i.size_bytes AS sizeBytes, i.calling_ae AS callingAeTitle, i.calling_host AS callingHost,
  i.association_id AS associationId, i.received_at AS receivedAt`;

// The same columns for queries that join: the dashboard's series (s) and deliveries (d).
const DASHBOARD_SERIES_COLUMNS = `s.series_uid AS seriesInstanceUid, s.study_uid AS studyInstanceUid, s.modality, s.body_part AS bodyPartExamined,
  s.series_description AS seriesDescription, s.series_number AS seriesNumber, s.calling_ae AS callingAeTitle, s.state,
  s.instance_count AS instanceCount, s.total_bytes AS totalBytes, s.first_received_at AS firstReceivedAt,
  s.last_received_at AS lastReceivedAt, s.stable_at AS stableAt`;

const DASHBOARD_DELIVERY_COLUMNS = `d.id, d.sop_instance_uid AS sopInstanceUid, d.sop_class_uid AS sopClassUid, d.file_path AS filePath,
  d.destination, d.state, d.attempts, d.last_status AS lastStatus, d.last_error AS lastError, d.next_attempt_at AS nextAttemptAt,
  d.created_at AS createdAt, d.updated_at AS updatedAt, d.delivered_at AS deliveredAt, d.alternatives`;

/** A WHERE clause built from optional filters, each a condition with its bound values. */
function conditions(): { where: string[]; args: (string | number)[]; add: (clause: string, ...values: (string | number)[]) => void } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  return {
    where,
    args,
    add: (clause, ...values) => {
      where.push(clause);
      args.push(...values);
    },
  };
}
