/**
 * Shows the input image in a shadow root: an `<img>` for URLs and blobs (so `alt` works), a
 * `<canvas>` for bitmaps, canvases and ImageData. Object URLs are revoked when replaced.
 */
import { nothing } from 'lit';
import { directive, Directive, PartType, type ElementPart, type PartInfo } from 'lit/directive.js';
import type { ImageInput } from '../../pool/image-input.js';

export type ImageDisplay = { kind: 'url'; url: string } | { kind: 'pixels'; draw: (canvas: HTMLCanvasElement) => void } | { kind: 'none' };

export class ImageDisplayCache {
  #input: ImageInput | null = null;
  #display: ImageDisplay = { kind: 'none' };
  #objectUrl: string | null = null;

  get(input: ImageInput | null): ImageDisplay {
    if (input === this.#input) return this.#display;
    this.dispose();
    this.#input = input;
    this.#display = displayOf(input, (url) => { this.#objectUrl = url; });
    return this.#display;
  }

  dispose(): void {
    if (this.#objectUrl) URL.revokeObjectURL(this.#objectUrl);
    this.#objectUrl = null;
    this.#input = null;
    this.#display = { kind: 'none' };
  }
}

function displayOf(input: ImageInput | null, keepObjectUrl: (url: string) => void): ImageDisplay {
  if (input === null) return { kind: 'none' };
  if (typeof input === 'string' || input instanceof URL) return { kind: 'url', url: String(input) };
  if (input instanceof Blob) {
    const url = URL.createObjectURL(input);
    keepObjectUrl(url);
    return { kind: 'url', url };
  }
  if (input instanceof HTMLImageElement) return { kind: 'url', url: input.currentSrc || input.src };
  if (input instanceof ImageData) {
    return { kind: 'pixels', draw: (canvas) => {
      canvas.width = input.width;
      canvas.height = input.height;
      canvas.getContext('2d')!.putImageData(input, 0, 0);
    } };
  }
  return { kind: 'pixels', draw: (canvas) => {
    const source = input as CanvasImageSource & { width: number; height: number; videoWidth?: number; videoHeight?: number };
    canvas.width = source.videoWidth || source.width;
    canvas.height = source.videoHeight || source.height;
    canvas.getContext('2d')!.drawImage(source, 0, 0);
  } };
}

type Drawing = ImageData | ((canvas: HTMLCanvasElement) => void);

/**
 * Draws into the canvas it is attached to: pixels (the canvas takes their size) or a drawing
 * function, once per value, and again on a new canvas (a re-rendered template, a mode switch).
 */
class DrawOnceDirective extends Directive {
  #last: Drawing | null = null;
  constructor(part: PartInfo) {
    super(part);
    if (part.type !== PartType.ELEMENT) throw new Error('drawOnce must be used on an element');
  }
  override update(part: ElementPart, [drawing]: [Drawing]) {
    if (drawing !== this.#last) {
      this.#last = drawing;
      const canvas = part.element as HTMLCanvasElement;
      if (typeof drawing === 'function') drawing(canvas);
      else {
        canvas.width = drawing.width;
        canvas.height = drawing.height;
        canvas.getContext('2d')!.putImageData(drawing, 0, 0);
      }
    }
    return this.render(drawing);
  }
  render(_drawing: Drawing) {
    return nothing;
  }
}

export const drawOnce = directive(DrawOnceDirective);
