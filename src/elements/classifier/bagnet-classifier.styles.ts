import { css } from 'lit';
import { baseStyles } from '../shared/styles.js';

export const classifierStyles = [baseStyles, css`
  :host {
    width: var(--bagnet-width, 320px);
  }
  figure {
    margin: 0;
  }
  [part='media'] {
    position: relative;
    display: grid;
    place-items: center;
    min-height: 4rem;
    border-radius: var(--_radius);
    background: var(--_surface);
    overflow: hidden;
  }
  [part='media'].dragging {
    outline: 2px dashed var(--_accent);
    outline-offset: -4px;
  }
  [part='image'] {
    display: block;
    width: 100%;
    height: auto;
    max-height: var(--bagnet-image-max-height, 320px);
    object-fit: contain;
  }
  [part='image'].tiny {
    image-rendering: pixelated;
  }
  .placeholder {
    padding: 2rem 1rem;
    color: var(--_muted);
    text-align: center;
  }
  [part='picker'] {
    position: absolute;
    inset: auto 0.5rem 0.5rem auto;
    padding: 0.25rem 0.6rem;
    border-radius: var(--_radius);
    background: rgb(255 255 255 / 0.9);
    color: var(--bagnet-color, #1d1d1f);
    font-size: 0.85em;
    cursor: pointer;
  }
  [part='picker'] input {
    position: absolute;
    width: 1px;
    height: 1px;
    opacity: 0;
  }
  [part='picker']:focus-within {
    outline: 2px solid var(--_accent);
  }
  .status {
    color: var(--_muted);
    font-size: 0.85em;
  }
  [part='results'] {
    list-style: none;
    margin: 0.5rem 0 0;
    padding: 0;
  }
  [part='class'] {
    display: grid;
    grid-template-columns: minmax(0, 9rem) 1fr 3.2em;
    align-items: center;
    gap: 0.5rem;
    padding: 0.15rem 0;
  }
  [part='label'] {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  [part='bar'] {
    height: 0.6rem;
    border-radius: 0.3rem;
    background: linear-gradient(to right, var(--_accent) calc(var(--p) * 100%), var(--_surface) 0);
  }
  [part='probability'] {
    text-align: right;
    font-variant-numeric: tabular-nums;
    color: var(--_muted);
  }
`];
