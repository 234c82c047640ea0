/**
 * The OHIF extension's controller (src/plugins/ohif/controller.ts) against OHIF's viewport grid, with
 * real Cornerstone viewports and stand-ins for OHIF's services (their pub-sub and the calls the
 * controller makes): an overlay per stack viewport of the layout, the active one followed, a viewport
 * that goes away or changes loses its overlay, shared options reach them all. The real OHIF viewer is
 * test/ohif/ohif.node.test.mjs.
 */
import { expect } from '@esm-bundle/chai';
import type { Types } from '@cornerstonejs/core';
import { OhifBagnet, type OhifServices } from '../../src/plugins/ohif/controller.js';
import { DEFAULT_MODEL, usePagePool } from '../helpers.js';
import { disableViewport, nextResult, stackViewport, wadouri } from './viewport.js';

class PubSub {
  readonly EVENTS: Record<string, string> = {};
  readonly #listeners = new Map<string, Set<() => void>>();
  constructor(names: string[]) {
    for (const name of names) this.EVENTS[name] = `event::${name}`;
  }
  subscribe(event: string, callback: () => void) {
    const set = this.#listeners.get(event) ?? new Set();
    set.add(callback);
    this.#listeners.set(event, set);
    return { unsubscribe: () => set.delete(callback) };
  }
  emit(name: string): void {
    this.#listeners.get(this.EVENTS[name]!)?.forEach((callback) => callback());
  }
}

function fakeOhif(viewports: Map<string, Types.IStackViewport>) {
  let active = [...viewports.keys()][0]!;
  const cornerstoneViewportService = Object.assign(new PubSub(['VIEWPORT_DATA_CHANGED']), {
    getCornerstoneViewport: (id: string) => viewports.get(id),
  });
  const grid = new PubSub(['ACTIVE_VIEWPORT_ID_CHANGED', 'GRID_STATE_CHANGED']);
  const viewportGridService = Object.assign(grid, {
    getActiveViewportId: () => active,
    getState: () => ({ viewports: new Map([...viewports.keys()].map((id) => [id, {}])) }),
    activate(id: string) {
      active = id;
      grid.emit('ACTIVE_VIEWPORT_ID_CHANGED');
    },
  });
  const customizationService = { getCustomization: (id: string) => (id === 'bagnet.models' ? [{ label: 'default', url: DEFAULT_MODEL }] : undefined) };
  return { cornerstoneViewportService, viewportGridService, customizationService };
}

describe('OHIF extension controller', () => {
  usePagePool();

  it('gives each stack viewport of the layout its own overlay and follows the active one', async () => {
    const left = await stackViewport([wadouri('sneaker-window')], { width: 200, height: 200 });
    const right = await stackViewport([wadouri('ct16-signed')], { width: 200, height: 200 });
    const viewports = new Map([['left', left], ['right', right]]);
    const services = fakeOhif(viewports);
    const controller = new OhifBagnet(services as unknown as OhifServices);
    try {
      let changes = 0;
      controller.addEventListener('change', () => changes++);
      controller.setOptions({ backend: 'wasm' });
      // Nothing is attached outside the bagnet mode.
      services.viewportGridService.emit('GRID_STATE_CHANGED');
      expect(controller.overlays.size).to.equal(0);
      controller.attach();
      const overlays = controller.overlays;
      expect([...overlays.keys()]).to.deep.equal(['left', 'right']);
      expect(overlays.get('left')!.viewport).to.equal(left);
      expect(overlays.get('right')!.viewport).to.equal(right);
      const [a, b] = await Promise.all([nextResult(overlays.get('left')!), nextResult(overlays.get('right')!)]);
      expect(a.topk[0]!.label).to.equal('Sneaker');
      expect(b.imageId).to.equal(wadouri('ct16-signed'));
      expect(controller.active).to.equal(overlays.get('left'));
      services.viewportGridService.activate('right');
      expect(controller.active).to.equal(overlays.get('right'));
      expect(changes).to.be.at.least(3); // attached, two results, the active viewport
      // Shared options reach every overlay.
      controller.setOptions({ opacity: 0.3, target: 'Bag' });
      expect([...controller.overlays.values()].map((o) => [o.options.opacity, o.options.target])).to.deep.equal([[0.3, 'Bag'], [0.3, 'Bag']]);
      // A viewport that leaves the layout loses its overlay (its canvas removed).
      const gone = overlays.get('right')!;
      viewports.delete('right');
      services.viewportGridService.emit('GRID_STATE_CHANGED');
      expect([...controller.overlays.keys()]).to.deep.equal(['left']);
      expect(right.element.querySelector('canvas.bagnet-overlay')).to.equal(null);
      expect(gone.result).to.equal(null);
      expect(controller.active).to.equal(null); // 'right' is still the active id, and shows nothing now
      // Leaving the mode (bagnetClear): no overlay, and none comes back on the next grid event.
      controller.detachAll();
      services.viewportGridService.emit('GRID_STATE_CHANGED');
      expect(controller.overlays.size).to.equal(0);
      expect(left.element.querySelector('canvas.bagnet-overlay')).to.equal(null);
    } finally {
      controller.dispose();
      disableViewport(left);
      disableViewport(right);
    }
  });
});
