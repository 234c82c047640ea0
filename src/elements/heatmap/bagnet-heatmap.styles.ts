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
  [part='figure']:focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 2px;
  }
  .tool-select,
  .tool-brush,
  .tool-edit,
  .tool-paint {
    cursor: cell;
  }
  [part='marquee'] {
    position: absolute;
    box-sizing: border-box;
    border: 1px dashed var(--_accent);
    background: rgb(255 255 255 / 0.15);
    pointer-events: none;
  }
  [part='legend'] .margin {
    font-variant-numeric: tabular-nums;
  }
  [part='whatif'] {
    margin-top: 0.5rem;
    max-width: max(var(--_size), 22rem);
    font-size: 0.85em;
  }
  [part='whatif'] .tools,
  [part='whatif'] form {
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem 0.8rem;
    align-items: center;
    margin-bottom: 0.4rem;
  }
  [part='whatif'] input[type='number'] {
    width: 4em;
  }
  [part='whatif'] table {
    border-collapse: collapse;
    width: 100%;
  }
  [part='whatif'] caption {
    text-align: left;
    margin-bottom: 0.2rem;
  }
  [part='whatif'] th,
  [part='whatif'] td {
    text-align: left;
    padding: 0.1rem 0.5rem 0.1rem 0;
    font-variant-numeric: tabular-nums;
  }
  [part='whatif'] tr.top th {
    font-weight: 600;
  }
  [part='whatif'] .refused {
    color: var(--_accent);
  }
  [part='whatif'] figure {
    margin: 0.4rem 0 0;
  }
  [part='curve'] {
    width: 100%;
    max-width: 20rem;
    height: auto;
    color: var(--bagnet-color, #1d1d1f);
  }
`];
