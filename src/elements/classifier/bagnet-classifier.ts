import { BagnetClassifier } from './bagnet-classifier.component.js';

export * from './bagnet-classifier.component.js';

if (!customElements.get('bagnet-classifier')) customElements.define('bagnet-classifier', BagnetClassifier);

declare global {
  interface HTMLElementTagNameMap {
    'bagnet-classifier': BagnetClassifier;
  }
}
