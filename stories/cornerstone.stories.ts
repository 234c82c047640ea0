import type { Meta, StoryObj } from '@storybook/web-components-vite';
import { Enums, init as initCore, isCornerstoneInitialized, RenderingEngine, type Types } from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';
import { BagnetOverlay, type BagnetCornerstonePanel } from '../src/plugins/cornerstone/index.js';
import { configure } from '../src/pool/config.js';
import { MODEL } from './shared.js';

// DICOM files made by test/cornerstone/make-fixtures.mjs (dcmtk and dcmjs) from the model's samples.
const IMAGES = {
  'CT-like, signed 16-bit, window -100/1500': './assets/dicom/ct16-signed.dcm',
  'MR-like, unsigned 16-bit, slope 0.5, no window': './assets/dicom/mr16-unsigned.dcm',
  '8-bit, slope 2, intercept -100, window 80/200': './assets/dicom/sneaker-window.dcm',
} as const;

interface Args {
  image: keyof typeof IMAGES;
  opacity: number;
  resolution: 'fast' | 'exact';
  voi: 'viewport' | 'dataset';
  zoom: number;
  rotation: number;
  flipHorizontal: boolean;
  /** What a drag on the viewport does (the what-if tools). */
  tool: 'navigate' | 'select' | 'edit';
}

// The plugin's pool uses the worker of the one-tag bundle the catalogue serves at ./bagnet/.
configure({ workerUrl: './bagnet/bagnet-worker.js' });

let engine: RenderingEngine | null = null;
let counter = 0;

async function mount(element: HTMLDivElement, panel: BagnetCornerstonePanel, args: Args): Promise<void> {
  if (!isCornerstoneInitialized()) {
    initCore();
    initLoader({ maxWebWorkers: 1 });
  }
  engine ??= new RenderingEngine('bagnet-storybook');
  const viewportId = `bagnet-story-${++counter}`;
  engine.enableElement({ viewportId, type: Enums.ViewportType.STACK, element });
  const viewport = engine.getViewport(viewportId) as Types.IStackViewport;
  const overlay = new BagnetOverlay(viewport, { model: MODEL, backend: 'wasm', opacity: args.opacity, resolution: args.resolution, voi: args.voi, tool: args.tool });
  panel.overlay = overlay;
  await viewport.setStack([`wadouri:${new URL(IMAGES[args.image], location.href).href}`]);
  viewport.setZoom(args.zoom);
  viewport.setViewPresentation({ rotation: args.rotation });
  viewport.setCamera({ flipHorizontal: args.flipHorizontal });
  viewport.render();
  // Storybook re-renders into a new element: release this viewport when ours leaves the page.
  const watch = new MutationObserver(() => {
    if (element.isConnected) return;
    watch.disconnect();
    overlay.destroy();
    engine?.disableElement(viewportId);
  });
  watch.observe(document.body, { childList: true, subtree: true });
}

/**
 * `BagnetOverlay` on a Cornerstone3D stack viewport, with `<bagnet-cornerstone-panel>`: the model
 * classifies the displayed DICOM image (modality LUT → VOI window → MONOCHROME1 inversion → 8-bit
 * gray), and the evidence map is drawn in image coordinates, so it follows zoom, pan, rotation and
 * flip. Pick another class in the panel to see its evidence. The viewport has no tools of its own:
 * choose "Select patches" or "Edit pixels" in the panel (or the `tool` control) and drag on it.
 */
const meta: Meta<Args> = {
  title: 'Plugins/Cornerstone3D',
  tags: ['!autodocs'],
  args: { image: 'CT-like, signed 16-bit, window -100/1500', opacity: 0.6, resolution: 'exact', voi: 'dataset', zoom: 1, rotation: 0, flipHorizontal: false, tool: 'navigate' },
  argTypes: {
    tool: { control: 'inline-radio', options: ['navigate', 'select', 'edit'] },
    image: { control: 'select', options: Object.keys(IMAGES) },
    opacity: { control: { type: 'range', min: 0, max: 1, step: 0.05 } },
    resolution: { control: 'inline-radio', options: ['fast', 'exact'] },
    voi: { control: 'inline-radio', options: ['viewport', 'dataset'] },
    zoom: { control: { type: 'range', min: 0.5, max: 3, step: 0.1 } },
    rotation: { control: 'select', options: [0, 90, 180, 270] },
  },
  render: (args) => {
    const root = document.createElement('div');
    root.style.cssText = 'display: flex; gap: 1rem; align-items: flex-start; flex-wrap: wrap';
    const element = document.createElement('div');
    element.style.cssText = 'width: 384px; height: 384px; background: #000';
    element.addEventListener('contextmenu', (event) => event.preventDefault());
    const panel = document.createElement('bagnet-cornerstone-panel') as BagnetCornerstonePanel;
    root.append(element, panel);
    // Cornerstone needs the element in the page (it measures it): mount once Storybook has added it.
    requestAnimationFrame(() => void mount(element, panel, args));
    return root;
  },
};
export default meta;

type Story = StoryObj<Args>;

/** A CT-like image in its dataset window, with the exact full-resolution map. */
export const Viewer: Story = {};

/** Zoomed, rotated and flipped: the map stays on the image. */
export const RotatedAndFlipped: Story = { args: { zoom: 1.5, rotation: 90, flipHorizontal: true } };

/** An MR-like image without a window: the full value range is used. */
export const NoWindow: Story = { args: { image: 'MR-like, unsigned 16-bit, slope 0.5, no window', resolution: 'fast' } };

/**
 * What-if on the viewport: drag a box over patches to take them out of the bag (Shift-drag puts them
 * back); the panel gives every class's exact probability without them. Switch to "Edit pixels" and
 * drag to fill a box: only the patches it reaches are computed again.
 */
export const WhatIf: Story = { args: { tool: 'select', resolution: 'fast', opacity: 0.5 } };
