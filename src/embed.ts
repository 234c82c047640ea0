// The one-tag embed bundle (dist/bagnet-elements.js): registers the elements and exports the API,
// so `<script type="module" src="bagnet-elements.js">` is all a page needs.
export * from './register.js';
