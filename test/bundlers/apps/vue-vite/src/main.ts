import { createApp } from 'vue';
import 'bagnet-elements/register';
import type {} from 'bagnet-elements/vue';
import App from './App.vue';

createApp(App).mount('#app');
