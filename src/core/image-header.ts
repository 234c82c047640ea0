/**
 * An image's pixel size read from its header, before anything is decoded: lets the worker refuse an
 * image whose pixels would not fit in memory (a 20000×20000 PNG is 400 KB of file, 1.6 GB decoded)
 * and decode a big one scaled down. Pure functions over the file's bytes.
 *
 * Every format Chromium's `createImageBitmap` decodes is read: PNG, JPEG, GIF, WebP, BMP, ICO/CUR,
 * AVIF and JPEG XL (SVG is recognised so it can be refused). The size is the one the browser
 * decodes to: after the orientation it applies (JPEG and PNG EXIF, AVIF `irot`, JPEG XL's own),
 * after AVIF's clean aperture, and for GIF the union of the screen and the first frame.
 *
 * Where the size lies past the bytes given (a JPEG with big metadata before its frame header, an
 * AVIF whose `meta` box follows its pixels), the answer is a {@link HeaderReadOn}: which few bytes
 * of the file to read next, and the function that goes on with them.
 */

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'ico' | 'avif' | 'jxl' | 'svg';

export interface ImageHeader {
  readonly format: ImageFormat;
  /** As displayed (orientation applied); 0 when the format does not say (SVG). */
  readonly width: number;
  readonly height: number;
  /** PNG: an `eXIf` chunk comes before the pixels (its orientation may rotate the image). */
  readonly exif?: boolean;
  /**
   * Pixels the decoder works on when more than `width`×`height` shows (AVIF: the largest image of the
   * file, uncropped, grid tiles included): what the decoding limit is checked against.
   */
  readonly decodePixels?: number;
}

/** The header goes on past the bytes given: read `length` bytes at `offset` of the file and pass them to `resume`. */
export interface HeaderReadOn {
  readonly format: ImageFormat;
  readonly offset: number;
  readonly length: number;
  readonly resume: (bytes: Uint8Array) => HeaderRead;
}

/** A recognised format whose size cannot be found (a damaged or cut-short header). */
export interface UnreadableHeader {
  readonly format: ImageFormat;
  readonly unreadable: string;
}

/** null: not a format recognised here. */
export type HeaderRead = ImageHeader | HeaderReadOn | UnreadableHeader | null;

export const FORMAT_NAMES: Readonly<Record<ImageFormat, string>> = Object.freeze({
  png: 'PNG', jpeg: 'JPEG', gif: 'GIF', webp: 'WebP', bmp: 'BMP', ico: 'ICO/CUR', avif: 'AVIF', jxl: 'JPEG XL', svg: 'SVG',
});

/** How much to read on at a time where a header is walked segment by segment (JPEG, PNG, GIF). */
const WALK_WINDOW = 16 * 1024;
/** Largest AVIF `meta`/`moov` box or EXIF block read for a size or an orientation. */
const MAX_BOX_BYTES = 4 * 1024 * 1024;

/**
 * `bytes` are the file's first bytes; `fileSize` the whole file's (default: `bytes` is the whole
 * file). Never reads past `fileSize`.
 */
export function readImageHeader(bytes: Uint8Array, fileSize = bytes.length): HeaderRead {
  const b = new Bytes(bytes, 0);
  const has = (n: number) => bytes.length >= n;
  if (has(24) && bytes[0] === 0x89 && b.ascii(1, 3) === 'PNG') return pngChunks(b, fileSize, b.u32(16), b.u32(20), 8, false, undefined);
  if (has(13) && (b.ascii(0, 6) === 'GIF87a' || b.ascii(0, 6) === 'GIF89a')) return gifHeader(b, fileSize);
  if (has(26) && b.ascii(0, 2) === 'BM') return { format: 'bmp', ...bmpInfoSize(b, 14, false) };
  if (has(30) && b.ascii(0, 4) === 'RIFF' && b.ascii(8, 4) === 'WEBP') return webpHeader(b);
  if (has(4) && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSegments(b, 2, fileSize, undefined);
  if (has(12) && b.ascii(4, 4) === 'ftyp' && isAvifBrand(b)) return avifBoxes(b, 0, fileSize, {});
  if (has(2) && bytes[0] === 0xff && bytes[1] === 0x0a) return jxlCodestream(b.view(2, bytes.length - 2));
  if (has(12) && b.u32(0) === 12 && b.ascii(4, 4) === 'JXL ' && b.u32(8) === 0x0d0a870a) return jxlBoxes(b, 12, fileSize);
  // ICO/CUR's signature is weak (zeros, a type, a count): after the formats whose signature is not.
  if (has(8) && b.u16le(0) === 0 && (b.u16le(2) === 1 || b.u16le(2) === 2) && b.u16le(4) > 0 && b.ascii(4, 4) !== 'ftyp') {
    return icoHeader(b, fileSize);
  }
  const start = new TextDecoder().decode(bytes.subarray(0, 1024)).trimStart().toLowerCase();
  if (start.startsWith('<svg') || (start.startsWith('<?xml') && start.includes('<svg'))) return { format: 'svg', width: 0, height: 0 };
  return null;
}

export function isHeaderReadOn(read: HeaderRead): read is HeaderReadOn {
  return read !== null && 'resume' in read;
}

export function isUnreadable(read: HeaderRead): read is UnreadableHeader {
  return read !== null && 'unreadable' in read;
}

/** The file's bytes from `start` (a file offset), read with bounds checks. */
class Bytes {
  readonly #data: DataView;
  constructor(readonly bytes: Uint8Array, readonly start: number) {
    this.#data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get end(): number { return this.start + this.bytes.length; }
  /** Whether `n` bytes from file offset `at` are here. */
  has(at: number, n: number): boolean { return at >= this.start && at + n <= this.end; }
  u8(at: number): number { return this.#data.getUint8(at - this.start); }
  u16(at: number): number { return this.#data.getUint16(at - this.start); }
  u16le(at: number): number { return this.#data.getUint16(at - this.start, true); }
  u32(at: number): number { return this.#data.getUint32(at - this.start); }
  u32le(at: number): number { return this.#data.getUint32(at - this.start, true); }
  i32le(at: number): number { return this.#data.getInt32(at - this.start, true); }
  ascii(at: number, length: number): string { return String.fromCharCode(...this.bytes.subarray(at - this.start, at - this.start + length)); }
  /** `length` bytes from `at`, as their own window. */
  view(at: number, length: number): Bytes { return new Bytes(this.bytes.subarray(at - this.start, at - this.start + length), at); }
}

const unreadable = (format: ImageFormat, why: string): UnreadableHeader => ({ format, unreadable: why });

/**
 * Ask for `length` bytes at `offset` (clipped to the file), then go on with them as a window
 * starting at `offset`; fewer bytes than needed (`need`) means the file is cut short.
 */
function readOn(format: ImageFormat, offset: number, need: number, length: number, fileSize: number,
                resume: (window: Bytes) => HeaderRead): HeaderRead {
  if (offset + need > fileSize) return unreadable(format, 'the file ends inside its header');
  const clipped = Math.min(Math.max(length, need), fileSize - offset);
  return {
    format, offset, length: clipped,
    resume: (bytes) => (bytes.length < need ? unreadable(format, 'the file ends inside its header') : resume(new Bytes(bytes, offset))),
  };
}

/** EXIF orientations 5–8 turn the image a quarter: width and height swap. */
function oriented(format: ImageFormat, width: number, height: number, orientation: number | undefined): ImageHeader {
  return orientation !== undefined && orientation >= 5 && orientation <= 8 ? { format, width: height, height: width } : { format, width, height };
}

/** The orientation tag (0x0112) of a TIFF block's first IFD (EXIF's layout), or undefined. */
function tiffOrientation(tiff: Bytes): number | undefined {
  const at = tiff.start;
  if (!tiff.has(at, 8)) return undefined;
  const order = tiff.ascii(at, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const little = order === 'II';
  const u16 = (p: number) => (little ? tiff.u16le(p) : tiff.u16(p));
  const u32 = (p: number) => (little ? tiff.u32le(p) : tiff.u32(p));
  if (u16(at + 2) !== 42) return undefined;
  const ifd = at + u32(at + 4);
  if (!tiff.has(ifd, 2)) return undefined;
  const count = u16(ifd);
  for (let entry = ifd + 2, i = 0; i < count && tiff.has(entry, 12); i++, entry += 12) {
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}

// ---- PNG: IHDR's size; an eXIf chunk before the first IDAT may turn it (browsers read it from there).

function pngChunks(b: Bytes, fileSize: number, width: number, height: number, at: number, exif: boolean,
                   orientation: number | undefined): HeaderRead {
  const done = (hasExif: boolean, turn: number | undefined): ImageHeader => ({ ...oriented('png', width, height, turn), exif: hasExif });
  for (;;) {
    // A file cut short before any pixels counts as having an eXIf (the cautious answer).
    if (at + 8 > fileSize) return done(true, orientation);
    if (!b.has(at, 8)) return readOn('png', at, 8, WALK_WINDOW, fileSize, (w) => pngChunks(w, fileSize, width, height, at, exif, orientation));
    const length = b.u32(at);
    const type = b.ascii(at + 4, 4);
    if (type === 'IDAT') return done(exif, orientation);
    if (type === 'eXIf' && !exif) {
      if (length > MAX_BOX_BYTES || at + 8 + length > fileSize) return done(true, undefined);
      if (!b.has(at + 8, length)) {
        return readOn('png', at, 8 + length, 8 + length, fileSize, (w) => pngChunks(w, fileSize, width, height, at, exif, orientation));
      }
      return pngChunks(b, fileSize, width, height, at + 12 + length, true, tiffOrientation(b.view(at + 8, length)));
    }
    at += 12 + length;
  }
}

// ---- GIF: the screen, grown to hold the first frame (Chromium's decoder shows a frame larger than the screen whole).

function gifHeader(b: Bytes, fileSize: number): HeaderRead {
  const screenWidth = b.u16le(6);
  const screenHeight = b.u16le(8);
  const flags = b.u8(10);
  const colorTable = flags & 0x80 ? 3 << ((flags & 7) + 1) : 0;
  return gifBlocks(b, fileSize, 13 + colorTable, screenWidth, screenHeight);
}

function gifBlocks(b: Bytes, fileSize: number, at: number, screenWidth: number, screenHeight: number): HeaderRead {
  const more = (need: number) => readOn('gif', at, need, WALK_WINDOW, fileSize, (w) => gifBlocks(w, fileSize, at, screenWidth, screenHeight));
  for (;;) {
    if (!b.has(at, 1)) return more(1);
    const block = b.u8(at);
    if (block === 0x2c) { // image descriptor: left, top, width, height
      if (!b.has(at, 10)) return more(10);
      return {
        format: 'gif',
        width: Math.max(screenWidth, b.u16le(at + 1) + b.u16le(at + 5)),
        height: Math.max(screenHeight, b.u16le(at + 3) + b.u16le(at + 7)),
      };
    }
    if (block === 0x3b) return { format: 'gif', width: screenWidth, height: screenHeight }; // no frame at all
    if (block !== 0x21) return unreadable('gif', `an unknown block (0x${block.toString(16)}) before the first frame`);
    // An extension: its label, then sub-blocks (a length byte, that many bytes) up to an empty one.
    let next = at + 2;
    for (;;) {
      if (!b.has(next, 1)) {
        const resumeAt = next;
        return readOn('gif', resumeAt, 1, WALK_WINDOW, fileSize, (w) => gifSubBlocks(w, fileSize, resumeAt, screenWidth, screenHeight));
      }
      const size = b.u8(next);
      next += 1 + size;
      if (size === 0) break;
    }
    at = next;
  }
}

/** Go on through an extension's sub-blocks from `at`, then with the blocks after it. */
function gifSubBlocks(b: Bytes, fileSize: number, at: number, screenWidth: number, screenHeight: number): HeaderRead {
  for (;;) {
    if (!b.has(at, 1)) return readOn('gif', at, 1, WALK_WINDOW, fileSize, (w) => gifSubBlocks(w, fileSize, at, screenWidth, screenHeight));
    const size = b.u8(at);
    at += 1 + size;
    if (size === 0) return gifBlocks(b, fileSize, at, screenWidth, screenHeight);
  }
}

// ---- BMP (and the bitmaps inside ICO): the info header's size; OS/2's 12-byte header has 16-bit fields.

function bmpInfoSize(b: Bytes, at: number, icon: boolean): { width: number; height: number } {
  const core = b.u32le(at) === 12;
  const width = core ? b.u16le(at + 4) : Math.abs(b.i32le(at + 4));
  const height = core ? b.u16le(at + 6) : Math.abs(b.i32le(at + 8));
  // An icon's bitmap holds its colours and then its mask: twice the height.
  return { width, height: icon ? Math.floor(height / 2) : height };
}

// ---- WebP: VP8X's canvas, or the one frame's size (Chromium does not turn WebP by its EXIF).

function webpHeader(b: Bytes): HeaderRead {
  const chunk = b.ascii(12, 4);
  const u24 = (at: number) => b.u8(at) | (b.u8(at + 1) << 8) | (b.u8(at + 2) << 16);
  if (chunk === 'VP8X') return { format: 'webp', width: 1 + u24(24), height: 1 + u24(27) };
  if (chunk === 'VP8L') {
    const bits = b.u32le(21);
    return { format: 'webp', width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff) };
  }
  if (chunk === 'VP8 ') return { format: 'webp', width: b.u16le(26) & 0x3fff, height: b.u16le(28) & 0x3fff };
  return unreadable('webp', `an unknown first chunk "${chunk}"`);
}

// ---- JPEG: walk the segments to the first start-of-frame; the first EXIF APP1 segment may turn the image.

const isStartOfFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

function jpegSegments(b: Bytes, at: number, fileSize: number, orientation: number | undefined): HeaderRead {
  const more = (need: number, length = WALK_WINDOW) => readOn('jpeg', at, need, length, fileSize, (w) => jpegSegments(w, at, fileSize, orientation));
  for (;;) {
    if (!b.has(at, 4)) return at + 4 > fileSize ? unreadable('jpeg', 'the file ends before its frame header') : more(4);
    if (b.u8(at) !== 0xff) return unreadable('jpeg', `no marker where one should be (byte ${at})`);
    const marker = b.u8(at + 1);
    if (marker === 0xff) { at++; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; } // markers without a length
    if (marker === 0xd9 || marker === 0xda) return unreadable('jpeg', 'the image data starts before any frame header');
    if (isStartOfFrame(marker)) {
      if (!b.has(at, 9)) return more(9);
      return oriented('jpeg', b.u16(at + 7), b.u16(at + 5), orientation);
    }
    const length = b.u16(at + 2);
    if (length < 2) return unreadable('jpeg', `a segment of length ${length} (byte ${at})`);
    if (marker === 0xe1 && orientation === undefined && length >= 8) {
      // Only an EXIF segment is read whole (an XMP one may be 64 KB).
      if (!b.has(at, 10)) return more(10);
      if (b.ascii(at + 4, 6) === 'Exif\0\0') {
        if (!b.has(at, 2 + length)) return more(2 + length, 2 + length);
        orientation = tiffOrientation(b.view(at + 10, length - 8)) ?? 1;
      }
    }
    at += 2 + length;
  }
}

// ---- ICO/CUR: the largest entry (Chromium decodes it, and fails one whose PNG or bitmap differs
// from its directory entry); each entry's own PNG or bitmap header is read too, so a file cannot
// claim a small directory size for a big image.

interface IconEntry { readonly width: number; readonly height: number; readonly offset: number }

function icoHeader(b: Bytes, fileSize: number): HeaderRead {
  const count = b.u16le(4);
  const directory = 6 + 16 * count;
  const entries = (w: Bytes): HeaderRead => {
    const list: IconEntry[] = [];
    for (let i = 0, at = 6; i < count; i++, at += 16) {
      list.push({ width: w.u8(at) || 256, height: w.u8(at + 1) || 256, offset: w.u32le(at + 12) });
    }
    return icoEntries(w, fileSize, list, 0, null);
  };
  return b.has(0, directory) ? entries(b) : readOn('ico', 0, directory, directory, fileSize, entries);
}

function icoEntries(b: Bytes, fileSize: number, entries: readonly IconEntry[], index: number,
                    largest: { width: number; height: number } | null): HeaderRead {
  for (; index < entries.length; index++) {
    const entry = entries[index]!;
    let { width, height } = entry;
    if (entry.offset + 24 <= fileSize) {
      if (!b.has(entry.offset, 24)) {
        const next = index;
        return readOn('ico', entry.offset, 24, 24, fileSize, (w) => icoEntries(w, fileSize, entries, next, largest));
      }
      const own = b.u32(entry.offset) === 0x89504e47 ? { width: b.u32(entry.offset + 16), height: b.u32(entry.offset + 20) }
        : bmpInfoSize(b, entry.offset, true);
      if (own.width * own.height > width * height) ({ width, height } = own);
    }
    if (!largest || width * height > largest.width * largest.height) largest = { width, height };
  }
  return { format: 'ico', ...largest! };
}

// ---- AVIF (ISO-BMFF): the primary item's `ispe`, turned by its `irot` and cropped by its `clap`;
// for an image sequence, its tracks' `av01` sample entries too (the larger wins).

function isAvifBrand(b: Bytes): boolean {
  const size = b.u32(0);
  if (size < 16 || !b.has(0, Math.min(size, 64))) return false;
  for (let at = 8; at + 4 <= Math.min(size, 64); at += 4) {
    if (at === 12) continue; // minor version
    const brand = b.ascii(at, 4);
    if (brand === 'avif' || brand === 'avis') return true;
  }
  return false;
}

interface FoundBoxes { meta?: Bytes; moov?: Bytes }

/** Walk the top-level boxes (reading on for their headers), keep `meta` and `moov`, then read the size from them. */
function avifBoxes(b: Bytes, at: number, fileSize: number, found: FoundBoxes): HeaderRead {
  while (at + 8 <= fileSize) {
    const headerBytes = Math.min(16, fileSize - at);
    if (!b.has(at, headerBytes)) return readOn('avif', at, headerBytes, headerBytes, fileSize, (w) => avifBoxes(w, at, fileSize, found));
    const box = boxHeader(b, at, fileSize);
    if (!box) return unreadable('avif', `a damaged box at byte ${at}`);
    if ((box.type === 'meta' || box.type === 'moov') && !found[box.type]) {
      if (box.end - at > MAX_BOX_BYTES) return unreadable('avif', `a ${box.type} box of ${box.end - at} bytes`);
      if (!b.has(at, box.end - at)) {
        return readOn('avif', at, box.end - at, box.end - at, fileSize, (w) => avifBoxes(w, at, fileSize, found));
      }
      found = { ...found, [box.type]: b.view(box.body, box.end - box.body) };
    }
    at = box.end;
  }
  return avifSize(found);
}

interface Box { readonly type: string; readonly body: number; readonly end: number }

function boxHeader(b: Bytes, at: number, limit: number): Box | null {
  if (!b.has(at, 8)) return null;
  let size = b.u32(at);
  let body = at + 8;
  if (size === 1) {
    if (!b.has(at, 16)) return null;
    size = b.u32(at + 8) * 2 ** 32 + b.u32(at + 12);
    body = at + 16;
  } else if (size === 0) {
    size = limit - at; // to the end
  }
  if (size < body - at || at + size > limit) return null;
  return { type: b.ascii(at + 4, 4), body, end: at + size };
}

/** The child boxes of a box's body (or of a range), in order. */
function children(b: Bytes, from: number, end: number): Box[] {
  const boxes: Box[] = [];
  for (let at = from; at + 8 <= end;) {
    const box = boxHeader(b, at, end);
    if (!box) break;
    boxes.push(box);
    at = box.end;
  }
  return boxes;
}

function avifSize(found: FoundBoxes): HeaderRead {
  const item = found.meta ? primaryItemSize(found.meta) : null;
  const track = found.moov ? largestTrackSize(found.moov) : null;
  const best = [item, track].filter((size): size is AvifSize => size !== null)
    .sort((x, y) => y.width * y.height - x.width * x.height)[0];
  return best ? { format: 'avif', ...best } : unreadable('avif', 'no image size (ispe) for its primary item or tracks');
}

type AvifSize = { width: number; height: number; decodePixels?: number };

function primaryItemSize(meta: Bytes): AvifSize | null {
  // `meta` is a full box: version and flags first.
  const boxes = children(meta, meta.start + 4, meta.end);
  const pitm = boxes.find((box) => box.type === 'pitm');
  const primary = pitm && meta.has(pitm.body, meta.u8(pitm.body) === 0 ? 6 : 8)
    ? (meta.u8(pitm.body) === 0 ? meta.u16(pitm.body + 4) : meta.u32(pitm.body + 4)) : undefined;
  const iprp = boxes.find((box) => box.type === 'iprp');
  if (!iprp) return null;
  const iprpBoxes = children(meta, iprp.body, iprp.end);
  const ipco = iprpBoxes.find((box) => box.type === 'ipco');
  if (!ipco) return null;
  const properties = children(meta, ipco.body, ipco.end);
  const ispe = (box: Box) => (meta.has(box.body, 12) ? { width: meta.u32(box.body + 4), height: meta.u32(box.body + 8) } : null);
  const associated = primary === undefined ? [] : itemProperties(meta, iprpBoxes.filter((box) => box.type === 'ipma'), primary)
    .map((index) => properties[index - 1]).filter((box): box is Box => box !== undefined);
  const own = associated.find((box) => box.type === 'ispe');
  const size = own && ispe(own);
  // The decoder works on whole images (before a crop, and every tile of a grid): the largest bounds it.
  const largest = properties.filter((box) => box.type === 'ispe').map(ispe).filter((s) => s !== null)
    .sort((x, y) => y.width * y.height - x.width * x.height)[0];
  if (!size) return largest ?? null; // no primary item's size: the largest of them all
  const decodePixels = Math.max(size.width * size.height, largest ? largest.width * largest.height : 0);
  let { width, height } = size;
  const clap = associated.find((box) => box.type === 'clap');
  if (clap && meta.has(clap.body, 16)) {
    const fraction = (at: number) => (meta.u32(at + 4) > 0 ? meta.u32(at) / meta.u32(at + 4) : 0);
    const cropWidth = Math.round(fraction(clap.body));
    const cropHeight = Math.round(fraction(clap.body + 8));
    if (cropWidth > 0 && cropHeight > 0 && cropWidth <= width && cropHeight <= height) ({ width, height } = { width: cropWidth, height: cropHeight });
  }
  const irot = associated.find((box) => box.type === 'irot');
  const quarterTurn = irot !== undefined && meta.has(irot.body, 1) && (meta.u8(irot.body) & 1) === 1;
  const decoded = decodePixels > width * height ? { decodePixels } : {};
  return quarterTurn ? { width: height, height: width, ...decoded } : { width, height, ...decoded };
}

/** The 1-based `ipco` indices `ipma` associates with `item`. */
function itemProperties(meta: Bytes, ipmas: readonly Box[], item: number): number[] {
  const indices: number[] = [];
  for (const ipma of ipmas) {
    if (!meta.has(ipma.body, 8)) continue;
    const version = meta.u8(ipma.body);
    const wideIndex = (meta.u8(ipma.body + 3) & 1) === 1;
    const count = meta.u32(ipma.body + 4);
    let at = ipma.body + 8;
    for (let i = 0; i < count; i++) {
      const idBytes = version < 1 ? 2 : 4;
      if (!meta.has(at, idBytes + 1)) return indices;
      const id = version < 1 ? meta.u16(at) : meta.u32(at);
      const associations = meta.u8(at + idBytes);
      at += idBytes + 1;
      for (let j = 0; j < associations; j++) {
        if (!meta.has(at, wideIndex ? 2 : 1)) return indices;
        const index = wideIndex ? meta.u16(at) & 0x7fff : meta.u8(at) & 0x7f;
        at += wideIndex ? 2 : 1;
        if (id === item) indices.push(index);
      }
    }
  }
  return indices;
}

/** moov → trak → mdia → minf → stbl → stsd → av01: a visual sample entry's width and height. */
function largestTrackSize(moov: Bytes): { width: number; height: number } | null {
  let largest: { width: number; height: number } | null = null;
  const path = ['trak', 'mdia', 'minf', 'stbl', 'stsd'];
  const walk = (from: number, end: number, depth: number): void => {
    for (const box of children(moov, from, end)) {
      if (box.type !== path[depth]) continue;
      if (depth < path.length - 1) {
        walk(box.body, box.end, depth + 1);
        continue;
      }
      // stsd: a full box, then an entry count, then the sample entries.
      for (const entry of children(moov, box.body + 8, box.end)) {
        if (entry.type !== 'av01' || !moov.has(entry.body, 28)) continue;
        const size = { width: moov.u16(entry.body + 24), height: moov.u16(entry.body + 26) };
        if (!largest || size.width * size.height > largest.width * largest.height) largest = size;
      }
    }
  };
  walk(moov.start, moov.end, 0);
  return largest;
}

// ---- JPEG XL: the codestream's SizeHeader (bit-packed), turned by the orientation in its ImageMetadata.

/** Boxes (the container): the size is at the start of the `jxlc` box, or of the first `jxlp` (after its index). */
function jxlBoxes(b: Bytes, at: number, fileSize: number): HeaderRead {
  while (at + 8 <= fileSize) {
    const headerBytes = Math.min(16, fileSize - at);
    if (!b.has(at, headerBytes)) return readOn('jxl', at, headerBytes, 64, fileSize, (w) => jxlBoxes(w, at, fileSize));
    const box = boxHeader(b, at, fileSize);
    if (!box) return unreadable('jxl', `a damaged box at byte ${at}`);
    if (box.type === 'jxlc' || box.type === 'jxlp') {
      const from = box.body + (box.type === 'jxlp' ? 4 : 0);
      const length = Math.min(32, box.end - from);
      if (!b.has(from, length)) return readOn('jxl', from, length, length, fileSize, (w) => jxlStart(w));
      return jxlStart(b.view(from, length));
    }
    at = box.end;
  }
  return unreadable('jxl', 'no codestream box');
}

function jxlStart(b: Bytes): HeaderRead {
  if (!b.has(b.start, 2) || b.u8(b.start) !== 0xff || b.u8(b.start + 1) !== 0x0a) return unreadable('jxl', 'no codestream signature');
  return jxlCodestream(b.view(b.start + 2, b.bytes.length - 2));
}

const JXL_RATIOS: readonly (readonly [number, number])[] = [[1, 1], [12, 10], [4, 3], [3, 2], [16, 9], [5, 4], [2, 1]];

function jxlCodestream(b: Bytes): HeaderRead {
  let bit = 0;
  const bits = (n: number): number => {
    let value = 0;
    for (let i = 0; i < n; i++, bit++) {
      const at = b.start + (bit >> 3);
      if (!b.has(at, 1)) throw new RangeError('cut short');
      value += ((b.u8(at) >> (bit & 7)) & 1) * 2 ** i;
    }
    return value;
  };
  const u32 = () => bits([9, 13, 18, 30][bits(2)]!);
  try {
    const small = bits(1) === 1;
    const height = small ? (bits(5) + 1) * 8 : u32() + 1;
    const ratio = bits(3);
    const width = ratio > 0 ? Math.floor((height * JXL_RATIOS[ratio - 1]![0]) / JXL_RATIOS[ratio - 1]![1])
      : small ? (bits(5) + 1) * 8 : u32() + 1;
    // ImageMetadata: all_default, then extra_fields, then orientation (1 + 3 bits).
    let orientation = 1;
    if (bits(1) === 0 && bits(1) === 1) orientation = 1 + bits(3);
    return oriented('jxl', width, height, orientation);
  } catch {
    return unreadable('jxl', 'the codestream ends inside its size header');
  }
}
