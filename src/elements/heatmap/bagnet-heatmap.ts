import { BagnetHeatmap } from './bagnet-heatmap.component.js';

export * from './bagnet-heatmap.component.js';

if (!customElements.get('bagnet-heatmap')) customElements.define('bagnet-heatmap', BagnetHeatmap);

declare global {
  interface HTMLElementTagNameMap {
    'bagnet-heatmap': BagnetHeatmap;
  }
}
