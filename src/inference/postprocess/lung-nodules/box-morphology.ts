/** Binary morphology on masks over a VoxelBox (one byte per voxel, 1 = set). */
import type { VoxelBox } from './volume-grid';

/**
 * 26-connected region growing (faces, edges and corners all connect) from `seed` over the voxels
 * whose value is at least `threshold` (NaN never is): sets them to 1 in `region`. The comparison is written into the loop, not
 * passed as a callback: this is the detector's most visited loop on real scans (once per candidate).
 */
export function growRegion26(box: VoxelBox, values: Float32Array, region: Uint8Array, seed: number, threshold: number): void {
  const { sizeX, sizeY, sizeZ, plane } = box;
  const queue = queueFor(box.voxelCount);
  const around = neighbourOffsets26(box);
  let tail = 0;
  region[seed] = 1;
  queue[tail++] = seed;
  for (let head = 0; head < tail; head++) {
    const index = queue[head]!;
    const z = (index / plane) | 0;
    const y = ((index - z * plane) / sizeX) | 0;
    const x = index - z * plane - y * sizeX;
    // The region is a set: the order neighbours are queued in does not change it. Away from the
    // box's faces all 26 exist, and a fixed list of offsets needs no bounds per neighbour.
    if (x > 0 && y > 0 && z > 0 && x < sizeX - 1 && y < sizeY - 1 && z < sizeZ - 1) {
      for (let k = 0; k < 26; k++) {
        const neighbour = index + around[k]!;
        // A NaN value fails the comparison: outside the lung or the volume.
        if (region[neighbour] || !(values[neighbour]! >= threshold)) continue;
        region[neighbour] = 1;
        queue[tail++] = neighbour;
      }
      continue;
    }
    const zTo = z < sizeZ - 1 ? 1 : 0;
    const yTo = y < sizeY - 1 ? 1 : 0;
    const xFrom = x > 0 ? -1 : 0;
    const xTo = x < sizeX - 1 ? 1 : 0;
    for (let dz = z > 0 ? -1 : 0; dz <= zTo; dz++) {
      for (let dy = y > 0 ? -1 : 0; dy <= yTo; dy++) {
        const rowCentre = index + dz * plane + dy * sizeX;
        for (let dx = xFrom; dx <= xTo; dx++) {
          const neighbour = rowCentre + dx;
          if (region[neighbour] || !(values[neighbour]! >= threshold)) continue;
          region[neighbour] = 1;
          queue[tail++] = neighbour;
        }
      }
    }
  }
}

/**
 * Region growing's queue, kept between calls: it runs once or more per candidate, thousands of
 * times per scan, and a fresh queue per call was garbage the size of the box each time. Scratch
 * only — nothing of it outlives a call, and growRegion26 does not call itself.
 */
let growQueue = new Int32Array(0);

/** A queue of at least `voxelCount` entries. */
function queueFor(voxelCount: number): Int32Array {
  if (growQueue.length < voxelCount) growQueue = new Int32Array(voxelCount);
  return growQueue;
}

/** The index offsets of the 26 neighbours of a voxel in `box` (itself left out). */
function neighbourOffsets26(box: VoxelBox): Int32Array {
  const offsets = new Int32Array(26);
  let k = 0;
  for (let dz = -1; dz <= 1; dz++)
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) if (dx !== 0 || dy !== 0 || dz !== 0) offsets[k++] = dz * box.plane + dy * box.sizeX + dx;
  return offsets;
}

/** The mask grown by one voxel across faces (6-connectivity): partial-volume shell included. */
export function dilateFaces(box: VoxelBox, mask: Uint8Array): Uint8Array {
  const out = Uint8Array.from(mask);
  const set = (neighbour: number): void => {
    out[neighbour] = 1;
  };
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) box.forEachFaceNeighbour(i, set);
  }
  return out;
}

/** Voxel offsets (x, y, z) of a ball of radius `radiusMm` on the box's grid spacing. */
export function ballOffsets(box: VoxelBox, radiusMm: number): [number, number, number][] {
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const out: [number, number, number][] = [];
  const ex = Math.floor(radiusMm / dx);
  const ey = Math.floor(radiusMm / dy);
  const ez = Math.floor(radiusMm / dz);
  for (let z = -ez; z <= ez; z++)
    for (let y = -ey; y <= ey; y++)
      for (let x = -ex; x <= ex; x++) if ((x * dx) ** 2 + (y * dy) ** 2 + (z * dz) ** 2 <= radiusMm * radiusMm) out.push([x, y, z]);
  return out;
}

/**
 * A ball as rows along x: for each (y, z) offset, the half-width of the run of x offsets it holds.
 * Erosion and dilation by the ball are then exact per row: "every voxel within w along the row
 * is set" is "the row's distance to its nearest unset voxel exceeds w" (and likewise for "some
 * voxel is set"), so each voxel costs one look-up per ball row instead of one per ball voxel
 * (the decomposition of a convex structuring element into 1-D lines, as in van Herk 1992 and
 * Gil & Werman 1993; here with row distances, so the result is the brute-force one, bit for bit).
 */
interface BallRow {
  readonly dy: number;
  readonly dz: number;
  readonly halfWidth: number;
}

/** The ball's rows, or undefined when some row is not one run centred on x = 0 (then the direct loop is used). */
function ballRows(ball: readonly (readonly [number, number, number])[]): BallRow[] | undefined {
  const xsByRow = new Map<number, { dy: number; dz: number; xs: Set<number> }>();
  for (const [ox, oy, oz] of ball) {
    // One number per (y, z) offset (a ball's offsets are far below 2^15 voxels): no string keys.
    const key = oy * 65536 + oz;
    let row = xsByRow.get(key);
    if (!row) xsByRow.set(key, (row = { dy: oy, dz: oz, xs: new Set() }));
    row.xs.add(ox);
  }
  const rows: BallRow[] = [];
  for (const { dy, dz, xs } of xsByRow.values()) {
    const halfWidth = Math.max(...[...xs].map(Math.abs));
    if (xs.size !== 2 * halfWidth + 1 || !xs.has(-halfWidth) || !xs.has(halfWidth)) return undefined;
    rows.push({ dy, dz, halfWidth });
  }
  // Widest rows first: they fail (erosion) or succeed (dilation) soonest.
  return rows.sort((a, b) => b.halfWidth - a.halfWidth || a.dz - b.dz || a.dy - b.dy);
}

/** Larger than any run along a box row. */
const NO_VOXEL = 0x3fffffff;

/**
 * Per voxel, the distance along its row (x) to the nearest voxel whose "is set" equals `target`
 * (itself included: 0), NO_VOXEL when the row within the box has none.
 */
function rowDistanceTo(box: VoxelBox, mask: Uint8Array, target: boolean): Int32Array {
  const { sizeX } = box;
  const rowCount = box.sizeY * box.sizeZ;
  const distance = new Int32Array(box.voxelCount);
  for (let r = 0; r < rowCount; r++) {
    const start = r * sizeX;
    let last = -NO_VOXEL;
    for (let x = 0; x < sizeX; x++) {
      if ((mask[start + x] !== 0) === target) last = x;
      distance[start + x] = Math.min(NO_VOXEL, x - last);
    }
    last = NO_VOXEL * 2;
    for (let x = sizeX - 1; x >= 0; x--) {
      if ((mask[start + x] !== 0) === target) last = x;
      distance[start + x] = Math.min(distance[start + x]!, last - x);
    }
  }
  return distance;
}

/**
 * Erosion by `ball`: the voxels of `mask` whose whole ball lies in `mask`. Outside the box
 * counts as set (a structure touching the box continues there).
 */
export function erode(box: VoxelBox, mask: Uint8Array, ball: readonly (readonly [number, number, number])[]): Uint8Array {
  const rows = ballRows(ball);
  if (!rows) return erodeDirect(box, mask, ball);
  const { sizeX, sizeY, sizeZ, plane } = box;
  const toUnset = rowDistanceTo(box, mask, false);
  const { count, dy: rowDy, dz: rowDz, offset: rowOffset, halfWidth: rowHalfWidth } = flatRows(rows, box);
  const eroded = new Uint8Array(box.voxelCount);
  for (let z = 0; z < sizeZ; z++) {
    for (let y = 0; y < sizeY; y++) {
      const rowStart = z * plane + y * sizeX;
      for (let x = 0; x < sizeX; x++) {
        const i = rowStart + x;
        if (!mask[i]) continue;
        let all = true;
        for (let r = 0; r < count; r++) {
          const by = y + rowDy[r]!;
          const bz = z + rowDz[r]!;
          // A row outside the box counts as set; within the box, no unset voxel within halfWidth.
          if (by < 0 || by >= sizeY || bz < 0 || bz >= sizeZ) continue;
          if (toUnset[i + rowOffset[r]!]! <= rowHalfWidth[r]!) {
            all = false;
            break;
          }
        }
        if (all) eroded[i] = 1;
      }
    }
  }
  return eroded;
}

/** A ball's rows as parallel typed arrays, with each row's index offset in `box` (the hot loops read these). */
interface FlatRows {
  readonly count: number;
  readonly dy: Int32Array;
  readonly dz: Int32Array;
  readonly offset: Int32Array;
  readonly halfWidth: Int32Array;
}

function flatRows(rows: readonly BallRow[], box: VoxelBox): FlatRows {
  const flat = {
    count: rows.length,
    dy: new Int32Array(rows.length),
    dz: new Int32Array(rows.length),
    offset: new Int32Array(rows.length),
    halfWidth: new Int32Array(rows.length),
  };
  rows.forEach((row, r) => {
    flat.dy[r] = row.dy;
    flat.dz[r] = row.dz;
    flat.offset[r] = row.dz * box.plane + row.dy * box.sizeX;
    flat.halfWidth[r] = row.halfWidth;
  });
  return flat;
}

/** Dilation of `seeds` by `ball`, kept within `within` (the second half of an opening). */
export function dilateWithin(
  box: VoxelBox,
  seeds: Uint8Array,
  ball: readonly (readonly [number, number, number])[],
  within: Uint8Array,
): Uint8Array {
  const rows = ballRows(ball);
  if (!rows) return dilateWithinDirect(box, seeds, ball, within);
  const { sizeX, sizeY, sizeZ, plane } = box;
  const toSeed = rowDistanceTo(box, seeds, true);
  const { count, dy: rowDy, dz: rowDz, offset: rowOffset, halfWidth: rowHalfWidth } = flatRows(rows, box);
  const out = new Uint8Array(box.voxelCount);
  for (let z = 0; z < sizeZ; z++) {
    for (let y = 0; y < sizeY; y++) {
      const rowStart = z * plane + y * sizeX;
      for (let x = 0; x < sizeX; x++) {
        const i = rowStart + x;
        if (!within[i]) continue;
        // A voxel is reached if a seed lies at voxel - offset for some ball offset: on the row
        // (y - dy, z - dz), within halfWidth along x.
        for (let r = 0; r < count; r++) {
          const by = y - rowDy[r]!;
          const bz = z - rowDz[r]!;
          if (by < 0 || by >= sizeY || bz < 0 || bz >= sizeZ) continue;
          if (toSeed[i - rowOffset[r]!]! <= rowHalfWidth[r]!) {
            out[i] = 1;
            break;
          }
        }
      }
    }
  }
  return out;
}

/** Erosion voxel by voxel of the ball (any ball shape). */
function erodeDirect(box: VoxelBox, mask: Uint8Array, ball: readonly (readonly [number, number, number])[]): Uint8Array {
  const eroded = new Uint8Array(box.voxelCount);
  for (let i = 0; i < box.voxelCount; i++) {
    if (!mask[i]) continue;
    const x = box.xOf(i);
    const y = box.yOf(i);
    const z = box.zOf(i);
    let all = true;
    for (const [ox, oy, oz] of ball) {
      const bx = x + ox;
      const by = y + oy;
      const bz = z + oz;
      if (!box.contains(bx, by, bz)) continue;
      if (!mask[box.index(bx, by, bz)]) {
        all = false;
        break;
      }
    }
    if (all) eroded[i] = 1;
  }
  return eroded;
}

/** Dilation voxel by voxel of the ball (any ball shape). */
function dilateWithinDirect(
  box: VoxelBox,
  seeds: Uint8Array,
  ball: readonly (readonly [number, number, number])[],
  within: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(box.voxelCount);
  for (let i = 0; i < box.voxelCount; i++) {
    if (!seeds[i]) continue;
    const x = box.xOf(i);
    const y = box.yOf(i);
    const z = box.zOf(i);
    for (const [ox, oy, oz] of ball) {
      const bx = x + ox;
      const by = y + oy;
      const bz = z + oz;
      if (!box.contains(bx, by, bz)) continue;
      const n = box.index(bx, by, bz);
      if (within[n]) out[n] = 1;
    }
  }
  return out;
}

/**
 * Distance (mm) from each voxel to the nearest source voxel (0 where `isSource`), by a two-pass
 * 3-D chamfer transform with the box's spacings: 26 neighbours, within a few per cent of the
 * Euclidean distance (over it off the axes). With `within`, only those voxels are visited: the
 * distance runs through them (the cost follows their number), and the others that are no source
 * stay Infinity. Outside the box is no source: a structure that leaves the box continues there.
 */
export function chamferDistanceMm(box: VoxelBox, isSource: (index: number) => boolean, within?: Uint8Array): Float32Array {
  const { sizeX, sizeY, sizeZ, plane } = box;
  const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = box.grid;
  const distance = new Float32Array(box.voxelCount);
  for (let i = 0; i < distance.length; i++) distance[i] = isSource(i) ? 0 : Infinity;
  // The 13 neighbours before a voxel in memory order, with their distances; the pass back uses
  // their mirror. Index offsets and weights in typed arrays: this runs once per structure.
  const offsets: number[][] = [];
  for (let oz = -1; oz <= 0; oz++)
    for (let oy = -1; oy <= 1; oy++)
      for (let ox = -1; ox <= 1; ox++) if (oz < 0 || oy < 0 || (oy === 0 && ox < 0)) offsets.push([ox, oy, oz]);
  const step = Int32Array.from(offsets, ([ox, oy, oz]) => oz! * plane + oy! * sizeX + ox!);
  const weight = Float32Array.from(offsets, ([ox, oy, oz]) => Math.hypot(ox! * dx, oy! * dy, oz! * dz));
  const count = offsets.length;
  const pass = (sign: 1 | -1): void => {
    for (let k = 0; k < box.voxelCount; k++) {
      const i = sign > 0 ? k : box.voxelCount - 1 - k;
      if (within && !within[i]) continue;
      let d = distance[i]!;
      if (d === 0) continue;
      const z = (i / plane) | 0;
      const y = ((i - z * plane) / sizeX) | 0;
      const x = i - z * plane - y * sizeX;
      const interior = x > 0 && y > 0 && z > 0 && x < sizeX - 1 && y < sizeY - 1 && z < sizeZ - 1;
      for (let n = 0; n < count; n++) {
        if (!interior) {
          const [ox, oy, oz] = offsets[n]!;
          const nx = x + sign * ox!;
          const ny = y + sign * oy!;
          const nz = z + sign * oz!;
          if (nx < 0 || ny < 0 || nz < 0 || nx >= sizeX || ny >= sizeY || nz >= sizeZ) continue;
        }
        const candidate = distance[i + sign * step[n]!]! + weight[n]!;
        if (candidate < d) d = candidate;
      }
      distance[i] = d;
    }
  };
  pass(1);
  pass(-1);
  return distance;
}
