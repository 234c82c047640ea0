/**
 * The `bagnet` OHIF mode (dist/ohif/mode.js): the study's series on the left, a Cornerstone viewport,
 * the BagNet panel on the right, the usual mouse tools and a toolbar button that shows or hides the
 * overlay. The shape is OHIF 3.13's (as @ohif/mode-basic-dev-mode).
 *
 * The mode names the extension it needs in `extensions`: loaded at run time, OHIF imports that key
 * as a URL (the extension's module beside this one); built into the viewer (pluginConfig.json), the
 * package name.
 */
import { EXTENSION_ID } from './id.js';

const RUNTIME = /^https?:/.test(import.meta.url);
/** How OHIF finds the extension: its URL when this mode was loaded at run time, else its package name. */
export const EXTENSION_KEY = RUNTIME ? new URL('./index.js', import.meta.url).href : EXTENSION_ID;

const ohif = {
  layout: '@ohif/extension-default.layoutTemplateModule.viewerLayout',
  sopClassHandler: '@ohif/extension-default.sopClassHandlerModule.stack',
  seriesList: '@ohif/extension-default.panelModule.seriesList',
  viewport: '@ohif/extension-cornerstone.viewportModule.cornerstone',
  tools: '@ohif/extension-cornerstone.utilityModule.tools',
};

const extensionDependencies = {
  '@ohif/extension-default': '^3.0.0',
  '@ohif/extension-cornerstone': '^3.0.0',
  [EXTENSION_KEY]: '*',
};

interface ModeServices {
  toolGroupService: { createToolGroupAndAddTools(id: string, tools: object): void; destroy(): void };
  toolbarService?: {
    readonly sections: { readonly primary: string };
    register(buttons: object[]): void;
    updateSection(section: string, buttons: string[]): void;
  };
}

interface ModeHooks {
  servicesManager: { services: ModeServices };
  commandsManager: { runCommand(name: string, options?: object): unknown };
  extensionManager: { getModuleEntry(id: string): { exports: Record<string, any> } };
}

function modeFactory() {
  return {
    id: 'bagnet',
    routeName: 'bagnet',
    displayName: 'BagNet evidence',
    onModeEnter({ servicesManager, extensionManager, commandsManager }: ModeHooks): void {
      const { toolGroupService, toolbarService } = servicesManager.services;
      const { toolNames, Enums } = extensionManager.getModuleEntry(ohif.tools).exports;
      toolGroupService.createToolGroupAndAddTools('default', {
        active: [
          { toolName: toolNames.WindowLevel, bindings: [{ mouseButton: Enums.MouseBindings.Primary }] },
          { toolName: toolNames.Pan, bindings: [{ mouseButton: Enums.MouseBindings.Auxiliary }] },
          { toolName: toolNames.Zoom, bindings: [{ mouseButton: Enums.MouseBindings.Secondary }] },
          { toolName: toolNames.StackScroll, bindings: [{ mouseButton: Enums.MouseBindings.Wheel }] },
        ],
      });
      toolbarService?.register([{
        id: 'BagnetOverlay',
        uiType: 'ohif.toolButton',
        props: { icon: 'tab-linear', label: 'BagNet overlay', tooltip: 'Show or hide the BagNet evidence overlay',
          commands: 'bagnetToggleOverlay', evaluate: 'evaluate.bagnet.overlay' },
      }]);
      toolbarService?.updateSection(toolbarService.sections.primary, ['BagnetOverlay']);
      // The extension draws only in this mode.
      commandsManager.runCommand('bagnetAttach');
    },
    onModeExit({ servicesManager, commandsManager }: ModeHooks): void {
      commandsManager.runCommand('bagnetClear');
      servicesManager.services.toolGroupService.destroy();
    },
    validationTags: { study: [], series: [] },
    isValidMode: () => ({ valid: true, description: '' }),
    routes: [{
      path: 'bagnet',
      layoutTemplate: () => ({
        id: ohif.layout,
        props: {
          leftPanels: [ohif.seriesList],
          rightPanels: [`${EXTENSION_ID}.panelModule.bagnet`],
          rightPanelClosed: false,
          viewports: [{ namespace: ohif.viewport, displaySetsToDisplay: [ohif.sopClassHandler] }],
        },
      }),
    }],
    extensions: extensionDependencies,
    hangingProtocol: 'default',
    sopClassHandlers: [ohif.sopClassHandler],
  };
}

export default { id: 'bagnet', modeFactory, extensionDependencies };
