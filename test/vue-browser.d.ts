// Vue's browser build (runtime + template compiler) has no types of its own: it is `vue`.
declare module 'vue/dist/vue.esm-browser.js' {
  export * from 'vue';
}
