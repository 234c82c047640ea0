import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html } from 'lit';
import { MODEL, SAMPLES } from './shared.js';

interface Args {
  model: string;
  src: string;
  backend: 'auto' | 'webgpu' | 'wasm';
  target: string;
  colormap: string;
  percentile: number;
  scale: number;
  opacity: number;
  mode: 'overlay' | 'side-by-side' | 'edges';
  sign: 'all' | 'positive' | 'negative';
  threshold: number;
  'threshold-mode': 'clip' | 'binary';
  resolution: 'fast' | 'exact';
}

const meta: Meta<Args> = {
  title: 'Elements/bagnet-heatmap',
  component: 'bagnet-heatmap',
  args: {
    model: MODEL, src: SAMPLES[18], backend: 'wasm', target: '', colormap: 'rdbu', percentile: 99, scale: 0, opacity: 0.75,
    mode: 'overlay', sign: 'all', threshold: 0, 'threshold-mode': 'clip', resolution: 'fast',
  },
  argTypes: {
    src: { control: 'select', options: SAMPLES },
    colormap: { control: 'select', options: ['rdbu', 'coolwarm', 'bwr', 'viridis', 'magma', 'gray'] },
    mode: { control: 'inline-radio', options: ['overlay', 'side-by-side', 'edges'] },
    sign: { control: 'inline-radio', options: ['all', 'positive', 'negative'] },
    'threshold-mode': { control: 'inline-radio', options: ['clip', 'binary'] },
    resolution: { control: 'inline-radio', options: ['fast', 'exact'] },
    backend: { control: 'inline-radio', options: ['auto', 'webgpu', 'wasm'] },
  },
  render: (a) => html`<bagnet-heatmap model=${a.model} src=${a.src} backend=${a.backend} target=${a.target} colormap=${a.colormap}
    percentile=${a.percentile} scale=${a.scale} opacity=${a.opacity} mode=${a.mode} sign=${a.sign} threshold=${a.threshold}
    threshold-mode=${a['threshold-mode']} resolution=${a.resolution} style="--bagnet-heatmap-size: 300px"></bagnet-heatmap>`,
};
export default meta;

type Story = StoryObj<Args>;

/** The stride-2 map of the classification itself, over the image (hover a patch; click to pin it). */
export const Overlay: Story = {};

/** The exact full-resolution map, refined 2 → 1 (for BagNet-33: 8 → 4 → 2 → 1). */
export const Exact: Story = { args: { resolution: 'exact' } };

/** Image and map side by side. */
export const SideBySide: Story = { args: { mode: 'side-by-side', resolution: 'exact' } };

/** The authors' style: the map with the image's edges drawn over it. */
export const Edges: Story = { args: { mode: 'edges', resolution: 'exact' } };

/** Only the evidence for the class. */
export const PositiveOnly: Story = { args: { sign: 'positive', resolution: 'exact' } };

/** Only the evidence against it. */
export const NegativeOnly: Story = { args: { sign: 'negative', resolution: 'exact' } };

/** Appendix A.1: evidence below a threshold clipped away. */
export const ThresholdClip: Story = { args: { threshold: 20, resolution: 'exact' } };

/** Appendix A.1: the map binarised at a threshold. */
export const ThresholdBinary: Story = { args: { threshold: 20, 'threshold-mode': 'binary', resolution: 'exact' } };

/** A fixed scale (±40) instead of the 99th percentile, to compare images on one scale. */
export const FixedScale: Story = { args: { scale: 40 } };

/** A sequential colormap. */
export const Viridis: Story = { args: { colormap: 'viridis', sign: 'positive', resolution: 'exact' } };

/** Any class, by label: here the evidence for "Sneaker" in an ankle boot. */
export const TargetByLabel: Story = { args: { target: 'Sneaker', resolution: 'exact' } };

/** A label the model does not have: the error state. */
export const UnknownTarget: Story = { args: { target: 'Unicorn' }, tags: ['expect-error'] };
