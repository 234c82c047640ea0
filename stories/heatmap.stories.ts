import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { html, nothing } from 'lit';
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
  contrast: string | null;
  whatif: boolean;
  tool: 'inspect' | 'select' | 'brush' | 'edit';
  ablation: 'remove' | 'keep';
  fill: 'background' | 'mean' | 'blur' | 'image';
  selection: number[];
  edits: { x: number; y: number; width: number; height: number; fill: 'background' | 'mean' | 'blur' }[];
}

const meta: Meta<Args> = {
  title: 'Elements/bagnet-heatmap',
  component: 'bagnet-heatmap',
  args: {
    model: MODEL, src: SAMPLES[18], backend: 'wasm', target: '', colormap: 'rdbu', percentile: 99, scale: 0, opacity: 0.75,
    mode: 'overlay', sign: 'all', threshold: 0, 'threshold-mode': 'clip', resolution: 'fast',
    contrast: null, whatif: false, tool: 'inspect', ablation: 'remove', fill: 'background', selection: [], edits: [],
  },
  argTypes: {
    src: { control: 'select', options: SAMPLES },
    colormap: { control: 'select', options: ['rdbu', 'coolwarm', 'bwr', 'viridis', 'magma', 'gray'] },
    mode: { control: 'inline-radio', options: ['overlay', 'side-by-side', 'edges'] },
    sign: { control: 'inline-radio', options: ['all', 'positive', 'negative'] },
    'threshold-mode': { control: 'inline-radio', options: ['clip', 'binary'] },
    resolution: { control: 'inline-radio', options: ['fast', 'exact'] },
    backend: { control: 'inline-radio', options: ['auto', 'webgpu', 'wasm'] },
    tool: { control: 'inline-radio', options: ['inspect', 'select', 'brush', 'edit'] },
    ablation: { control: 'inline-radio', options: ['remove', 'keep'] },
    fill: { control: 'inline-radio', options: ['background', 'mean', 'blur', 'image'] },
  },
  render: (a) => html`<bagnet-heatmap model=${a.model} src=${a.src} backend=${a.backend} target=${a.target} colormap=${a.colormap}
    percentile=${a.percentile} scale=${a.scale} opacity=${a.opacity} mode=${a.mode} sign=${a.sign} threshold=${a.threshold}
    threshold-mode=${a['threshold-mode']} resolution=${a.resolution} contrast=${a.contrast ?? nothing} ?whatif=${a.whatif} tool=${a.tool}
    ablation=${a.ablation} fill=${a.fill} .selection=${a.selection} .edits=${a.edits} style="--bagnet-heatmap-size: 300px"></bagnet-heatmap>`,
};
export default meta;

type Story = StoryObj<Args>;

/**
 * What-if, exactly: pick a tool and change the bag. `select` drags a box of patches (Shift takes them
 * out), `brush` paints patches, `edit` fills a box of pixels (re-scored on the crop it touches); the
 * panel shows every class with those patches removed (or kept alone), exactly, and the curve of the
 * target's probability as its most informative patches go. The map is focusable: arrows, Enter, Space, Escape.
 */
export const WhatIf: Story = { args: { whatif: true, tool: 'select', resolution: 'exact', selection: [27, 28, 35, 36] } };

/** The stride-2 map of the classification itself, over the image (hover a patch; click to pin it). */
export const Overlay: Story = {};

/** Only the selected patches kept in the bag: what they alone say. */
export const KeepOnlySelection: Story = { args: { whatif: true, ablation: 'keep', selection: [18, 19, 20, 26, 27, 28, 34, 35, 36] } };

/** Pixels edited (a box filled with the background), re-scored exactly; the exact map updates where the edit reaches. */
export const PixelEdit: Story = { args: { whatif: true, tool: 'edit', resolution: 'exact', edits: [{ x: 8, y: 6, width: 12, height: 10, fill: 'background' }] } };

/** Contrast with the second most probable class: the map of evidence top-1 − top-2, whose mean is the logit margin. */
export const Contrast: Story = { args: { contrast: '', resolution: 'exact' } };

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

/** A figure for a paper or a report: `toBlob({ scale })` draws the image, the map, the selection and the legend. */
export const Figure: Story = {
  args: { selection: [27, 28, 35, 36], resolution: 'exact' },
  render: (a) => html`<div style="display: flex; gap: 1rem; align-items: start">
    ${meta.render!(a, {} as never)}
    <button @click=${async (event: Event) => {
      const heatmap = (event.target as HTMLElement).parentElement!.querySelector('bagnet-heatmap')!;
      const blob = await heatmap.toBlob({ scale: 8 });
      const image = (event.target as HTMLElement).nextElementSibling as HTMLImageElement;
      if (blob) image.src = URL.createObjectURL(blob);
    }}>Make the figure (PNG, 8×)</button>
    <img alt="The figure" style="max-width: 240px">
  </div>`,
};
