// Every log line any node writes during the test run is also appended to one folder per run
// (keyed by the test runner's pid), so that the last test file can scan all of them for patient
// data (test/zz-logs-hold-no-phi.test.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RUN_LOG_DIR = process.env.DICOM_AI_TEST_LOG_DIR ?? path.join(os.tmpdir(), `dicom-ai-test-logs-${process.ppid}`);

export function recordLogLines(text: string): void {
  fs.mkdirSync(RUN_LOG_DIR, { recursive: true });
  fs.appendFileSync(path.join(RUN_LOG_DIR, `${process.pid}.log`), text.endsWith('\n') ? text : `${text}\n`);
}
