// Versioned schema migrations, applied in order, each in one transaction. Never edit a released
// migration: add the next version instead. Times are epoch milliseconds (UTC).

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'studies, series with stability state, instances, associations',
    sql: `
      CREATE TABLE studies (
        study_uid TEXT PRIMARY KEY,
        patient_id TEXT,
        patient_name TEXT,
        patient_birth_date TEXT,
        patient_sex TEXT,
        study_date TEXT,
        study_time TEXT,
        accession_number TEXT,
        study_description TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE series (
        series_uid TEXT PRIMARY KEY,
        study_uid TEXT NOT NULL REFERENCES studies (study_uid),
        modality TEXT,
        body_part TEXT,
        series_description TEXT,
        series_number INTEGER,
        manufacturer TEXT,
        calling_ae TEXT,
        state TEXT NOT NULL CHECK (state IN ('receiving', 'stable')),
        instance_count INTEGER NOT NULL DEFAULT 0,
        total_bytes INTEGER NOT NULL DEFAULT 0,
        first_received_at INTEGER NOT NULL,
        last_received_at INTEGER NOT NULL,
        stable_at INTEGER,
        state_changed_at INTEGER NOT NULL
      );
      CREATE INDEX series_state_last ON series (state, last_received_at);
      CREATE INDEX series_study ON series (study_uid);
      CREATE TABLE instances (
        sop_instance_uid TEXT PRIMARY KEY,
        sop_class_uid TEXT NOT NULL,
        series_uid TEXT NOT NULL REFERENCES series (series_uid),
        transfer_syntax_uid TEXT NOT NULL,
        instance_number INTEGER,
        file_path TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        calling_ae TEXT NOT NULL,
        calling_host TEXT NOT NULL,
        association_id TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 1
      );
      CREATE INDEX instances_series ON instances (series_uid);
      CREATE TABLE associations (
        id TEXT PRIMARY KEY,
        calling_ae TEXT NOT NULL,
        called_ae TEXT NOT NULL,
        remote_address TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER NOT NULL,
        instances INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        outcome TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'audit trail (IHE ATNA-style events: who sent what, from where, with which outcome)',
    sql: `
      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        event TEXT NOT NULL,
        outcome TEXT NOT NULL,
        calling_ae TEXT,
        called_ae TEXT,
        remote_address TEXT,
        association_id TEXT,
        study_uid TEXT,
        series_uid TEXT,
        instances INTEGER,
        detail TEXT
      );
      CREATE INDEX audit_events_at ON audit_events (at);
      CREATE INDEX audit_events_study ON audit_events (study_uid);
    `,
  },
  {
    version: 3,
    description: 'pipeline jobs: one per (series, route), or one unrouted row per series',
    sql: `
      CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        series_uid TEXT NOT NULL REFERENCES series (series_uid),
        route TEXT NOT NULL,
        model TEXT,
        priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('urgent', 'normal')),
        state TEXT NOT NULL CHECK (state IN ('queued', 'unrouted', 'processing', 'done', 'failed', 'skipped')),
        reason TEXT,
        runs INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (series_uid, route)
      );
      CREATE INDEX jobs_state ON jobs (state, priority, created_at);
    `,
  },
  {
    version: 4,
    description: 'deliveries: one row per (instance, destination), with attempts and backoff',
    sql: `
      CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sop_instance_uid TEXT NOT NULL,
        sop_class_uid TEXT NOT NULL,
        file_path TEXT NOT NULL,
        destination TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        next_attempt_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        delivered_at INTEGER,
        UNIQUE (sop_instance_uid, destination)
      );
      CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
    `,
  },
  {
    version: 5,
    description: 'results and reports: one result per job run, one SR file per (report, form); delivery fallbacks',
    sql: `
      CREATE TABLE results (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES jobs (id),
        series_uid TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        execution_provider TEXT NOT NULL,
        preprocessing TEXT NOT NULL,
        deidentification TEXT NOT NULL,
        instances_hash TEXT NOT NULL,
        instance_count INTEGER NOT NULL,
        findings INTEGER NOT NULL,
        low_confidence INTEGER NOT NULL,
        result_json TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX results_job ON results (job_id);
      CREATE TABLE reports (
        sop_instance_uid TEXT PRIMARY KEY,
        sop_class_uid TEXT NOT NULL,
        form TEXT NOT NULL,
        series_uid TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        revision INTEGER NOT NULL,
        instances_hash TEXT NOT NULL,
        sr_series_uid TEXT NOT NULL,
        job_id INTEGER NOT NULL,
        result_id INTEGER NOT NULL,
        file_path TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX reports_series ON reports (series_uid, model, model_version, revision);
      ALTER TABLE deliveries ADD COLUMN alternatives TEXT;
    `,
  },
  {
    version: 6,
    description: "retention: when a series' instances were deleted after delivery",
    sql: `
      ALTER TABLE series ADD COLUMN purged_at INTEGER;
    `,
  },
  {
    version: 7,
    description: 'jobs: the burned-in annotation flag as a column of its own (it travelled as a "flagged" prefix of reason)',
    sql: `
      ALTER TABLE jobs ADD COLUMN burned_in_flag TEXT;
      UPDATE jobs SET burned_in_flag = reason WHERE reason LIKE 'flagged%';
    `,
  },
  {
    version: 8,
    description:
      "instances: each instance's burned-in annotation risk, judged from its header at ingest (NULL: indexed before, judged at routing)",
    sql: `
      ALTER TABLE instances ADD COLUMN burned_in_risk TEXT;
    `,
  },
  {
    version: 9,
    description: 'jobs: which stack of the series the model was given, in words (several stacks in one series, issue 12)',
    sql: `
      ALTER TABLE jobs ADD COLUMN stack TEXT;
    `,
  },
  {
    version: 10,
    description:
      'indexes for a million instances: series newest first (paged /api/series, status); retention: unpurged series, jobs by series and state',
    sql: `
      CREATE INDEX series_recent ON series (last_received_at DESC, series_uid DESC);
      CREATE INDEX series_unpurged ON series (state, series_uid) WHERE purged_at IS NULL;
      CREATE INDEX jobs_series_state ON jobs (series_uid, state);
    `,
  },
  {
    version: 11,
    description: 'paged /api/jobs filtered by state (?state=failed): the newest jobs in one state without reading the others',
    sql: `
      CREATE INDEX jobs_state_recent ON jobs (state, id DESC);
    `,
  },
  {
    version: 12,
    description:
      'series being received found through a partial index that arrivals do not rewrite (series_state_last was rewritten by every instance)',
    // series_state_last was keyed on last_received_at, which every arriving instance moves: one more
    // index page written per C-STORE. The stability sweep needs only the few series still receiving;
    // this index lists them by UID, and only a change of state (a series opening or turning stable)
    // writes to it. Counts by state read it too (see Store.seriesCountsByState).
    sql: `
      DROP INDEX series_state_last;
      CREATE INDEX series_receiving ON series (series_uid) WHERE state = 'receiving';
    `,
  },
];
