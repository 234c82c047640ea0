import { css, html, LitElement } from 'lit';
import { state } from 'lit/decorators.js';
import { baseStyles } from '../../elements/shared/styles.js';
import '../cornerstone/bagnet-cornerstone-panel.js';
import { currentBagnet, type OhifBagnet } from './controller.js';

/**
 * The OHIF side panel: the model list (the site's `bagnet.models`), then the Cornerstone plugin's
 * panel for the active viewport's overlay (top-k, target, exact/fast, opacity, contrast, what-if).
 *
 * @summary BagNet panel of the OHIF extension.
 */
export class BagnetOhifPanel extends LitElement {
  static override styles = [baseStyles, css`
    :host { display: block; padding: 0.5rem; color: inherit; }
    label { display: flex; gap: 0.5rem; align-items: center; margin-bottom: 0.5rem; }
    select { min-width: 0; flex: 1; }
    p { margin: 0.5rem 0; color: var(--_muted); }
  `];

  @state() private revision = 0;
  #controller: OhifBagnet | null = null;
  readonly #onChange = () => { this.revision++; };

  override connectedCallback(): void {
    super.connectedCallback();
    this.#controller = currentBagnet();
    this.#controller?.addEventListener('change', this.#onChange);
    this.#controller?.sync();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#controller?.removeEventListener('change', this.#onChange);
    this.#controller = null;
  }

  override render() {
    const controller = this.#controller;
    if (!controller) return html`<p>The BagNet extension is not registered.</p>`;
    const models = controller.models;
    const chosen = controller.model;
    return html`
      <label>Model
        <select @change=${(e: Event) => controller.setOptions({ model: (e.target as HTMLSelectElement).value })}>
          ${models.map((m) => html`<option value=${m.url} ?selected=${m.url === chosen}>${m.label}</option>`)}
        </select>
      </label>
      ${controller.active ? html`<bagnet-cornerstone-panel .overlay=${controller.active}></bagnet-cornerstone-panel>`
        : html`<p>${models.length ? 'Open a stack of images in the active viewport.' : 'No model is configured (bagnet.models).'}</p>`}
    `;
  }
}

if (!customElements.get('bagnet-ohif-panel')) customElements.define('bagnet-ohif-panel', BagnetOhifPanel);

declare global {
  interface HTMLElementTagNameMap {
    'bagnet-ohif-panel': BagnetOhifPanel;
  }
}
