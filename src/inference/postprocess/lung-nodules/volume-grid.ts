/**
 * Indexing for the lung-nodule post-processor: the series' voxel grid (flat slice arrays of
 * rows x columns) and boxes cut out of it around a candidate (one flat array, x fastest, then y,
 * then z). x runs along a row (columns), y down the rows, z along the slices.
 */
import type { SeriesVolume } from '../../series-volume';

/** The series' grid: sizes in voxels, spacing in mm. */
export interface VolumeGrid {
  readonly rows: number;
  readonly columns: number;
  readonly slices: number;
  /** Distance between neighbouring columns (x), mm. */
  readonly xSpacingMm: number;
  /** Distance between neighbouring rows (y), mm. */
  readonly ySpacingMm: number;
  /** Distance between neighbouring slices (z), mm (1 when the series does not say). */
  readonly zSpacingMm: number;
}

export function volumeGrid(volume: SeriesVolume): VolumeGrid {
  return {
    rows: volume.rows,
    columns: volume.columns,
    slices: volume.slices.length,
    xSpacingMm: volume.pixelSpacing[1],
    ySpacingMm: volume.pixelSpacing[0],
    zSpacingMm: volume.sliceSpacing > 0 ? volume.sliceSpacing : 1,
  };
}

/** Voxels per slice. */
export function sliceSize(grid: VolumeGrid): number {
  return grid.rows * grid.columns;
}

/** Index of (x, y, z) in an array holding the whole grid (slice after slice). */
export function gridIndex(grid: VolumeGrid, x: number, y: number, z: number): number {
  return z * sliceSize(grid) + y * grid.columns + x;
}

export function inGrid(grid: VolumeGrid, x: number, y: number, z: number): boolean {
  return x >= 0 && y >= 0 && z >= 0 && x < grid.columns && y < grid.rows && z < grid.slices;
}

/**
 * A box of the grid: `origin` is its (x, y, z) corner in the grid (it may lie partly outside),
 * `size*` its extent in voxels. Box-local indices run x fastest.
 */
export class VoxelBox {
  readonly plane: number;
  readonly voxelCount: number;

  constructor(
    readonly grid: VolumeGrid,
    readonly originX: number,
    readonly originY: number,
    readonly originZ: number,
    readonly sizeX: number,
    readonly sizeY: number,
    readonly sizeZ: number,
  ) {
    this.plane = sizeX * sizeY;
    this.voxelCount = this.plane * sizeZ;
  }

  /** The box of half-widths (halfX, halfY, halfZ) voxels centred on grid voxel (x, y, z). */
  static centredOn(grid: VolumeGrid, x: number, y: number, z: number, halfX: number, halfY: number, halfZ: number): VoxelBox {
    return new VoxelBox(grid, x - halfX, y - halfY, z - halfZ, 2 * halfX + 1, 2 * halfY + 1, 2 * halfZ + 1);
  }

  index(x: number, y: number, z: number): number {
    return (z * this.sizeY + y) * this.sizeX + x;
  }

  xOf(index: number): number {
    return index % this.sizeX;
  }

  yOf(index: number): number {
    return ((index / this.sizeX) | 0) % this.sizeY;
  }

  zOf(index: number): number {
    return (index / this.plane) | 0;
  }

  contains(x: number, y: number, z: number): boolean {
    return x >= 0 && y >= 0 && z >= 0 && x < this.sizeX && y < this.sizeY && z < this.sizeZ;
  }

  /** Whether a box-local index lies on one of the box's six faces. */
  onFace(index: number): boolean {
    const x = this.xOf(index);
    const y = this.yOf(index);
    const z = this.zOf(index);
    return x === 0 || y === 0 || z === 0 || x === this.sizeX - 1 || y === this.sizeY - 1 || z === this.sizeZ - 1;
  }

  /** The grid index of a box-local index (the caller makes sure it lies inside the grid). */
  toGridIndex(index: number): number {
    return gridIndex(this.grid, this.originX + this.xOf(index), this.originY + this.yOf(index), this.originZ + this.zOf(index));
  }

  /** The 6 face neighbours of an index that is not on a face (no bounds checks). */
  faceNeighboursOfInterior(index: number): readonly number[] {
    return [index - 1, index + 1, index - this.sizeX, index + this.sizeX, index - this.plane, index + this.plane];
  }

  /** Calls `visit` for each face neighbour (6-connectivity) inside the box. */
  forEachFaceNeighbour(index: number, visit: (neighbour: number) => void): void {
    const x = this.xOf(index);
    const y = this.yOf(index);
    const z = this.zOf(index);
    if (x > 0) visit(index - 1);
    if (x < this.sizeX - 1) visit(index + 1);
    if (y > 0) visit(index - this.sizeX);
    if (y < this.sizeY - 1) visit(index + this.sizeX);
    if (z > 0) visit(index - this.plane);
    if (z < this.sizeZ - 1) visit(index + this.plane);
  }

  /**
   * Calls `visit` for the index itself and each of its 26 neighbours (faces, edges and corners:
   * 26-connectivity) inside the box, z outermost.
   */
  forEachIn3x3x3(index: number, visit: (neighbour: number) => void): void {
    const x = this.xOf(index);
    const y = this.yOf(index);
    const z = this.zOf(index);
    for (let dz = z > 0 ? -1 : 0; dz <= (z < this.sizeZ - 1 ? 1 : 0); dz++) {
      for (let dy = y > 0 ? -1 : 0; dy <= (y < this.sizeY - 1 ? 1 : 0); dy++) {
        for (let dx = x > 0 ? -1 : 0; dx <= (x < this.sizeX - 1 ? 1 : 0); dx++) {
          visit(index + dz * this.plane + dy * this.sizeX + dx);
        }
      }
    }
  }

  /** Squared distance (mm²) between two box-local indices. */
  distanceSquaredMm(a: number, b: number): number {
    const { xSpacingMm: dx, ySpacingMm: dy, zSpacingMm: dz } = this.grid;
    return (
      (this.xOf(a) - this.xOf(b)) ** 2 * dx * dx + (this.yOf(a) - this.yOf(b)) ** 2 * dy * dy + (this.zOf(a) - this.zOf(b)) ** 2 * dz * dz
    );
  }
}
