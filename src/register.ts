// Registers every element (`<bagnet-classifier>`, `<bagnet-heatmap>`, `<bagnet-patches>`).
// The only entry with side effects: import it once, or use the one-tag bundle.
import './elements/classifier/bagnet-classifier.js';
import './elements/heatmap/bagnet-heatmap.js';
import './elements/patches/bagnet-patches.js';

export * from './index.js';
