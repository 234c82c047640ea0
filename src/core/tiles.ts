/**
 * Tiling one run of a fully convolutional BagNet: an input too large for one run is cut into windows
 * that start on the stride grid and overlap by the patch size, so every evidence cell of a window is
 * exactly a cell of the whole image (each cell sees only its own q×q patch). Pure functions.
 */

export interface Tile {
  /** Top-left input pixel of the window (multiples of the stride). */
  readonly y: number;
  readonly x: number;
  readonly height: number;
  readonly width: number;
  /** The window's first evidence cell in the whole image's grid (`y / stride`, `x / stride`). */
  readonly row: number;
  readonly col: number;
}

/**
 * Windows of at most `maxPixels` input pixels covering an `height`×`width` input's evidence grid, or
 * null when the input fits in one run. Each window spans whole cells plus the patch border; the last
 * window of a row or column runs to the input's edge.
 */
export function tilePlan(height: number, width: number, geometry: { patchSize: number; stride: number }, maxPixels: number): Tile[] | null {
  if (height * width <= maxPixels) return null;
  const { patchSize: q, stride: s } = geometry;
  // A window of n cells needs s·(n-1) + q pixels (+ s-1 so a window's grid never ends early).
  const side = Math.floor(Math.sqrt(maxPixels));
  const cellsPerSide = Math.max(1, Math.floor((side - q - (s - 1)) / s) + 1);
  const span = (cells: number) => s * (cells - 1) + q + (s - 1);
  const starts = (size: number) => {
    const out: number[] = [];
    // Cells start at multiples of s while a whole patch fits.
    const totalCells = size >= q ? Math.floor((size - q) / s) + 1 : 1;
    for (let cell = 0; cell < totalCells; cell += cellsPerSide) out.push(cell);
    return out;
  };
  const tiles: Tile[] = [];
  for (const row of starts(height)) {
    for (const col of starts(width)) {
      const y = row * s;
      const x = col * s;
      tiles.push({ y, x, row, col, height: Math.min(height - y, span(cellsPerSide)), width: Math.min(width - x, span(cellsPerSide)) });
    }
  }
  return tiles;
}

/** The `tile` window of a C×H×W tensor, as its own C×h×w tensor. */
export function cropTile(image: Float32Array, channels: number, height: number, width: number,
                         tile: Pick<Tile, 'x' | 'y' | 'width' | 'height'>): Float32Array {
  const out = new Float32Array(channels * tile.height * tile.width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < tile.height; y++) {
      const from = (c * height + tile.y + y) * width + tile.x;
      out.set(image.subarray(from, from + tile.width), (c * tile.height + y) * tile.width);
    }
  }
  return out;
}

/** Writes a window's `rows×cols×classes` cells into the whole grid (`gridRows×gridCols×classes`) at the tile's cell. */
export function placeTileCells(grid: Float32Array, gridRows: number, gridCols: number, classes: number,
                               cells: Float32Array, rows: number, cols: number, tile: Pick<Tile, 'row' | 'col'>): void {
  for (let r = 0; r < rows && tile.row + r < gridRows; r++) {
    const width = Math.min(cols, gridCols - tile.col) * classes;
    grid.set(cells.subarray(r * cols * classes, r * cols * classes + width), ((tile.row + r) * gridCols + tile.col) * classes);
  }
}

/** Write `values` (a C×h×w tensor) into the `box` window of a C×H×W tensor, in place. */
export function writeTile(image: Float32Array, channels: number, height: number, width: number,
                          box: Pick<Tile, 'x' | 'y' | 'width' | 'height'>, values: Float32Array): void {
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < box.height; y++) {
      const from = (c * box.height + y) * box.width;
      image.set(values.subarray(from, from + box.width), (c * height + box.y + y) * width + box.x);
    }
  }
}
