// See cornerstone-core.js.
export * from '@cornerstonejs/dicom-image-loader';
export { default } from '@cornerstonejs/dicom-image-loader';
