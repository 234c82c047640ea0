import { css } from 'lit';

/** Shared look: custom properties users can theme, and a visually-hidden utility for live regions. */
export const baseStyles = css`
  :host {
    display: inline-block;
    box-sizing: border-box;
    font: var(--bagnet-font, 14px/1.4 system-ui, sans-serif);
    color: var(--bagnet-color, #1d1d1f);
    --_accent: var(--bagnet-accent, #c62828);
    --_muted: var(--bagnet-muted, #6b6b70);
    --_radius: var(--bagnet-radius, 6px);
    --_surface: var(--bagnet-surface, #f4f4f6);
  }
  :host([hidden]) {
    display: none;
  }
  *, *::before, *::after {
    box-sizing: inherit;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    clip-path: inset(50%);
    white-space: nowrap;
  }
  [part='progress'] {
    height: 4px;
    border-radius: 2px;
    background: var(--_surface);
    overflow: hidden;
  }
  [part='progress']::after {
    content: '';
    display: block;
    height: 100%;
    width: calc(var(--progress, 0.15) * 100%);
    background: var(--_accent);
    transition: width 0.2s;
  }
  [part='error'] {
    color: var(--bagnet-error-color, #b3261e);
    margin: 0.5em 0;
  }
`;
