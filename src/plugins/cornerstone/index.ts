// The Cornerstone3D plugin (`bagnet-elements/cornerstone`): @cornerstonejs/* 5.x are peer dependencies.
// Importing it registers <bagnet-cornerstone-panel>.
export { BagnetOverlay } from './overlay.js';
export type { HeatmapEdit, OverlayOptions, OverlayResultDetail, OverlayTool } from './overlay.js';
export { BagnetCornerstonePanel } from './bagnet-cornerstone-panel.js';
export { frameToRgba, fullRangeWindow, voiLinear, windowForRange, checkPhotometric, PixelPipelineError } from './pixels.js';
export type { DicomFrame, VoiWindow } from './pixels.js';
