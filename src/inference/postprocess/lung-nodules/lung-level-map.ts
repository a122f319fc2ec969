/**
 * The local lung level the faint ground-glass search measures contrast against
 * (faint-lung-search.ts): per BACKGROUND_TILE_MM tile of a slice, the median of the lung around it
 * on the averaged values.
 *
 * The lung is not one density: on a supine scan the dependent (posterior) lung is denser than the
 * anterior (gravity's gradient, tens of HU across the lung; on the LIDC scans the posterior third
 * reads 37-42 HU over the anterior third), so one level per slice would read the dependent lung as
 * ground glass. The level is read per tile as the median of the lung within
 * BACKGROUND_HALF_WIDTH_MM each way, wide enough that a faint nodule of 30 mm fills under half of
 * it (the median stays the lung's).
 *
 * Cost: a slice has some 500 tiles, each window about 500 sample points, and neighbouring windows
 * share most of them (tiles 8 mm apart, windows 48 mm wide). The samples lie on a grid anchored to
 * the image, so they are gathered once per slice into a compact lattice and ranked once (one sort);
 * along a row of tiles the window then slides, adding and dropping only the lattice columns that
 * enter and leave it, and the median is found by counting ranks (a two-level histogram: Perreault
 * and Hebert's constant-time median filter, IEEE TIP 2007, on ranks). The median of a window does
 * not depend on the order its samples are read in, so the levels are exactly those of reading each
 * window pixel by pixel and selecting its median.
 */
import type { PixelBox } from './faint-ground-glass';
import { LUNG_NODULE_PARAMS } from './params';
import type { VolumeGrid } from './volume-grid';

/** The lung level is read once per tile this wide (mm): well under the distance over which the dependent gradient changes it. */
const BACKGROUND_TILE_MM = 8;
/**
 * ... as the median of the lung within this many mm each way of the tile's centre: a 30 mm faint
 * nodule (the largest reported, LIDC-IDRI-0002's) fills about a third of the 48 mm square.
 */
const BACKGROUND_HALF_WIDTH_MM = 24;
/** The median is read on every this-many-th pixel each way: the averaged slice is smooth over its 5 x 5 window. */
export const BACKGROUND_STRIDE_PX = 3;
/** Lung parenchyma is at most this dense (HU), as beside the vessels: a tile full of vessels or ground glass must not raise the level. */
const LUNG_PARENCHYMA_MAX_HU = -650;
/** The radix sort of the samples' keys takes this many bits a pass (three passes for 32-bit keys). */
const RADIX_BITS = 11;
/** Ranks are counted in blocks of this many (a power of two) to find the block holding the median, then one by one within it. */
const RANK_BLOCK_SHIFT = 6;

/** A slice's lung level per tile. */
export interface LungLevelMap {
  /** The level per tile, row by row (NaN: no lung within reach). */
  readonly tiles: Float32Array;
  /** Tile size (pixels) and tiles per row, counted from the box's corner. */
  readonly tileW: number;
  readonly tileH: number;
  readonly nx: number;
  /** The level at an image pixel; undefined outside the box or with no lung within reach. */
  at(column: number, row: number): number | undefined;
}

/**
 * The lung's level (HU, on the averaged values) around each pixel of `box`: per BACKGROUND_TILE_MM
 * tile, the median of the lung pixels below solid density (raw and averaged) within
 * BACKGROUND_HALF_WIDTH_MM of the tile's centre and in the box, on every BACKGROUND_STRIDE_PX-th
 * pixel of the image each way, capped at LUNG_PARENCHYMA_MAX_HU.
 */
export function localLungLevel(smoothed: Float32Array, hu: Float32Array, lung: Uint8Array, grid: VolumeGrid, box: PixelBox): LungLevelMap {
  const { xSpacingMm, ySpacingMm } = grid;
  const tileW = Math.max(1, Math.round(BACKGROUND_TILE_MM / xSpacingMm));
  const tileH = Math.max(1, Math.round(BACKGROUND_TILE_MM / ySpacingMm));
  const reachX = Math.round(BACKGROUND_HALF_WIDTH_MM / xSpacingMm);
  const reachY = Math.round(BACKGROUND_HALF_WIDTH_MM / ySpacingMm);
  const nx = Math.ceil((box.x1 - box.x0 + 1) / tileW);
  const ny = Math.ceil((box.y1 - box.y0 + 1) / tileH);
  const tiles = new Float32Array(nx * ny).fill(NaN);
  const lattice = lungSampleLattice(smoothed, hu, lung, grid.columns, box);
  const { rank, sorted } = rankSamples(lattice.values);
  const window = new RankWindow(sorted.length);
  const s = BACKGROUND_STRIDE_PX;
  // The lattice columns / rows of the samples within reach of a tile's centre (and in the box).
  const first = (lo: number, origin: number): number => Math.ceil((lo - origin) / s);
  const last = (hi: number, origin: number): number => Math.floor((hi - origin) / s);
  for (let ty = 0; ty < ny; ty++) {
    const cy = box.y0 + ty * tileH + (tileH >> 1);
    const j0 = first(Math.max(box.y0, cy - reachY), lattice.y0);
    const j1 = last(Math.min(box.y1, cy + reachY), lattice.y0);
    // The window's lattice columns [i0, i1); both ends only move right along the row.
    let i0 = 0;
    let i1 = 0;
    window.clear();
    const column = (i: number, add: boolean): void => {
      for (let j = j0; j <= j1; j++) {
        const r = rank[i * lattice.height + j]!;
        if (r >= 0) window.update(r, add);
      }
    };
    for (let tx = 0; tx < nx; tx++) {
      const cx = box.x0 + tx * tileW + (tileW >> 1);
      const from = first(Math.max(box.x0, cx - reachX), lattice.x0);
      const to = Math.min(lattice.width, last(Math.min(box.x1, cx + reachX), lattice.x0) + 1);
      if (tx === 0) [i0, i1] = [from, from];
      for (; i0 < from; i0++) if (i0 < i1) column(i0, false);
      i1 = Math.max(i1, i0);
      for (; i1 < to; i1++) column(i1, true);
      if (window.count > 0) tiles[ty * nx + tx] = Math.min(LUNG_PARENCHYMA_MAX_HU, sorted[window.nth(window.count >> 1)]!);
    }
  }
  return {
    tiles,
    tileW,
    tileH,
    nx,
    at: (column, row) => {
      const tx = Math.floor((column - box.x0) / tileW);
      const ty = Math.floor((row - box.y0) / tileH);
      const v = tx < 0 || ty < 0 || tx >= nx || ty >= ny ? NaN : tiles[ty * nx + tx]!;
      return Number.isNaN(v) ? undefined : v;
    },
  };
}

/** The lung samples of a slice's box: every BACKGROUND_STRIDE_PX-th image pixel each way, row by row. */
export interface LungSampleLattice {
  /** The averaged value of each lattice point in the lung below solid density (raw and averaged), else NaN. */
  readonly values: Float32Array;
  readonly width: number;
  readonly height: number;
  /** The image pixel of the first lattice point: the first multiples of the stride in the box. */
  readonly x0: number;
  readonly y0: number;
}

/** The lattice of lung samples the level map reads: the multiples of BACKGROUND_STRIDE_PX in `box`. */
export function lungSampleLattice(
  smoothed: Float32Array,
  hu: Float32Array,
  lung: Uint8Array,
  columns: number,
  box: PixelBox,
): LungSampleLattice {
  const s = BACKGROUND_STRIDE_PX;
  const x0 = Math.ceil(box.x0 / s) * s;
  const y0 = Math.ceil(box.y0 / s) * s;
  const width = Math.max(0, Math.floor((box.x1 - x0) / s) + 1);
  const height = Math.max(0, Math.floor((box.y1 - y0) / s) + 1);
  const values = new Float32Array(width * height).fill(NaN);
  const solid = LUNG_NODULE_PARAMS.solidHu;
  for (let j = 0; j < height; j++)
    for (let i = 0; i < width; i++) {
      const p = (y0 + j * s) * columns + x0 + i * s;
      if (lung[p] && hu[p]! < solid && smoothed[p]! < solid) values[i * height + j] = smoothed[p]!;
    }
  return { values, width, height, x0, y0 };
}

/**
 * Each sample's rank among the lattice's samples (-1 for NaN; ties ranked by position) and the
 * samples in rank order. The Float32 values' bits are made to sort as unsigned integers (sign
 * flipped, negatives inverted) and sorted by a least-significant-digit radix sort, RADIX_BITS at a
 * time (stable, so ties keep their order of position): a few thousand samples a slice, where a
 * comparison sort costs several times more.
 */
export function rankSamples(values: Float32Array): { rank: Int32Array; sorted: Float32Array } {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) n++;
  let keys = new Uint32Array(n);
  let positions = new Int32Array(n);
  n = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]!)) continue;
    const b = bits[i]!;
    keys[n] = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    positions[n++] = i;
  }
  let nextKeys = new Uint32Array(n);
  let nextPositions = new Int32Array(n);
  const buckets = new Int32Array(1 << RADIX_BITS);
  for (let shift = 0; shift < 32; shift += RADIX_BITS) {
    buckets.fill(0);
    for (let r = 0; r < n; r++) buckets[(keys[r]! >>> shift) & ((1 << RADIX_BITS) - 1)]!++;
    for (let d = 0, start = 0; d < buckets.length; d++) [buckets[d], start] = [start, start + buckets[d]!];
    for (let r = 0; r < n; r++) {
      const to = buckets[(keys[r]! >>> shift) & ((1 << RADIX_BITS) - 1)]!++;
      nextKeys[to] = keys[r]!;
      nextPositions[to] = positions[r]!;
    }
    [keys, nextKeys] = [nextKeys, keys];
    [positions, nextPositions] = [nextPositions, positions];
  }
  const rank = new Int32Array(values.length).fill(-1);
  const sorted = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    rank[positions[r]!] = r;
    sorted[r] = values[positions[r]!]!;
  }
  return { rank, sorted };
}

/**
 * A multiset of distinct ranks 0..size-1 (a sliding window's samples), counted per rank and per
 * block of 2^RANK_BLOCK_SHIFT ranks, with the block the last median fell in kept: the median moves
 * little between neighbouring windows, so it is found again in a few steps.
 */
export class RankWindow {
  private readonly present: Uint8Array;
  private readonly blocks: Int32Array;
  /** The block the last search ended in, and how many ranks lie in the blocks before it. */
  private block = 0;
  private before = 0;
  count = 0;

  constructor(size: number) {
    this.present = new Uint8Array(size);
    this.blocks = new Int32Array((size >> RANK_BLOCK_SHIFT) + 1);
  }

  clear(): void {
    this.present.fill(0);
    this.blocks.fill(0);
    this.block = 0;
    this.before = 0;
    this.count = 0;
  }

  update(rank: number, add: boolean): void {
    const d = add ? 1 : -1;
    this.present[rank] = add ? 1 : 0;
    this.blocks[rank >> RANK_BLOCK_SHIFT]! += d;
    if (rank >> RANK_BLOCK_SHIFT < this.block) this.before += d;
    this.count += d;
  }

  /** The n-th smallest rank present (0-based; n < count). */
  nth(n: number): number {
    if (n < 0 || n >= this.count) throw new Error(`RankWindow.nth: ${n} of ${this.count}`);
    while (this.before > n) this.before -= this.blocks[--this.block]!;
    while (this.before + this.blocks[this.block]! <= n) this.before += this.blocks[this.block++]!;
    let seen = this.before;
    for (let r = this.block << RANK_BLOCK_SHIFT; ; r++) {
      seen += this.present[r]!;
      if (seen > n) return r;
    }
  }
}
