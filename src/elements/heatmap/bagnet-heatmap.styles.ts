import { css } from 'lit';
import { baseStyles } from '../shared/styles.js';

export const heatmapStyles = [baseStyles, css`
  :host {
    --_size: var(--bagnet-heatmap-size, 280px);
  }
  [part='figure'] {
    display: flex;
    gap: 0.5rem;
    flex-wrap: wrap;
  }
  .stack {
    position: relative;
    width: var(--_size);
    max-width: 100%;
    border-radius: var(--_radius);
    overflow: hidden;
    background: var(--_surface);
    cursor: crosshair;
    touch-action: none;
  }
  .stack canvas {
    position: absolute;
    inset: 0;
    width: 100%;
    height: 100%;
  }
  canvas.coarse,
  .tiny canvas {
    image-rendering: pixelated;
  }
  .edges-source {
    display: none;
  }
  [part='patch'] {
    position: absolute;
    box-sizing: border-box;
    border: 2px solid var(--_accent);
    pointer-events: none;
  }
  [part='patch'].pinned {
    border-style: solid;
    box-shadow: 0 0 0 2px rgb(255 255 255 / 0.8);
  }
  [part='legend'] {
    display: flex;
    align-items: center;
    gap: 0.4rem;
    margin-top: 0.4rem;
    font-size: 0.85em;
    color: var(--_muted);
    max-width: var(--_size);
  }
  [part='legend'] .target {
    color: var(--bagnet-color, #1d1d1f);
    font-weight: 600;
  }
  [part='legend'] .gradient {
    flex: 1;
    height: 0.6rem;
    border-radius: 0.3rem;
    min-width: 3rem;
  }
  [part='tooltip'] {
    margin-top: 0.4rem;
    font-size: 0.85em;
    max-width: var(--_size);
  }
  [part='tooltip'] table {
    border-collapse: collapse;
  }
  [part='tooltip'] th {
    text-align: left;
    font-weight: normal;
    padding-right: 1rem;
  }
  [part='tooltip'] td {
    font-variant-numeric: tabular-nums;
    text-align: right;
  }
  [part='tooltip'] .target th {
    font-weight: 600;
  }
`];
