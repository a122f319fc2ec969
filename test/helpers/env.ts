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

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `dicom-ai-${prefix}-`));
}

export const CLI = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');
