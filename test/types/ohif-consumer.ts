// Type-checked against the built package (`bagnet-elements/ohif`, `bagnet-elements/ohif/mode`, by the
// package's own name and its `exports`' `types`), as a site's OHIF configuration written in TypeScript would.
import extension, { currentBagnet, EXTENSION_ID } from 'bagnet-elements/ohif';
import mode from 'bagnet-elements/ohif/mode';
import type { OverlayTool } from 'bagnet-elements/cornerstone';

const id: string = extension.id;
const same: boolean = id === EXTENSION_ID;
const modeId: string = mode.id;
const routeName: string = mode.modeFactory().routeName;
const tool: OverlayTool = 'select';
currentBagnet()?.active?.setOptions({ tool, selection: [0, 1], ablation: 'keep' });
// @ts-expect-error: not a tool
currentBagnet()?.active?.setOptions({ tool: 'lasso' });
export { same, modeId, routeName };
