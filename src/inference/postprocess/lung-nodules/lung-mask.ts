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
  const pixelMm = Math.min(grid.ySpacingMm, grid.xSpacingMm);
  const growPixels = Math.max(1, Math.round(LUNG_NODULE_PARAMS.maskGrowMm / pixelMm));
  const ballPixels = LUNG_NODULE_PARAMS.rollingBallMm / pixelMm;
  const isAir = (hu: number): boolean => hu < LUNG_NODULE_PARAMS.airHu;
  for (let slice = 0; slice < grid.slices; slice++) {
    const hu = volume.values[slice]!;
    // Outside air: air-like pixels connected to the image border.
    outside.fill(0);
    floodFromBorder(rows, columns, (i) => isAir(hu[i]!), outside, queue);
    const lung = new Uint8Array(pixels);
    let sumX = 0;
    let sumY = 0;
    let bodyPixels = 0;
    for (let i = 0; i < pixels; i++) {
      if (!outside[i]) {
        sumX += i % columns;
        sumY += (i / columns) | 0;
        bodyPixels++;
        if (isAir(hu[i]!)) lung[i] = 1;
      }
    }
    bodyCentre.push(bodyPixels > 0 ? [sumX / bodyPixels, sumY / bodyPixels] : [columns / 2, rows / 2]);
    // Fill holes: whatever the border cannot reach without crossing lung is lung.
    const reach = new Uint8Array(pixels);
    floodFromBorder(rows, columns, (i) => lung[i] === 0, reach, queue);
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

/** Marks the pixels reachable from the image border through `passable` ones (4-connected). */
function floodFromBorder(rows: number, columns: number, passable: (i: number) => boolean, mark: Uint8Array, queue: Int32Array): void {
  let head = 0;
  let tail = 0;
  const push = (i: number): void => {
    if (!mark[i] && passable(i)) {
      mark[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let column = 0; column < columns; column++) {
    push(column);
    push((rows - 1) * columns + column);
  }
  for (let row = 0; row < rows; row++) {
    push(row * columns);
    push(row * columns + columns - 1);
  }
  while (head < tail) {
    const i = queue[head++]!;
    const row = (i / columns) | 0;
    const column = i - row * columns;
    if (column > 0) push(i - 1);
    if (column < columns - 1) push(i + 1);
    if (row > 0) push(i - columns);
    if (row < rows - 1) push(i + columns);
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
  const out = new Uint8Array(mask.length);
  for (let x = 0; x < columns; x++) {
    let last = -1e9;
    for (let y = 0; y < rows; y++) {
      if (alongRows[y * columns + x]) last = y;
      if (y - last <= radius) out[y * columns + x] = 1;
    }
    last = 1e9;
    for (let y = rows - 1; y >= 0; y--) {
      if (alongRows[y * columns + x]) last = y;
      if (last - y <= radius) out[y * columns + x] = 1;
    }
  }
  return out;
}
