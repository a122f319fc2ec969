// Where tests find things: the shared corpus beside the project, the project root, scratch dirs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The project root (folder with package.json), from dist/test/... or test/... */
export const PROJECT_ROOT = (() => {
  let d = __dirname;
  for (;;) {
    const pj = path.join(d, 'package.json');
    if (fs.existsSync(pj) && (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'dicom-ai-node') return d;
    const up = path.dirname(d);
    if (up === d) throw new Error('project root not found above ' + __dirname);
    d = up;
  }
})();

/** ../shared/data/dicom beside the project (DICOM_AI_SHARED overrides the shared folder). */
export const SHARED_DICOM = path.join(process.env.DICOM_AI_SHARED ?? path.resolve(PROJECT_ROOT, '..', 'shared'), 'data', 'dicom');

/** Folders made by tmpDir in this process, removed when it exits. */
const madeTmpDirs: string[] = [];
let removalRegistered = false;

/**
 * A fresh folder under the system's temporary folder, removed when this process (one test file,
 * or one benchmark) exits: a full run of the suite writes several GB of instances, phantoms and
 * databases, and left behind they fill the disk until the node under test refuses C-STOREs for
 * lack of space. DICOM_AI_KEEP_TMP=1 keeps them for a look afterwards.
 */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dicom-ai-${prefix}-`));
  if (process.env.DICOM_AI_KEEP_TMP !== '1') {
    madeTmpDirs.push(dir);
    if (!removalRegistered) {
      removalRegistered = true;
      process.once('exit', () => {
        for (const d of madeTmpDirs) fs.rmSync(d, { recursive: true, force: true, maxRetries: 2 });
      });
    }
  }
  return dir;
}

export const CLI = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');
