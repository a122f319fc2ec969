// The first bytes of a stored file: enough for its File Meta Information and the header before
// Pixel Data, without reading the pixels.
import fs from 'node:fs';

export function readFileHead(file: string, maxBytes: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(maxBytes);
    const n = fs.readSync(fd, buf, 0, maxBytes, 0);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
