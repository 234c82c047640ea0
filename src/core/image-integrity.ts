/**
 * Whether an image file is whole, decided from its structure rather than by the decoder: browsers
 * differ in what they make of a broken file (Chromium refuses a truncated PNG; Firefox decodes what
 * it has and fills the rest), and a model's answer must not depend on that.
 *
 * Each check walks the container over the whole file, reading lengths, not pixels:
 * - PNG: chunks whose lengths lead, in bounds, to an IEND chunk;
 * - JPEG: markers and segment lengths, through the entropy-coded data of every scan, to an EOI after
 *   the last scan (an EXIF thumbnail's own EOI sits inside its APP1 segment and is skipped with it;
 *   data after the EOI, as motion photos append, is fine);
 * - GIF: blocks and their sub-blocks to the trailer;
 * - WebP: the RIFF size within the file, and the chunks in it;
 * - BMP: the pixel data within the file.
 * Other formats (ICO, AVIF, JPEG XL) are left to the decoder.
 */
import type { ImageFormat } from './image-header.js';

/** What is wrong with the file, or null when its structure is whole. */
export function findDamage(bytes: Uint8Array, format: ImageFormat): string | null {
  switch (format) {
    case 'png': return pngDamage(bytes);
    case 'jpeg': return jpegDamage(bytes);
    case 'gif': return gifDamage(bytes);
    case 'webp': return webpDamage(bytes);
    case 'bmp': return bmpDamage(bytes);
    default: return null;
  }
}

/** The formats `findDamage` checks (for the others it says nothing). */
export const CHECKED_FORMATS: ReadonlySet<ImageFormat> = new Set(['png', 'jpeg', 'gif', 'webp', 'bmp']);

const u32be = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const u32le = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
const u16le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
const ascii = (b: Uint8Array, at: number, length: number) => String.fromCharCode(...b.subarray(at, at + length));

function pngDamage(b: Uint8Array): string | null {
  let at = 8; // the signature
  while (at + 8 <= b.length) {
    const length = u32be(b, at);
    const type = ascii(b, at + 4, 4);
    const end = at + 12 + length; // length, type, data, CRC
    if (end > b.length) return `its ${type} chunk ends ${end - b.length} bytes past the end of the file`;
    if (type === 'IEND') return null;
    at = end;
  }
  return 'it ends before its IEND chunk';
}

function jpegDamage(b: Uint8Array): string | null {
  let at = 2; // SOI
  let scans = 0;
  while (at < b.length) {
    if (b[at] !== 0xff) return `a marker was expected at byte ${at}`;
    while (at < b.length && b[at] === 0xff) at++; // fill bytes
    if (at >= b.length) break;
    const marker = b[at++]!;
    if (marker === 0xd9) return scans > 0 ? null : 'it ends (EOI) before any scan';
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (at + 2 > b.length) break;
    const length = (b[at]! << 8) | b[at + 1]!;
    if (length < 2) return `segment FF${marker.toString(16).toUpperCase()} has length ${length}`;
    at += length;
    if (at > b.length) return `segment FF${marker.toString(16).toUpperCase()} ends past the end of the file`;
    if (marker !== 0xda) continue;
    // Start of scan: entropy-coded data up to the next marker (FF followed by neither 00, a stuffed
    // byte, nor a restart marker).
    scans++;
    for (;;) {
      const next = b.indexOf(0xff, at);
      if (next < 0 || next + 1 >= b.length) return 'its scan data stops without an end (EOI)';
      const after = b[next + 1]!;
      if (after === 0x00 || (after >= 0xd0 && after <= 0xd7)) {
        at = next + 2;
        continue;
      }
      if (after === 0xff) {
        at = next + 1; // fill before a marker
        continue;
      }
      at = next;
      break;
    }
  }
  return 'it ends before its end marker (EOI)';
}

function gifDamage(b: Uint8Array): string | null {
  if (b.length < 13) return 'it ends inside its header';
  let at = 13 + (b[10]! & 0x80 ? 3 * 2 ** ((b[10]! & 7) + 1) : 0); // header, screen descriptor, global colours
  const subBlocks = (): boolean => {
    while (at < b.length) {
      const size = b[at]!;
      at += 1 + size;
      if (size === 0) return at <= b.length;
    }
    return false;
  };
  while (at < b.length) {
    const block = b[at]!;
    if (block === 0x3b) return null; // trailer
    if (block === 0x21) {
      at += 2; // introducer, label
      if (!subBlocks()) return 'it ends inside an extension block';
    } else if (block === 0x2c) {
      if (at + 10 > b.length) return 'it ends inside an image descriptor';
      const flags = b[at + 9]!;
      at += 10 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0) + 1; // descriptor, local colours, LZW code size
      if (!subBlocks()) return 'it ends inside its image data';
    } else {
      return `an unknown block (0x${block.toString(16)}) at byte ${at}`;
    }
  }
  return 'it ends before its trailer';
}

function webpDamage(b: Uint8Array): string | null {
  const end = 8 + u32le(b, 4);
  if (end > b.length) return `its RIFF container says ${end} bytes, the file has ${b.length}`;
  for (let at = 12; at + 8 <= end;) {
    const chunkEnd = at + 8 + u32le(b, at + 4);
    if (chunkEnd > end) return `its ${ascii(b, at, 4)} chunk ends past its container`;
    at = chunkEnd + (chunkEnd & 1); // chunks are padded to even sizes
  }
  return null;
}

function bmpDamage(b: Uint8Array): string | null {
  if (b.length < 30) return 'it ends inside its header';
  const dataOffset = u32le(b, 10);
  if (u32le(b, 14) < 40) return dataOffset > b.length ? 'it ends before its pixel data' : null; // OS/2 core header
  const width = Math.abs(u32le(b, 18) | 0);
  const height = Math.abs(u32le(b, 22) | 0);
  const bitsPerPixel = u16le(b, 28);
  const compression = u32le(b, 30);
  // Uncompressed (BI_RGB, BI_BITFIELDS): rows padded to 4 bytes; compressed: the size the header gives.
  // (The file size in the header is not used: writers get it wrong.)
  const pixelBytes = compression === 0 || compression === 3 ? Math.floor((bitsPerPixel * width + 31) / 32) * 4 * height : u32le(b, 34);
  const needed = dataOffset + pixelBytes;
  return needed > b.length ? `its pixel data needs ${needed} bytes, the file has ${b.length}` : null;
}
