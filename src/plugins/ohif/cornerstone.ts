/**
 * `@cornerstonejs/core` inside OHIF: the viewer's own Cornerstone3D instance, never a second copy.
 * The OHIF build (rollup.config.mjs) resolves the Cornerstone plugin's `@cornerstonejs/core` import to
 * this module; the extension's `preRegistration` hands it OHIF's instance (from
 * `@ohif/extension-cornerstone`'s utility module) before any overlay exists. ES module bindings are
 * live: the overlay reads these names when it runs, after `useCornerstone`.
 */
import type * as Cornerstone from '@cornerstonejs/core';

type Core = typeof Cornerstone;

export let Enums: Core['Enums'];
export let eventTarget: Core['eventTarget'];
export let metaData: Core['metaData'];
export let getShouldUseCPURendering: Core['getShouldUseCPURendering'];
export type { Types } from '@cornerstonejs/core';

/** The instance in use (null before the extension's preRegistration). */
export let core: Core | null = null;

export function useCornerstone(instance: Core): void {
  core = instance;
  ({ Enums, eventTarget, metaData, getShouldUseCPURendering } = instance);
}
