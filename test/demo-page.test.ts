// The demo page of `npm start` (demo/index.html, demo/main.ts), loaded as it is in a same-origin
// iframe: once its elements show their results, axe-core finds no violation, and its landmarks and
// sample buttons have the semantics a screen reader needs.
import { expect } from '@esm-bundle/chai';

interface AxeViolation { id: string; impact: string; help: string; nodes: { target: unknown }[] }
interface Axe {
  run(context: Node, options: object): Promise<{ violations: AxeViolation[] }>;
  /** Builds the tree `commons` reads, outside of `run` (which refuses to start until `teardown`). */
  setup(root: Node): void;
  teardown(): void;
  commons: { text: { accessibleText(element: Element): string }; aria: { getRole(element: Element): string | null } };
}
type DemoWindow = Window & typeof globalThis & { axe?: Axe };
/** What the test reads of the demo's elements (they belong to the iframe's realm: no `instanceof`). */
type BagnetElement = HTMLElement & { state: string; src?: string; resolution?: string };

const AXE_TAGS = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice'] } };

/** Resolves once `condition()` holds; fails with `what` (and what `detail()` says) after `ms`. */
async function waitFor(condition: () => boolean, what: string, ms: number, detail: () => string = () => ''): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} ${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Loads axe-core into the demo's window (a classic UMD script) and returns it. */
async function injectAxe(frame: DemoWindow): Promise<Axe> {
  if (!frame.axe) {
    await new Promise<void>((resolve, reject) => {
      const script = frame.document.createElement('script');
      script.src = '/node_modules/axe-core/axe.min.js';
      script.onload = () => resolve();
      script.onerror = () => reject(new Error('could not load axe-core into the demo page'));
      frame.document.head.append(script);
    });
  }
  return frame.axe!;
}

function describeViolations(violations: AxeViolation[]): string[] {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

describe('demo page (demo/index.html)', () => {
  let iframe: HTMLIFrameElement;
  let doc: Document;
  let frame: DemoWindow;
  /** The demo's exact heatmaps whose map refined to its final level, and the errors its elements reported. */
  const finals = new Set<EventTarget>();
  const errors: string[] = [];
  let classifierResults = 0;

  const classifier = () => doc.getElementById('main') as BagnetElement;
  const heatmaps = () => [...doc.querySelectorAll<BagnetElement>('bagnet-heatmap')];
  const patches = () => doc.getElementById('patches') as BagnetElement;
  const sampleButtons = () => [...doc.querySelectorAll<HTMLButtonElement>('#samples button')];
  const states = () => `(classifier ${classifier().state}, heatmaps ${heatmaps().map((h) => `${h.state}${finals.has(h) ? '/final' : ''}`).join(' ')}, `
    + `patches ${patches().state}, ${sampleButtons().length} sample buttons, errors: ${errors.join('; ') || 'none'})`;

  /** Every element of the demo shows its result, every exact map at its final level. */
  const settled = () => classifier().state === 'result'
    && heatmaps().every((h) => h.state === 'result' && (h.resolution !== 'exact' || finals.has(h)))
    && patches().state === 'result' && sampleButtons().length === 20;

  before(async function () {
    this.timeout(240_000);
    iframe = document.createElement('iframe');
    iframe.title = 'bagnet-elements demo';
    iframe.style.cssText = 'width: 1100px; height: 900px; border: 0';
    iframe.src = '/demo/index.html';
    document.body.append(iframe);
    // Listen from the moment the demo's document exists (before its module script runs): the
    // `bagnet-*` events bubble and are composed, so its document hears them all.
    await waitFor(() => Boolean(iframe.contentDocument?.URL.endsWith('/demo/index.html') && iframe.contentDocument.getElementById('heatmap')),
      'the demo document', 30_000);
    doc = iframe.contentDocument!;
    frame = iframe.contentWindow as DemoWindow;
    expect(classifier().state, 'listening before the first classification ends').to.not.equal('result');
    doc.addEventListener('bagnet-refine', (event) => {
      if ((event as CustomEvent<{ final: boolean }>).detail.final) finals.add(event.target!);
    });
    doc.addEventListener('bagnet-error', (event) => {
      errors.push(`${(event.target as Element).localName}: ${(event as CustomEvent<{ message: string }>).detail.message}`);
    });
    doc.addEventListener('bagnet-result', (event) => {
      if (event.target === classifier()) classifierResults++;
      // A new result on a heatmap: its exact map refines again.
      if ((event.target as Element).localName === 'bagnet-heatmap') finals.delete(event.target!);
    }, { capture: true });
    await waitFor(() => settled() || errors.length > 0, 'the demo\'s results', 200_000, states);
    expect(errors, 'errors the demo\'s elements reported').to.deep.equal([]);
  });

  after(() => iframe?.remove());

  it('axe-core finds no violation in the page with its results shown', async function () {
    this.timeout(60_000);
    const axe = await injectAxe(frame);
    const { violations } = await axe.run(doc, AXE_TAGS);
    expect(describeViolations(violations)).to.deep.equal([]);
  });

  it('has one main landmark holding the content, with the header outside it', () => {
    const mains = doc.querySelectorAll('main, [role="main"]');
    expect(mains.length, 'main landmarks').to.equal(1);
    const main = mains[0]!;
    expect(main.contains(doc.querySelector('header')), 'the header is not inside main').to.equal(false);
    expect(doc.querySelector('body > header'), 'a page-level header (banner)').to.not.equal(null);
    for (const id of ['samples', 'main', 'heatmap', 'patches', 'status']) {
      expect(main.contains(doc.getElementById(id)), `#${id} inside main`).to.equal(true);
    }
  });

  it('its samples are a list of named toggle buttons, exactly one pressed, following clicks', async function () {
    this.timeout(200_000);
    const axe = await injectAxe(frame);
    const { aria, text } = axe.commons;
    const gallery = doc.getElementById('samples')!;
    const buttons = sampleButtons();
    expect(buttons).to.have.length(20);
    // Roles and names as assistive technology gets them (axe-core's implementation of the ARIA specs).
    axe.setup(doc);
    let galleryRole: string | null;
    let roles: (string | null)[][];
    let names: string[];
    try {
      galleryRole = aria.getRole(gallery);
      roles = buttons.map((button) => [aria.getRole(button), aria.getRole(button.parentElement!)]);
      names = buttons.map((button) => text.accessibleText(button).trim());
    } finally {
      axe.teardown();
    }
    expect(galleryRole, 'the gallery\'s role').to.equal('list');
    for (const [i, button] of buttons.entries()) {
      expect(roles[i], `sample ${i + 1}'s role and its container's`).to.deep.equal(['button', 'listitem']);
      expect(button.parentElement!.parentElement, `sample ${i + 1}'s list item is in the gallery`).to.equal(gallery);
      expect(names[i], `sample ${i + 1}'s accessible name`).to.match(/^Sample \d+: \S/);
      expect(button.getAttribute('aria-pressed'), `sample ${i + 1} is a toggle button`).to.be.oneOf(['true', 'false']);
    }
    expect(new Set(names).size, 'distinct names').to.equal(20);
    const pressed = () => sampleButtons().filter((button) => button.getAttribute('aria-pressed') === 'true');
    expect(pressed(), 'pressed at first').to.deep.equal([buttons[0]]);
    expect(classifier().src).to.equal(buttons[0]!.querySelector('img')!.src);

    const chosen = buttons[7]!;
    chosen.click();
    expect(pressed(), 'pressed after a click on sample 8').to.deep.equal([chosen]);
    const chosenSrc = chosen.querySelector('img')!.src;
    expect(classifier().src, 'the classifier\'s image').to.equal(chosenSrc);
    expect(classifier().src).to.not.equal(buttons[0]!.querySelector('img')!.src);
    // The new image's result arrives, and the page still has no violation.
    const before = classifierResults;
    await waitFor(() => (classifierResults > before && settled()) || errors.length > 0, 'the results for sample 8', 180_000, states);
    expect(errors).to.deep.equal([]);
    expect(pressed()).to.deep.equal([chosen]);
    const { violations } = await axe.run(doc, AXE_TAGS);
    expect(describeViolations(violations), 'after the click').to.deep.equal([]);
  });
});
