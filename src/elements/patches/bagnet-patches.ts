import { BagnetPatches } from './bagnet-patches.component.js';

export * from './bagnet-patches.component.js';

if (!customElements.get('bagnet-patches')) customElements.define('bagnet-patches', BagnetPatches);

declare global {
  interface HTMLElementTagNameMap {
    'bagnet-patches': BagnetPatches;
  }
}
