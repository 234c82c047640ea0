/**
 * core/image-header: sizes (as displayed) and the PNG eXIf flag read from a file's header, reading on
 * past the first bytes where the header goes on (pure, no decoding). The files are built byte by byte
 * here; the real encoders' files are checked in test/reliability/limits.test.ts.
 */
import { expect } from '@esm-bundle/chai';
import {
  isHeaderReadOn, isUnreadable, readImageHeader, type HeaderRead, type HeaderReadOn,
} from '../src/core/image-header.js';
import { downscaleFor, overDecodeLimit } from '../src/core/image-limits.js';

const be16 = (v: number) => [(v >>> 8) & 255, v & 255];
const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const le16 = (v: number) => [v & 255, (v >>> 8) & 255];
const le32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];
const text = (s: string) => [...s].map((c) => c.charCodeAt(0));
const bytes = (...parts: (number[] | Uint8Array)[]) => Uint8Array.from(parts.flatMap((part) => [...part]));

/** A PNG's chunk layout only: length, type, data, a CRC (not checked by the reader). */
function png(width: number, height: number, chunks: (string | [string, number[]])[]): Uint8Array {
  const parts: number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const chunk = (type: string, data: number[]) => {
    parts.push(...be32(data.length), ...text(type));
    for (const byte of data) parts.push(byte);
    parts.push(0, 0, 0, 0);
  };
  chunk('IHDR', [...be32(width), ...be32(height), 8, 0, 0, 0, 0]);
  for (const entry of chunks) {
    const [type, data] = typeof entry === 'string' ? [entry, entry === 'IEND' ? [] : [1, 2, 3]] : entry;
    chunk(type, data);
  }
  return new Uint8Array(parts);
}

/** A TIFF block (EXIF's layout) whose first IFD has one entry: the orientation. */
function tiff(orientation: number, order: 'II' | 'MM' = 'II'): number[] {
  const u16 = order === 'II' ? le16 : be16;
  const u32 = order === 'II' ? le32 : be32;
  return [...text(order), ...u16(42), ...u32(8), ...u16(1), ...u16(0x0112), ...u16(3), ...u32(1), ...u16(orientation), 0, 0, ...u32(0)];
}

/** A JPEG's marker layout: SOI, the given segments, a baseline frame header, SOS, EOI. */
function jpeg(width: number, height: number, segments: [number, number[]][] = []): Uint8Array {
  const parts: number[] = [0xff, 0xd8];
  for (const [marker, data] of segments) parts.push(0xff, marker, ...be16(data.length + 2), ...data);
  parts.push(0xff, 0xc0, ...be16(17), 8, ...be16(height), ...be16(width), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1);
  parts.push(0xff, 0xda, ...be16(12), 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0x12, 0x34, 0xff, 0xd9);
  return new Uint8Array(parts);
}

const exifSegment = (orientation: number): [number, number[]] => [0xe1, [...text('Exif\0\0'), ...tiff(orientation, 'MM')]];

/** ISO-BMFF boxes. */
const box = (type: string, ...payload: number[][]) => {
  const body = payload.flat();
  return [...be32(8 + body.length), ...text(type), ...body];
};
const fullBox = (type: string, version: number, flags: number, ...payload: number[][]) => box(type, [version, 0, 0, flags], ...payload);
const ftyp = (major: string, ...compatible: string[]) => box('ftyp', text(major), be32(0), ...compatible.map(text));

/** An AVIF `meta` box: primary item 1 with the given properties (boxes), plus `others` not associated with it. */
function avifMeta(properties: number[][], others: number[][] = [], primary = 1): number[] {
  const all = [...properties, ...others];
  const associations = properties.map((_, i) => 0x80 | (i + 1)); // essential, 1-based index
  return fullBox('meta', 0, 0,
    fullBox('pitm', 0, 0, be16(primary)),
    box('iprp', box('ipco', ...all), fullBox('ipma', 0, 0, be32(1), be16(1), [associations.length], associations)));
}
const ispe = (width: number, height: number) => fullBox('ispe', 0, 0, be32(width), be32(height));
const irot = (angle: number) => box('irot', [angle]);
const clap = (width: number, height: number) => box('clap', be32(width), be32(1), be32(height), be32(1), be32(0), be32(1), be32(0), be32(1));

/** JPEG XL's codestream: the signature, then fields packed least significant bit first. */
function jxl(fields: [number, number][]): Uint8Array {
  const bits: number[] = [];
  for (const [value, count] of fields) for (let i = 0; i < count; i++) bits.push(Math.floor(value / 2 ** i) % 2);
  const packed = new Uint8Array(2 + Math.ceil(bits.length / 8) + 4);
  packed.set([0xff, 0x0a]);
  bits.forEach((bit, i) => { packed[2 + (i >> 3)]! |= bit << (i & 7); });
  return packed;
}

/** Reads a header as the worker does: the first `first` bytes, then on as it asks; counts the reads. */
function readThrough(file: Uint8Array, first = file.length): { result: Exclude<HeaderRead, HeaderReadOn>; reads: number; bytesRead: number } {
  let result = readImageHeader(file.subarray(0, first), file.length);
  let reads = 0;
  let bytesRead = Math.min(first, file.length);
  while (isHeaderReadOn(result)) {
    expect(result.offset + result.length, 'never past the end of the file').to.be.at.most(file.length);
    const part = file.subarray(result.offset, result.offset + result.length);
    reads++;
    bytesRead += part.length;
    result = result.resume(part);
    if (reads > 1000) throw new Error('reads on forever');
  }
  return { result: result as Exclude<HeaderRead, HeaderReadOn>, reads, bytesRead };
}

const sizeOf = (file: Uint8Array, first?: number) => {
  const { result } = readThrough(file, first);
  if (!result || isUnreadable(result)) return result;
  const { format, width, height, decodePixels } = result;
  return { format, width, height, ...(decodePixels === undefined ? {} : { decodePixels }) };
};

describe('core/image-header', () => {
  it('reads a PNG size and whether an eXIf chunk comes before the pixels', () => {
    expect(readImageHeader(png(28, 30, ['IDAT', 'IEND']))).to.deep.equal({ format: 'png', width: 28, height: 30, exif: false });
    expect(sizeOf(png(28, 30, ['tEXt', 'eXIf', 'IDAT', 'IEND']))).to.deep.equal({ format: 'png', width: 28, height: 30 });
    expect((readImageHeader(png(28, 30, ['tEXt', 'eXIf', 'IDAT', 'IEND'])) as { exif?: boolean }).exif).to.equal(true);
    // After the pixels it no longer counts (browsers read orientation from before them).
    expect((readImageHeader(png(28, 30, ['IDAT', 'eXIf', 'IEND'])) as { exif?: boolean }).exif).to.equal(false);
    // Cut short before any pixels: the cautious answer.
    expect((readImageHeader(png(28, 30, ['tEXt'])) as { exif?: boolean }).exif).to.equal(true);
  });

  it('turns a PNG whose eXIf says a quarter turn (orientations 5–8), even past the first bytes read', () => {
    expect(sizeOf(png(400, 100, [['eXIf', tiff(6)], 'IDAT']))).to.deep.equal({ format: 'png', width: 100, height: 400 });
    expect(sizeOf(png(400, 100, [['eXIf', tiff(3, 'MM')], 'IDAT']))).to.deep.equal({ format: 'png', width: 400, height: 100 });
    // 300 KB of text before it: read on through the chunks.
    const file = png(400, 100, [['tEXt', new Array(300_000).fill(65)], ['eXIf', tiff(8)], 'IDAT']);
    const { result, reads } = readThrough(file, 64);
    expect(result).to.deep.equal({ format: 'png', width: 100, height: 400, exif: true });
    expect(reads).to.be.at.most(3);
  });

  it('reads a JPEG whose frame header lies past the first bytes by reading on a few bytes at a time', () => {
    // Five 64 KB APP2 segments (as a big ICC profile is split): the frame header is past 320 KB.
    const app = new Array(65_000).fill(0);
    const file = jpeg(30000, 20000, [[0xe2, app], [0xe2, app], [0xe2, app], [0xe2, app], [0xe2, app]]);
    expect(readImageHeader(file.subarray(0, 256 * 1024), file.length)).to.have.property('resume');
    const { result, reads, bytesRead } = readThrough(file, 256 * 1024);
    expect(result).to.deep.equal({ format: 'jpeg', width: 30000, height: 20000 });
    expect(reads, 'one read for the segment past the first bytes').to.equal(1);
    expect(bytesRead - 256 * 1024, 'bytes read on').to.be.at.most(16 * 1024);
    // Cut short (the whole file is the first bytes): unreadable, not unknown.
    expect(readImageHeader(file.subarray(0, 200_000))).to.deep.include({ format: 'jpeg' }).and.to.have.property('unreadable');
  });

  it('turns a JPEG by its EXIF orientation, and reads many small segments in few reads', () => {
    expect(sizeOf(jpeg(400, 100, [exifSegment(6)]))).to.deep.equal({ format: 'jpeg', width: 100, height: 400 });
    expect(sizeOf(jpeg(400, 100, [exifSegment(1)]))).to.deep.equal({ format: 'jpeg', width: 400, height: 100 });
    // Only the first EXIF segment counts; an XMP APP1 is not one.
    expect(sizeOf(jpeg(400, 100, [[0xe1, text('http://ns.adobe.com/xap/1.0/\0<x/>')], exifSegment(5), exifSegment(1)])))
      .to.deep.equal({ format: 'jpeg', width: 100, height: 400 });
    const comments: [number, number[]][] = Array.from({ length: 20_000 }, () => [0xfe, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
    const { result, reads } = readThrough(jpeg(50, 60, [...comments, exifSegment(7)]), 1024);
    expect(result).to.deep.equal({ format: 'jpeg', width: 60, height: 50 });
    expect(reads, '280 KB of 14-byte segments, 16 KB a read').to.be.at.most(18);
  });

  it('a JPEG without a frame header before its image data is unreadable', () => {
    const broken = bytes([0xff, 0xd8], [0xff, 0xda, 0, 4, 0, 0], [0xff, 0xd9]);
    expect(readImageHeader(broken)).to.have.property('unreadable').that.matches(/before any frame header/);
    expect(readImageHeader(bytes([0xff, 0xd8, 0x12, 0x34, 0, 0]))).to.have.property('unreadable');
  });

  it('a GIF is as large as its screen grown to hold its first frame (as Chromium decodes it)', () => {
    const gif = (screen: [number, number], frame: [number, number, number, number], extension = [] as number[]) => bytes(
      text('GIF89a'), le16(screen[0]), le16(screen[1]), [0x80, 0, 0], [0, 0, 0, 255, 255, 255], // 2-colour table
      extension, [0x2c], le16(frame[0]), le16(frame[1]), le16(frame[2]), le16(frame[3]), [0], [2, 2, 0x4c, 0x01, 0], [0x3b]);
    expect(sizeOf(gif([100, 100], [0, 0, 100, 100]))).to.deep.equal({ format: 'gif', width: 100, height: 100 });
    expect(sizeOf(gif([10, 10], [50, 30, 100, 100]))).to.deep.equal({ format: 'gif', width: 150, height: 130 });
    // A comment of 100 KB in sub-blocks before the frame: read on.
    const comment = [0x21, 0xfe, ...Array.from({ length: 400 }, () => [255, ...new Array(255).fill(32)]).flat(), 0];
    const { result, reads } = readThrough(gif([1, 1], [0, 0, 30000, 30000], comment), 1024);
    expect(result).to.deep.equal({ format: 'gif', width: 30000, height: 30000 });
    expect(reads).to.be.at.most(8);
  });

  it('BMP sizes, with the 12-byte OS/2 header too', () => {
    const bmp = (info: number[]) => bytes(text('BM'), le32(0), le32(0), le32(54), info, new Array(16).fill(0));
    expect(sizeOf(bmp([...le32(40), ...le32(640), ...le32(-480)]))).to.deep.equal({ format: 'bmp', width: 640, height: 480 });
    expect(sizeOf(bmp([...le32(12), ...le16(640), ...le16(480), ...le16(1), ...le16(24)]))).to.deep.equal({ format: 'bmp', width: 640, height: 480 });
  });

  it('ICO and CUR: the largest entry, by its directory size or its own PNG or bitmap header', () => {
    const icon = (type: number, entries: { size: [number, number]; image: number[] }[]) => {
      let offset = 6 + 16 * entries.length;
      const directory = entries.map(({ size, image }) => {
        const entry = [size[0] & 255, size[1] & 255, 0, 0, ...le16(1), ...le16(32), ...le32(image.length), ...le32(offset)];
        offset += image.length;
        return entry;
      });
      return bytes([0, 0], le16(type), le16(entries.length), ...directory, ...entries.map((e) => e.image));
    };
    const pngImage = (w: number, h: number) => [...png(w, h, ['IDAT', 'IEND'])];
    const bmpImage = (w: number, h: number) => [...le32(40), ...le32(w), ...le32(2 * h), ...new Array(28).fill(0)];
    expect(sizeOf(icon(1, [{ size: [16, 16], image: bmpImage(16, 16) }, { size: [0, 0], image: pngImage(256, 256) }])))
      .to.deep.equal({ format: 'ico', width: 256, height: 256 });
    expect(sizeOf(icon(2, [{ size: [48, 32], image: bmpImage(48, 32) }]))).to.deep.equal({ format: 'ico', width: 48, height: 32 });
    // A directory that claims 16×16 for a 30000×30000 PNG does not hide it.
    expect(sizeOf(icon(1, [{ size: [16, 16], image: pngImage(30000, 30000) }]))).to.deep.equal({ format: 'ico', width: 30000, height: 30000 });
    // Its entry's header past the first bytes: read on (24 bytes).
    const far = icon(1, [{ size: [16, 16], image: [...bmpImage(16, 16), ...new Array(300_000).fill(0)] },
      { size: [16, 16], image: pngImage(30000, 30000) }]);
    const { result, reads } = readThrough(far, 1024);
    expect(result).to.deep.equal({ format: 'ico', width: 30000, height: 30000 });
    expect(reads).to.equal(1);
  });

  it('AVIF: the primary item\'s ispe, turned by irot, cropped by clap', () => {
    const avif = (...boxes: number[][]) => bytes(ftyp('avif', 'mif1', 'avif'), ...boxes, box('mdat', [1, 2, 3]));
    expect(sizeOf(avif(avifMeta([ispe(30000, 20000)])))).to.deep.equal({ format: 'avif', width: 30000, height: 20000 });
    expect(sizeOf(avif(avifMeta([ispe(400, 100), irot(1)])))).to.deep.equal({ format: 'avif', width: 100, height: 400 });
    expect(sizeOf(avif(avifMeta([ispe(400, 100), irot(2)])))).to.deep.equal({ format: 'avif', width: 400, height: 100 });
    // The crop shows 300×50; the decoder works on the whole 400×100, and the limit is checked against that.
    expect(sizeOf(avif(avifMeta([ispe(400, 100), clap(300, 50), irot(3)])))).to.deep.equal({ format: 'avif', width: 50, height: 300, decodePixels: 40_000 });
    // A tiny crop of a huge image, and a small canvas over a huge tile (a grid's tiles are in ipco too).
    expect(sizeOf(avif(avifMeta([ispe(30000, 30000), clap(100, 100)])))).to.deep.equal({ format: 'avif', width: 100, height: 100, decodePixels: 9e8 });
    expect(sizeOf(avif(avifMeta([ispe(64, 64)], [ispe(30000, 30000)])))).to.deep.equal({ format: 'avif', width: 64, height: 64, decodePixels: 9e8 });
    // A thumbnail (not the primary item) does not count...
    expect(sizeOf(avif(avifMeta([ispe(4000, 3000)], [ispe(160, 120)])))).to.deep.equal({ format: 'avif', width: 4000, height: 3000 });
    // ...but without a primary item's size, the largest of all does.
    expect(sizeOf(avif(avifMeta([], [ispe(160, 120), ispe(4000, 3000)])))).to.deep.equal({ format: 'avif', width: 4000, height: 3000 });
    expect(sizeOf(bytes(ftyp('mif1', 'miaf', 'avif'), avifMeta([ispe(64, 32)])))).to.deep.equal({ format: 'avif', width: 64, height: 32 });
    expect(readImageHeader(avif(fullBox('meta', 0, 0, box('hdlr', be32(0)))))).to.have.property('unreadable').that.matches(/ispe/);
    // Not AVIF: an MP4 or a HEIC.
    expect(readImageHeader(bytes(ftyp('isom', 'mp41'), box('mdat', [])))).to.equal(null);
    expect(readImageHeader(bytes(ftyp('heic', 'mif1', 'heic'), avifMeta([ispe(64, 32)])))).to.equal(null);
    // (A 256-byte ftyp box starts 00 00 01 00, as an icon does: still not an icon.)
    expect(readImageHeader(bytes(box('ftyp', text('heic'), be32(0), new Array(60).fill(text('mif1')).flat()), box('mdat', [])))).to.equal(null);
  });

  it('AVIF: a meta box after a large mdat is reached by reading box headers, and the tracks of a sequence count', () => {
    const file = bytes(ftyp('avif', 'mif1', 'avif'), box('mdat', new Array(400_000).fill(7)), avifMeta([ispe(2000, 2000)]));
    const { result, reads, bytesRead } = readThrough(file, 256 * 1024);
    expect(result).to.deep.equal({ format: 'avif', width: 2000, height: 2000 });
    expect(reads).to.equal(2); // the meta box's header, then the box
    expect(bytesRead - 256 * 1024).to.be.below(200);
    const av01 = box('av01', new Array(6).fill(0), be16(1), new Array(16).fill(0), be16(8000), be16(6000), new Array(50).fill(0));
    const moov = box('moov', box('trak', box('mdia', box('minf', box('stbl', fullBox('stsd', 0, 0, be32(1), av01))))));
    expect(sizeOf(bytes(ftyp('avis', 'avif', 'avis'), avifMeta([ispe(100, 100)]), moov, box('mdat', []))))
      .to.deep.equal({ format: 'avif', width: 8000, height: 6000 });
  });

  it('JPEG XL: the size header (small, large, by ratio), its orientation, in a container too', () => {
    // small: height (5 bits + 1) × 8, ratio 0, width likewise; then all_default.
    expect(sizeOf(jxl([[1, 1], [3, 5], [0, 3], [7, 5], [1, 1]]))).to.deep.equal({ format: 'jxl', width: 64, height: 32 });
    // large: U32 selector 1 → 13 bits; ratio 5 (16:9).
    expect(sizeOf(jxl([[0, 1], [1, 2], [1079, 13], [5, 3], [1, 1]]))).to.deep.equal({ format: 'jxl', width: 1920, height: 1080 });
    // selector 2 → 18 bits: 30000 × 20000; orientation 6 (1 + 5) turns it.
    expect(sizeOf(jxl([[0, 1], [2, 2], [19999, 18], [0, 3], [2, 2], [29999, 18], [0, 1], [1, 1], [5, 3]])))
      .to.deep.equal({ format: 'jxl', width: 20000, height: 30000 });
    const codestream = jxl([[0, 1], [2, 2], [19999, 18], [0, 3], [2, 2], [29999, 18], [1, 1]]);
    const container = bytes(be32(12), text('JXL '), be32(0x0d0a870a), ftyp('jxl '), box('Exif', new Array(300_000).fill(0)),
      box('jxlc', [...codestream]));
    expect(readThrough(container, 1024).result).to.deep.equal({ format: 'jxl', width: 30000, height: 20000 });
    expect(readImageHeader(bytes([0xff, 0x0a, 0]))).to.have.property('unreadable');
  });

  it('WebP, SVG, and what is not an image', () => {
    const vp8x = bytes(text('RIFF'), le32(0), text('WEBPVP8X'), le32(10), [0, 0, 0, 0], [0x2f, 0x75, 0], [0x1f, 0x4e, 0]);
    expect(sizeOf(vp8x)).to.deep.equal({ format: 'webp', width: 30000, height: 20000 });
    expect(readImageHeader(bytes(text('  <svg xmlns="http://www.w3.org/2000/svg"/>')))).to.deep.equal({ format: 'svg', width: 0, height: 0 });
    expect(readImageHeader(bytes(text('This is a text file, not a PNG.\n')))).to.equal(null);
    expect(readImageHeader(new Uint8Array(300).fill(7))).to.equal(null);
  });

  it('the decode-time scale and the limit message', () => {
    expect(downscaleFor(300, 200, 100 * 100)).to.deep.equal({ scale: Math.sqrt(6), width: 122, height: 82 });
    expect(downscaleFor(300, 200, 300 * 200)).to.deep.equal({ scale: 1, width: 300, height: 200 });
    expect(overDecodeLimit(2000, 2000, 1000 * 1000))
      .to.equal('2000×2000 (4.0 megapixels), over the 1.0 megapixels limit for decoding (configure maxDecodePixels)');
    expect(overDecodeLimit(1000, 1000, 1000 * 1000)).to.equal(null);
  });
});
