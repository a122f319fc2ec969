// A report file is written like an incoming instance: to a temporary name in its final folder,
// fsync'd, renamed, and the folder fsync'd, before SQLite records it. A crash leaves either no
// file, a stray temporary (removed at the next write of the same name), or the whole file.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { mkdirPrivateAsync, PRIVATE_FILE_MODE } from '../private-files';

export async function writeFileDurably(file: string, bytes: Buffer, fsync: boolean): Promise<void> {
  const dir = path.dirname(file);
  await mkdirPrivateAsync(dir);
  const tmp = `${file}.part`;
  const fh = await fsp.open(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    await fh.writeFile(bytes);
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  if (fsync) {
    const d = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  }
}
