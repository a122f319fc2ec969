/** Binary morphology on masks over a VoxelBox (one byte per voxel, 1 = set). */
import type { VoxelBox } from './volume-grid';

/**
 * 26-connected region growing (faces, edges and corners all connect) from `seed` over the voxels
 * whose value passes `accept` (NaN never does): sets them to 1 in `region`. `queue` is scratch
 * space of at least box.voxelCount entries.
 */
export function growRegion26(
  box: VoxelBox,
  values: Float32Array,
  region: Uint8Array,
  queue: Int32Array,
  seed: number,
  accept: (value: number) => boolean,
): void {
  let head = 0;
  let tail = 0;
  region[seed] = 1;
  queue[tail++] = seed;
  const visit = (neighbour: number): void => {
    if (region[neighbour]) return;
    const value = values[neighbour]!;
    if (!Number.isNaN(value) && accept(value)) {
      region[neighbour] = 1;
      queue[tail++] = neighbour;
    }
  };
  while (head < tail) box.forEachIn3x3x3(queue[head++]!, visit);
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
 * Erosion by `ball`: the voxels of `mask` whose whole ball lies in `mask`. Outside the box
 * counts as set (a structure touching the box continues there).
 */
export function erode(box: VoxelBox, mask: Uint8Array, ball: readonly (readonly [number, number, number])[]): Uint8Array {
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

/** Dilation of `seeds` by `ball`, kept within `within` (the second half of an opening). */
export function dilateWithin(
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
