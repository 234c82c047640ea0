// A Cornerstone3D stack viewport for the plugin tests. Cornerstone draws each viewport into a 2D
// canvas (from its WebGL context), which the tests read back.
import { Enums, init as initCore, isCornerstoneInitialized, RenderingEngine, type Types } from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';
import type { BagnetCornerstonePanel, BagnetOverlay, OverlayResultDetail } from '../../src/plugins/cornerstone/index.js';

let engine: RenderingEngine | null = null;
let counter = 0;

export async function stackViewport(imageIds: string[], size = { width: 320, height: 320 }): Promise<Types.IStackViewport> {
  if (!isCornerstoneInitialized()) {
    initCore({ debug: {} }); // WebGL (SwiftShader here), as in real use
    initLoader({ maxWebWorkers: 1 });
  }
  engine ??= new RenderingEngine('bagnet-test-engine');
  const element = document.createElement('div');
  Object.assign(element.style, { width: `${size.width}px`, height: `${size.height}px`, position: 'relative' });
  document.body.append(element);
  const viewportId = `viewport-${++counter}`;
  engine.enableElement({ viewportId, type: Enums.ViewportType.STACK, element: element as HTMLDivElement });
  const viewport = engine.getViewport(viewportId) as Types.IStackViewport;
  await viewport.setStack(imageIds);
  viewport.render();
  return viewport;
}

/**
 * For a describe(): `open(imageIds)` gives a stack viewport, and after each test the `cleanups` run
 * (overlays, panels) and the viewports opened are disabled and removed.
 */
export function useViewports(): {
  open(imageIds: string[]): Promise<Types.IStackViewport>;
  /** A `<bagnet-cornerstone-panel>` for `overlay` on the page; both go after the test. */
  panelFor(overlay: BagnetOverlay): BagnetCornerstonePanel;
  cleanups: (() => void)[];
} {
  const viewports: Types.IStackViewport[] = [];
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    cleanups.splice(0).forEach((cleanup) => cleanup());
    viewports.splice(0).forEach(disableViewport);
  });
  return {
    cleanups,
    panelFor(overlay) {
      const panel = document.createElement('bagnet-cornerstone-panel') as BagnetCornerstonePanel;
      panel.overlay = overlay;
      document.body.append(panel);
      cleanups.push(() => { overlay.destroy(); panel.remove(); });
      return panel;
    },
    async open(imageIds) {
      const viewport = await stackViewport(imageIds);
      viewports.push(viewport);
      return viewport;
    },
  };
}

export function disableViewport(viewport: Types.IStackViewport): void {
  engine?.disableElement(viewport.id);
  viewport.element.remove();
}

export const fixtureUrl = (name: string) => new URL(`../../build/dicom/${name}.dcm`, import.meta.url).href;
export const wadouri = (name: string, frame?: number) => `wadouri:${fixtureUrl(name)}${frame === undefined ? '' : `?frame=${frame}`}`;

/** Resolves on the viewport's next IMAGE_RENDERED. */
export function rendered(viewport: Types.IStackViewport): Promise<void> {
  return new Promise((resolve) => viewport.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => resolve(), { once: true }));
}

/** The overlay's exact map at its final level (its `bagnet-refine` with `final`); rejects on its next error. */
export function exactMapDone(overlay: BagnetOverlay): Promise<void> {
  return new Promise((resolve, reject) => {
    const onRefine = (e: Event) => {
      if (!(e as CustomEvent<{ final: boolean }>).detail.final) return;
      overlay.removeEventListener('bagnet-refine', onRefine);
      resolve();
    };
    overlay.addEventListener('bagnet-refine', onRefine);
    overlay.addEventListener('bagnet-error', (e) => reject(new Error((e as CustomEvent<{ message: string }>).detail.message)), { once: true });
  });
}

/** The overlay's next result; rejects on its next error. */
export function nextResult(overlay: BagnetOverlay): Promise<OverlayResultDetail> {
  return new Promise((resolve, reject) => {
    overlay.addEventListener('bagnet-result', (e) => resolve((e as CustomEvent<OverlayResultDetail>).detail), { once: true });
    overlay.addEventListener('bagnet-error', (e) => reject(new Error((e as CustomEvent<{ message: string }>).detail.message)), { once: true });
  });
}
