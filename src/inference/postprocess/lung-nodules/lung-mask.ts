/**
 * Step 1, the lung mask per slice: air-like voxels inside the body and not connected to the
 * outside air, with holes filled (nodules and vessels inside the lung count as lung), then closed
 * with a rolling ball (rolling-ball.ts) so nodules touching the chest wall or mediastinum count
 * as lung too, and grown by a few mm for the candidate search. Also the per-slice lung area and
 * body centre the findings' zone and side are read from.
 */
import type { SeriesVolume } from '../../series-volume';
import { LUNG_NODULE_PARAMS } from './params';
import { rollingBallClose } from './rolling-ball';
import type { VolumeGrid } from './volume-grid';

export interface LungMasks {
  /** Lung with holes filled, per slice (1 = lung). */
  readonly filled: Uint8Array[];
  /**
   * `filled` closed by a ball of LUNG_NODULE_PARAMS.rollingBallMm: juxtapleural and
   * juxtamediastinal nodules lie inside it (what structures are segmented within).
   */
  readonly closed: Uint8Array[];
  /** `closed` grown by LUNG_NODULE_PARAMS.maskGrowMm: where candidates are looked for. */
  readonly search: Uint8Array[];
  /** Lung area per slice, mm². */
  readonly areaMm2: Float64Array;
  /** Body centroid per slice, (column, row) in pixels. */
  readonly bodyCentre: readonly [number, number][];
}

export function lungMasks(volume: SeriesVolume, grid: VolumeGrid): LungMasks {
  const { rows, columns } = grid;
  const pixels = rows * columns;
  const filled: Uint8Array[] = [];
  const closed: Uint8Array[] = [];
  const search: Uint8Array[] = [];
  const areaMm2 = new Float64Array(grid.slices);
  const bodyCentre: [number, number][] = [];
  const queue = new Int32Array(pixels);
  const outside = new Uint8Array(pixels);
  const air = new Uint8Array(pixels);
  const reach = new Uint8Array(pixels);
  const pixelMm = Math.min(grid.ySpacingMm, grid.xSpacingMm);
  const growPixels = Math.max(1, Math.round(LUNG_NODULE_PARAMS.maskGrowMm / pixelMm));
  const ballPixels = LUNG_NODULE_PARAMS.rollingBallMm / pixelMm;
  const airHu = LUNG_NODULE_PARAMS.airHu;
  for (let slice = 0; slice < grid.slices; slice++) {
    const hu = volume.values[slice]!;
    // Air-like pixels (NaN, outside the image, is not air).
    for (let i = 0; i < pixels; i++) air[i] = hu[i]! < airHu ? 1 : 0;
    // Outside air: air-like pixels connected to the image border.
    outside.fill(0);
    floodFromBorder(rows, columns, air, 1, outside, queue);
    const lung = new Uint8Array(pixels);
    let sumX = 0;
    let sumY = 0;
    let bodyPixels = 0;
    for (let row = 0, i = 0; row < rows; row++) {
      for (let column = 0; column < columns; column++, i++) {
        if (outside[i]) continue;
        sumX += column;
        sumY += row;
        bodyPixels++;
        lung[i] = air[i]!;
      }
    }
    bodyCentre.push(bodyPixels > 0 ? [sumX / bodyPixels, sumY / bodyPixels] : [columns / 2, rows / 2]);
    // Fill holes: whatever the border cannot reach without crossing lung is lung.
    reach.fill(0);
    floodFromBorder(rows, columns, lung, 0, reach, queue);
    let lungPixels = 0;
    for (let i = 0; i < pixels; i++) {
      const isLung = reach[i] ? 0 : 1;
      lung[i] = isLung;
      lungPixels += isLung;
    }
    filled.push(lung);
    areaMm2[slice] = lungPixels * grid.ySpacingMm * grid.xSpacingMm;
    const lungClosed = lungPixels > 0 ? rollingBallClose(lung, rows, columns, ballPixels) : lung;
    closed.push(lungClosed);
    search.push(lungPixels > 0 ? dilateSquare(lungClosed, rows, columns, growPixels) : lung);
  }
  return { filled, closed, search, areaMm2, bodyCentre };
}

/**
 * Marks the pixels reachable from the image border through pixels whose `passable` value is
 * `open` (4-connected). `mark` starts cleared; `queue` is scratch space of one entry per pixel.
 */
function floodFromBorder(rows: number, columns: number, passable: Uint8Array, open: number, mark: Uint8Array, queue: Int32Array): void {
  let tail = 0;
  const seed = (i: number): void => {
    if (!mark[i] && passable[i] === open) {
      mark[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let column = 0; column < columns; column++) {
    seed(column);
    seed((rows - 1) * columns + column);
  }
  for (let row = 0; row < rows; row++) {
    seed(row * columns);
    seed(row * columns + columns - 1);
  }
  // The neighbour checks written out (not through a callback): this loop visits most of every slice.
  const last = rows * columns - columns;
  for (let head = 0; head < tail; head++) {
    const i = queue[head]!;
    const column = i % columns;
    let n = i - 1;
    if (column > 0 && !mark[n] && passable[n] === open) {
      mark[n] = 1;
      queue[tail++] = n;
    }
    n = i + 1;
    if (column < columns - 1 && !mark[n] && passable[n] === open) {
      mark[n] = 1;
      queue[tail++] = n;
    }
    n = i - columns;
    if (i >= columns && !mark[n] && passable[n] === open) {
      mark[n] = 1;
      queue[tail++] = n;
    }
    n = i + columns;
    if (i < last && !mark[n] && passable[n] === open) {
      mark[n] = 1;
      queue[tail++] = n;
    }
  }
}

/** Binary dilation by a (2 radius + 1)² square, separable: rows first, then columns. */
export function dilateSquare(mask: Uint8Array, rows: number, columns: number, radius: number): Uint8Array {
  const alongRows = new Uint8Array(mask.length);
  for (let y = 0; y < rows; y++) {
    // Two sweeps: distance to the nearest set pixel on the left, then on the right.
    let last = -1e9;
    for (let x = 0; x < columns; x++) {
      if (mask[y * columns + x]) last = x;
      if (x - last <= radius) alongRows[y * columns + x] = 1;
    }
    last = 1e9;
    for (let x = columns - 1; x >= 0; x--) {
      if (mask[y * columns + x]) last = x;
      if (last - x <= radius) alongRows[y * columns + x] = 1;
    }
  }
  // Along the columns, all columns at once, row after row (memory order): the last set row seen
  // above, then below, each column.
  const out = new Uint8Array(mask.length);
  const lastSet = new Float64Array(columns).fill(-1e9);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const i = y * columns + x;
      if (alongRows[i]) lastSet[x] = y;
      if (y - lastSet[x]! <= radius) out[i] = 1;
    }
  }
  lastSet.fill(1e9);
  for (let y = rows - 1; y >= 0; y--) {
    for (let x = 0; x < columns; x++) {
      const i = y * columns + x;
      if (alongRows[i]) lastSet[x] = y;
      if (lastSet[x]! - y <= radius) out[i] = 1;
    }
  }
  return out;
}
