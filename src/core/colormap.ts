/**
 * Colormaps as 256-entry RGB lookup tables. Diverging maps put 0 at the centre (white for RdBu_r,
 * the authors' choice), so the sign of the evidence reads at a glance.
 */

export type ColormapName = 'rdbu' | 'coolwarm' | 'bwr' | 'viridis' | 'magma' | 'gray';

export const COLORMAPS: readonly ColormapName[] = Object.freeze(['rdbu', 'coolwarm', 'bwr', 'viridis', 'magma', 'gray']);

/** Evenly spaced control colours, low to high (ColorBrewer / matplotlib values). */
const CONTROL_POINTS: Readonly<Record<ColormapName, readonly string[]>> = {
  // matplotlib's RdBu_r: blue for negative evidence, white at zero, red for positive.
  rdbu: ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f'],
  coolwarm: ['#3b4cc0', '#6788ee', '#9abbff', '#c9d7f0', '#edd1c2', '#f7a889', '#e26952', '#b40426'],
  bwr: ['#0000ff', '#ffffff', '#ff0000'],
  viridis: ['#440154', '#472c7a', '#3b518b', '#2c718e', '#21908d', '#27ad81', '#5cc863', '#aadc32', '#fde725'],
  magma: ['#000004', '#1c1044', '#4f127b', '#812581', '#b5367a', '#e55964', '#fb8761', '#fec287', '#fcfdbf'],
  gray: ['#000000', '#ffffff'],
};

/** Whether the map is meant for signed data centred at zero. */
export function isDiverging(name: ColormapName): boolean {
  return name === 'rdbu' || name === 'coolwarm' || name === 'bwr';
}

function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const luts = new Map<ColormapName, Uint8ClampedArray>();

/** Levels per LUT: odd, so the middle entry is exactly a diverging map's centre colour. */
export const COLORMAP_LEVELS = 255;

/** RGB triples for COLORMAP_LEVELS levels (index 0 = lowest value). */
export function colormapLut(name: ColormapName): Uint8ClampedArray {
  let lut = luts.get(name);
  if (lut) return lut;
  const points = CONTROL_POINTS[name];
  if (!points) throw new RangeError(`Unknown colormap "${String(name)}": use one of ${COLORMAPS.join(', ')}`);
  const rgb = points.map(hexToRgb);
  lut = new Uint8ClampedArray(COLORMAP_LEVELS * 3);
  for (let i = 0; i < COLORMAP_LEVELS; i++) {
    const position = (i / (COLORMAP_LEVELS - 1)) * (rgb.length - 1);
    const lower = Math.min(Math.floor(position), rgb.length - 2);
    const t = position - lower;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(rgb[lower]![c]! * (1 - t) + rgb[lower + 1]![c]! * t);
  }
  luts.set(name, lut);
  return lut;
}

/** CSS gradient of a colormap, for legends. */
export function colormapGradient(name: ColormapName, direction = 'to right'): string {
  return `linear-gradient(${direction}, ${CONTROL_POINTS[name].join(', ')})`;
}
