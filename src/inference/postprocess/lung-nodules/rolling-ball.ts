/**
 * Rolling-ball closing of a slice's lung mask, so juxtapleural and juxtamediastinal nodules lie
 * inside it. A nodule touching the chest wall is dense tissue connected to the wall: thresholding
 * leaves it outside the lung, as a "bite" into the lung's contour. Rolling a ball of radius R
 * along the contour from the lung side (a morphological closing with a disc of radius R) fills
 * every bite whose mouth is narrower than 2R and leaves the larger, smooth curves of the chest
 * wall, heart and diaphragm as they are (Armato, Giger, MacMahon et al. 1999, "Computerized
 * detection of pulmonary nodules on CT scans", RadioGraphics 19:1303-1311, rolling-ball step;
 * Armato & Sensakovic 2004, Acad Radiol 11:1011-1021, for its effect on juxtapleural nodules).
 *
 * A ball of radius R still reaches R - sqrt(R² - r²) into a round bite of radius r: with R = 15
 * mm a 20 mm nodule on the wall loses the last 3.8 mm of its depth (a 10 mm one 0.9 mm); a
 * larger ball would also close the hila and the cardiac notch.
 *
 * Each connected piece of lung is closed on its own: closing both lungs together would bridge
 * the thin anterior and posterior junctions and fill the mediastinum between them.
 *
 * The closing is exact for a Euclidean disc: dilation is "squared distance to the mask <= R²",
 * erosion of that is "squared distance to its complement > R²", both from the linear-time exact
 * squared Euclidean distance transform of Felzenszwalb & Huttenlocher (2012, Theory of
 * Computing 8:415-428), on the piece's bounding box grown by R.
 */

/** A lung piece smaller than this many pixels is left as it is (a small airway, noise). */
const MIN_PIECE_PIXELS = 50;
/** Stands for "no set pixel": larger than any squared distance on a slice. */
const FAR = 1e12;

/**
 * The mask closed by a disc of `radiusPx` (in-plane pixels; square pixels assumed, the caller
 * converts mm with the smaller spacing), each 8-connected piece on its own. Never removes a pixel.
 */
export function rollingBallClose(mask: Uint8Array, rows: number, columns: number, radiusPx: number): Uint8Array {
  const out = Uint8Array.from(mask);
  if (radiusPx < 1) return out;
  const label = new Int32Array(mask.length);
  const queue = new Int32Array(mask.length);
  let next = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || label[start]) continue;
    const piece = collectPiece(mask, rows, columns, start, ++next, label, queue);
    if (piece.count >= MIN_PIECE_PIXELS) closePiece(piece, label, next, rows, columns, radiusPx, out);
  }
  return out;
}

interface Piece {
  readonly count: number;
  readonly minRow: number;
  readonly maxRow: number;
  readonly minColumn: number;
  readonly maxColumn: number;
}

/** Labels the 8-connected piece holding `start` with `id`; returns its size and bounding box. */
function collectPiece(
  mask: Uint8Array,
  rows: number,
  columns: number,
  start: number,
  id: number,
  label: Int32Array,
  queue: Int32Array,
): Piece {
  let head = 0;
  let tail = 0;
  label[start] = id;
  queue[tail++] = start;
  let minRow = rows;
  let maxRow = -1;
  let minColumn = columns;
  let maxColumn = -1;
  while (head < tail) {
    const i = queue[head++]!;
    const row = (i / columns) | 0;
    const column = i - row * columns;
    minRow = Math.min(minRow, row);
    maxRow = Math.max(maxRow, row);
    minColumn = Math.min(minColumn, column);
    maxColumn = Math.max(maxColumn, column);
    for (let dy = -1; dy <= 1; dy++) {
      const y = row + dy;
      if (y < 0 || y >= rows) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const x = column + dx;
        if (x < 0 || x >= columns) continue;
        const n = y * columns + x;
        if (mask[n] && !label[n]) {
          label[n] = id;
          queue[tail++] = n;
        }
      }
    }
  }
  return { count: tail, minRow, maxRow, minColumn, maxColumn };
}

/** Closes one piece on its bounding box grown by the radius (plus one) and sets the result in `out`. */
function closePiece(piece: Piece, label: Int32Array, id: number, rows: number, columns: number, radiusPx: number, out: Uint8Array): void {
  const margin = Math.ceil(radiusPx) + 1;
  // The window may reach past the image: those pixels are never lung, the arithmetic is the same.
  const top = piece.minRow - margin;
  const left = piece.minColumn - margin;
  const height = piece.maxRow - piece.minRow + 1 + 2 * margin;
  const width = piece.maxColumn - piece.minColumn + 1 + 2 * margin;
  const radiusSquared = radiusPx * radiusPx;
  const inside = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = top + y;
    if (row < 0 || row >= rows) continue;
    for (let x = 0; x < width; x++) {
      const column = left + x;
      if (column >= 0 && column < columns && label[row * columns + column] === id) inside[y * width + x] = 1;
    }
  }
  // Dilation: within R of the piece.
  const toPiece = squaredDistanceTransform(inside, width, height);
  const notDilated = new Uint8Array(width * height);
  for (let i = 0; i < notDilated.length; i++) notDilated[i] = toPiece[i]! <= radiusSquared ? 0 : 1;
  // Erosion of the dilation: farther than R from its complement.
  const toOutside = squaredDistanceTransform(notDilated, width, height);
  for (let y = 0; y < height; y++) {
    const row = top + y;
    if (row < 0 || row >= rows) continue;
    for (let x = 0; x < width; x++) {
      const column = left + x;
      if (column >= 0 && column < columns && toOutside[y * width + x]! > radiusSquared) out[row * columns + column] = 1;
    }
  }
}

/**
 * Squared Euclidean distance (pixels²) from every pixel to the nearest set pixel of `seeds` (FAR
 * where there is none). First along the columns: for a binary image that pass is the distance to
 * the nearest seed above or below, found by two sweeps over all columns at once, row after row in
 * memory order (the lower envelope of parabolas would give the same integers, at a strided
 * access per pixel). Then along the rows, Felzenszwalb & Huttenlocher's lower envelope.
 */
export function squaredDistanceTransform(seeds: Uint8Array, width: number, height: number): Float64Array {
  const distance = new Float64Array(width * height);
  const nearest = new Float64Array(width).fill(-FAR);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (seeds[i]) nearest[x] = y;
      distance[i] = y - nearest[x]!;
    }
  }
  nearest.fill(2 * FAR);
  for (let y = height - 1; y >= 0; y--) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (seeds[i]) nearest[x] = y;
      const gap = Math.min(distance[i]!, nearest[x]! - y);
      distance[i] = gap >= FAR ? FAR : gap * gap;
    }
  }
  const line = new Float64Array(width);
  const result = new Float64Array(width);
  const scratch = { v: new Int32Array(width), z: new Float64Array(width + 1) };
  for (let y = 0; y < height; y++) {
    const row = distance.subarray(y * width, (y + 1) * width);
    line.set(row);
    transform1d(line, width, result, scratch);
    row.set(result);
  }
  return distance;
}

/** One dimension of Felzenszwalb & Huttenlocher's transform: the lower envelope of parabolas. */
function transform1d(f: Float64Array, n: number, d: Float64Array, scratch: { v: Int32Array; z: Float64Array }): void {
  const { v, z } = scratch;
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    let s = intersection(f, q, v[k]!);
    while (s <= z[k]!) {
      k--;
      s = intersection(f, q, v[k]!);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const p = v[k]!;
    d[q] = (q - p) * (q - p) + f[p]!;
  }
}

function intersection(f: Float64Array, q: number, p: number): number {
  return (f[q]! + q * q - (f[p]! + p * p)) / (2 * q - 2 * p);
}
