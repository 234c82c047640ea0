/** Shared by the browser tests: model URLs, samples, independent comparisons, server counters. */

import { configure } from '../src/pool/config.js';
import { disposePool } from '../src/pool/pool.js';

export const DEFAULT_MODEL = new URL('../models/default/bagnet.json', import.meta.url).href;
export const NARROW_MODEL = new URL('../models/generated/bagnet33-narrow/bagnet.json', import.meta.url).href;
/** The narrow model's files without its stages, and with a stage that fails its checksum (models/bagnet_tools/fixtures.py). */
export const NARROW_WHOLE = new URL('../models/generated/bagnet33-narrow/whole.json', import.meta.url).href;
export const NARROW_BAD_STAGE = new URL('../models/generated/bagnet33-narrow/bad-stage.json', import.meta.url).href;
export const RANDOM_BAGNET33 = new URL('../models/generated/bagnet33-random/bagnet.json', import.meta.url).href;

export interface Sample {
  file: string;
  url: string;
  label: string;
  labelIndex: number;
  predicted: number;
  logits: number[];
}

export async function loadSamples(): Promise<Sample[]> {
  const base = new URL('../models/default/', import.meta.url);
  const samples: Omit<Sample, 'url'>[] = await (await fetch(new URL('samples.json', base))).json();
  return samples.map((s) => ({ ...s, url: new URL(s.file, base).href }));
}

/** max |actual - expected| / max |expected|. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / scale;
}

/** Deterministic noise image (mulberry32), opaque. */
export function noiseImage(width: number, height: number, seed: number): ImageData {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i & 3) === 3 ? 255 : Math.floor(next() * 256);
  return new ImageData(data, width, height);
}

/** Requests the test server has seen for `path` (see scripts/server-options.mjs). */
export async function serverHits(path: string, reset = false): Promise<number> {
  const response = await fetch(`/__hits?path=${encodeURIComponent(path)}${reset ? '&reset=1' : ''}`);
  return (await response.json()).count;
}

export function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
}

export const SYNTHETIC_MODEL = new URL('../models/generated/synthetic-brightness/bagnet.json', import.meta.url).href;

/** Black image with a white square: the patch with the most "bright" evidence is known. */
export function squareImage(width: number, height: number, square: { x: number; y: number; size: number }): ImageData {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x >= square.x && x < square.x + square.size && y >= square.y && y < square.y + square.size;
      data.set([inside ? 255 : 0, inside ? 255 : 0, inside ? 255 : 0, 255], (y * width + x) * 4);
    }
  }
  return new ImageData(data, width, height);
}

let tagCounter = 0;
/** Register `base` under a fresh tag (each test its own), return the tag. */
export function defineFresh(prefix: string, base: CustomElementConstructor): string {
  const tag = `${prefix}-${++tagCounter}`;
  customElements.define(tag, class extends (base as { new(): HTMLElement }) {});
  return tag;
}

/** An image file's stored pixels (no colour conversion, no premultiplication). */
export async function imageDataOf(url: string): Promise<ImageData> {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob(), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', { willReadFrequently: true })!;
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

/** The next `type` event on `target`. */
export function nextEvent<T extends Event = CustomEvent>(target: EventTarget, type: string): Promise<T> {
  return new Promise((resolve) => target.addEventListener(type, (event) => resolve(event as T), { once: true }));
}

/**
 * The setup of a test file that uses the page's pool: a fresh pool before, an empty body after each
 * test, the pool disposed at the end. Returns the samples (filled in `before`).
 */
export function usePagePool(options: { idleReleaseMs?: number } = {}): Sample[] {
  const samples: Sample[] = [];
  before(async () => {
    samples.push(...await loadSamples());
    disposePool();
    configure({ cache: 'bagnet-test-cache', idleReleaseMs: options.idleReleaseMs ?? 10_000 });
  });
  afterEach(() => document.body.replaceChildren());
  after(() => disposePool());
  return samples;
}

export interface AxeResults { violations: { id: string; impact: string; help: string; nodes: { target: unknown }[] }[] }
export interface Axe { run(context: Element | Document, options: object): Promise<AxeResults> }

/** axe-core, loaded once into this page (a classic UMD script, so loaded as one). */
export async function loadAxe(): Promise<Axe> {
  const page = window as unknown as { axe?: Axe };
  if (!page.axe) {
    await new Promise<void>((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/node_modules/axe-core/axe.min.js';
      script.onload = () => resolve();
      script.onerror = () => reject(new Error('could not load axe-core'));
      document.head.append(script);
    });
  }
  return page.axe!;
}
