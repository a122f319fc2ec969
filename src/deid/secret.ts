// The per-installation secret that keys de-identified UIDs, pseudonyms and date shifts. Made once
// at first use and kept beside the database (readable by the node's user only): the same source
// UID then always maps to the same de-identified UID on this node, and to a different one on
// any other node.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const SECRET_FILE = 'deid-secret';

export function loadOrCreateDeidSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, SECRET_FILE);
  try {
    const s = fs.readFileSync(file);
    if (s.length >= 16) return s;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read the de-identification secret ${file}: ${(e as Error).message}`);
  }
  const secret = randomBytes(32);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, secret, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return secret;
}
