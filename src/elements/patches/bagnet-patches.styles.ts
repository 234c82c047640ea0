import { css } from 'lit';
import { baseStyles } from '../shared/styles.js';

export const patchesStyles = [baseStyles, css`
  :host {
    display: block;
    --_patch: var(--bagnet-patch-size, 72px);
  }
  /* Not a heading element: the page decides its heading levels. */
  .title {
    font-weight: 600;
    margin: 0.6rem 0 0.3rem;
  }
  .patches {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
  }
  [part='patch'] {
    margin: 0;
    width: var(--_patch);
    text-align: center;
    font-size: 0.8em;
  }
  [part='crop'] {
    width: var(--_patch);
    height: var(--_patch);
    image-rendering: pixelated;
    border-radius: calc(var(--_radius) / 2);
    outline: 1px solid rgb(0 0 0 / 0.1);
  }
  [part='value'] {
    display: block;
    font-variant-numeric: tabular-nums;
    font-weight: 600;
  }
  .source {
    display: block;
    color: var(--_muted);
    white-space: nowrap;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .comparison {
    display: flex;
    flex-wrap: wrap;
    gap: 1rem;
  }
  .note {
    color: var(--_muted);
    font-size: 0.85em;
  }
`];
