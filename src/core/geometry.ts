/**
 * Patch ↔ pixel geometry of a BagNet evidence map. Cell (row u, col v) of the map sees exactly the
 * input pixels rows [offset + stride·u, offset + stride·u + q) × cols [offset + stride·v, … + q).
 */

export interface PatchGeometry {
  readonly patchSize: number;
  readonly stride: number;
  readonly offset: number;
}

export interface GridSize {
  readonly rows: number;
  readonly cols: number;
}

export interface PixelBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Cells along one side of `size` input pixels for an unpadded network (0 when no patch fits). */
export function cellsAlong(size: number, geometry: Pick<PatchGeometry, 'patchSize' | 'stride'>): number {
  return size < geometry.patchSize ? 0 : Math.floor((size - geometry.patchSize) / geometry.stride) + 1;
}

/** Evidence map size for an input of `height`×`width` pixels. */
export function gridSize(height: number, width: number, geometry: Pick<PatchGeometry, 'patchSize' | 'stride'>): GridSize {
  return { rows: cellsAlong(height, geometry), cols: cellsAlong(width, geometry) };
}

/** The input-pixel box that cell (row, col) sees. */
export function cellBox(row: number, col: number, geometry: PatchGeometry): PixelBox {
  return {
    x: geometry.offset + geometry.stride * col,
    y: geometry.offset + geometry.stride * row,
    width: geometry.patchSize,
    height: geometry.patchSize,
  };
}

/**
 * The evidence cell drawn under input pixel (x, y): cells are drawn as stride×stride blocks whose
 * top-left pixel is their patch's centre. Null outside the drawn area.
 */
export function cellAt(x: number, y: number, geometry: PatchGeometry, grid: GridSize): { row: number; col: number } | null {
  const shift = geometry.offset + (geometry.patchSize - 1) / 2;
  const row = Math.floor((y - shift) / geometry.stride);
  const col = Math.floor((x - shift) / geometry.stride);
  if (row < 0 || col < 0 || row >= grid.rows || col >= grid.cols) return null;
  return { row, col };
}

/** The q×q patch centred on input pixel (x, y) (the exact map's unit; may reach into the padding). */
export function patchAround(x: number, y: number, patchSize: number): PixelBox {
  const half = (patchSize - 1) / 2;
  return { x: x - half, y: y - half, width: patchSize, height: patchSize };
}
