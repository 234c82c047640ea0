import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html, nothing } from 'lit';
import { MODEL, SAMPLES } from './shared.js';

interface Args {
  model: string;
  src?: string;
  srcset?: string;
  target: string;
  count: number;
  view: 'patches' | 'misclassification';
  'true-label': string;
  contrast?: string;
}

const meta: Meta<Args> = {
  title: 'Elements/bagnet-patches',
  component: 'bagnet-patches',
  args: { model: MODEL, src: SAMPLES[6], target: '', count: 6, view: 'patches', 'true-label': '' },
  argTypes: { view: { control: 'inline-radio', options: ['patches', 'misclassification'] } },
  render: (a) => html`<bagnet-patches model=${a.model} src=${a.src ?? ''} srcset=${a.srcset ?? ''} target=${a.target}
    count=${a.count} view=${a.view} true-label=${a['true-label']} contrast=${a.contrast ?? nothing} backend="wasm"></bagnet-patches>`,
};
export default meta;

type Story = StoryObj<Args>;

/** The patches of one image with the most evidence for its top class. */
export const SingleImage: Story = {};

/** The patches that most separate the top class from the second (evidence top-1 − top-2). */
export const Contrast: Story = { args: { contrast: '' } };

/** Across the 20 samples: patches from images of the class, and from the others. */
export const AcrossASet: Story = { args: { src: undefined, srcset: SAMPLES.join(' '), target: 'Sneaker', count: 5 } };

/**
 * Figure 4: an ankle boot the model takes for a sandal. Heatmaps of the true and the predicted class
 * side by side, with their top patches.
 */
export const Misclassification: Story = { args: { view: 'misclassification', src: SAMPLES[19], 'true-label': 'Ankle boot' } };
