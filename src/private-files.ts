// Everything the node writes holds patient data or protects it (instances, the index with names,
// IDs and birth dates, reports, backups, the de-identification secret, audit and log files), so
// it is readable by the node's own user only: files 0600, folders 0700. Modes are given
// explicitly where a file or folder is created (no process-wide umask: the node is also embedded
// and run by tests, and a umask would change what other code in the process creates); an older
// install's data folder is tightened once at start-up.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Says that an older install's data folder has been tightened (the walk is done once). */
const TIGHTENED_MARKER = '.private-modes';

/** mkdir -p, every folder it creates 0700; returns the first folder created (undefined: none). */
export function mkdirPrivate(dir: string): string | undefined {
  return fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

export async function mkdirPrivateAsync(dir: string): Promise<string | undefined> {
  return fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Creates `file` empty with mode 0600 when it does not exist; makes an existing one 0600. */
export function ensurePrivateFile(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
  chmodPrivateFile(file);
}

/** Makes an existing file 0600; a missing one is left missing. */
export function chmodPrivateFile(file: string): void {
  try {
    fs.chmodSync(file, PRIVATE_FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Makes the data folder 0700 and, the first time (an install from before modes were set), every
 * folder under it 0700 and every file 0600. Later starts only check the folder itself: what the
 * node creates since is private from the start.
 */
export function tightenDataDir(dataDir: string): { folders: number; files: number } | null {
  mkdirPrivate(dataDir);
  fs.chmodSync(dataDir, PRIVATE_DIR_MODE);
  const marker = path.join(dataDir, TIGHTENED_MARKER);
  if (fs.existsSync(marker)) return null;
  const counts = { folders: 0, files: 0 };
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        fs.chmodSync(p, PRIVATE_DIR_MODE);
        counts.folders++;
        walk(p);
      } else if (entry.isFile()) {
        fs.chmodSync(p, PRIVATE_FILE_MODE);
        counts.files++;
      }
    }
  };
  walk(dataDir);
  fs.writeFileSync(marker, 'files 0600, folders 0700\n', { mode: PRIVATE_FILE_MODE });
  return counts;
}
