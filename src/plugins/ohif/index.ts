/**
 * The OHIF Viewer v3 extension (`bagnet-elements/ohif`, built to dist/ohif/index.js): a side panel
 * with the BagNet overlay of the active viewport, commands, a toolbar evaluator and the model list as
 * a customization. The mode is dist/ohif/mode.js. Built on the Cornerstone3D plugin, with OHIF's own
 * Cornerstone3D instance (./cornerstone.ts); React and @ohif/core are not imported (the panel is a
 * custom element, handed to OHIF's React as a plain element description).
 *
 * At run time, without rebuilding OHIF: `window.config.extensions = ['/bagnet/dist/ohif/index.js']`,
 * `window.config.modes = ['/bagnet/dist/ohif/mode.js']` (see the README).
 */
import { useCornerstone } from './cornerstone.js';
import { configure } from '../../pool/config.js';
import { currentBagnet, OhifBagnet, type OhifServices, type ModelChoice } from './controller.js';
import './bagnet-ohif-panel.js';
import { EXTENSION_ID } from './id.js';

export { EXTENSION_ID };

/** The model list when the site configures none: the package's default model. */
export const DEFAULT_MODELS: readonly ModelChoice[] = [
  { label: 'Fashion-MNIST BagNet (default)', url: new URL('../../models/default/bagnet.json', import.meta.url).href },
];

interface ExtensionParams {
  servicesManager: { services: OhifServices };
  commandsManager?: unknown;
  extensionManager: { getModuleEntry(id: string): { exports?: Record<string, unknown> } | undefined };
  appConfig?: { bagnet?: { workerUrl?: string; wasmPaths?: string } };
}

export { currentBagnet };

/** React renders an object with this shape as `<tag …props>`: the panel needs no React of its own. */
function element(tag: string, props: Record<string, unknown> = {}): unknown {
  return { $$typeof: Symbol.for('react.element'), type: tag, key: null, ref: null, props, _owner: null, _store: {} };
}

const extension = {
  id: EXTENSION_ID,

  preRegistration({ servicesManager, extensionManager, appConfig }: ExtensionParams): void {
    const common = extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common');
    const libraries = (common?.exports?.['getCornerstoneLibraries'] as (() => { cornerstone: never }) | undefined)?.();
    if (!libraries?.cornerstone) throw new Error(`${EXTENSION_ID} needs @ohif/extension-cornerstone (its getCornerstoneLibraries)`);
    useCornerstone(libraries.cornerstone);
    // The worker and onnxruntime-web's binaries: the package's embed folder beside dist/ohif, unless the site says.
    configure({
      workerUrl: appConfig?.bagnet?.workerUrl ?? new URL('../embed/bagnet-worker.js', import.meta.url).href,
      wasmPaths: appConfig?.bagnet?.wasmPaths ?? new URL('../embed/', import.meta.url).href,
    });
    currentBagnet()?.dispose();
    new OhifBagnet(servicesManager.services);
  },

  onModeExit(): void {
    currentBagnet()?.detachAll();
  },

  getPanelModule() {
    return [{
      name: 'bagnet',
      iconName: 'tab-linear',
      iconLabel: 'BagNet',
      label: 'BagNet',
      component: () => element('bagnet-ohif-panel'),
    }];
  },

  getCommandsModule() {
    const run = (fn: (c: OhifBagnet) => unknown) => () => {
      const controller = currentBagnet();
      return controller ? fn(controller) : undefined;
    };
    return {
      definitions: {
        bagnetAttach: { commandFn: run((c) => c.attach()) },
        bagnetRun: { commandFn: run((c) => { c.attach(); return c.refresh(); }) },
        bagnetClear: { commandFn: run((c) => c.detachAll()) },
        bagnetToggleOverlay: { commandFn: run((c) => c.setOptions({ enabled: !(c.options.enabled ?? true) })) },
        bagnetSetTarget: { commandFn: ({ target = '' }: { target?: string } = {}) => currentBagnet()?.setOptions({ target }) },
      },
      defaultContext: 'VIEWER',
    };
  },

  getToolbarModule() {
    // The mode's toggle button asks this whether the overlay is on.
    return [{
      name: 'evaluate.bagnet.overlay',
      evaluate: () => ({ disabled: !currentBagnet(), isActive: currentBagnet()?.options.enabled ?? true }),
    }];
  },

  getCustomizationModule() {
    return [{ name: 'default', value: { 'bagnet.models': DEFAULT_MODELS } }];
  },
};

export default extension;
