/** The extension's id: its package specifier (what pluginConfig.json names when OHIF is built with it). */
export const EXTENSION_ID = 'bagnet-elements/ohif';
