/**
 * core/image-header: sizes and the PNG eXIf flag read from a file's first bytes (pure, no decoding).
 */
import { expect } from '@esm-bundle/chai';
import { readImageHeader } from '../src/core/image-header.js';

/** A PNG's chunk layout only: length, type, data, a CRC (not checked by the reader). */
function png(width: number, height: number, chunks: string[]): Uint8Array {
  const parts: number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const chunk = (type: string, data: number[]) => {
    const n = data.length;
    parts.push(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...[...type].map((c) => c.charCodeAt(0)), ...data, 0, 0, 0, 0);
  };
  const be32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  chunk('IHDR', [...be32(width), ...be32(height), 8, 0, 0, 0, 0]);
  for (const type of chunks) chunk(type, type === 'IEND' ? [] : [1, 2, 3]);
  return new Uint8Array(parts);
}

describe('core/image-header', () => {
  it('reads a PNG size and whether an eXIf chunk comes before the pixels', () => {
    expect(readImageHeader(png(28, 30, ['IDAT', 'IEND']))).to.deep.equal({ format: 'png', width: 28, height: 30, exif: false });
    expect(readImageHeader(png(28, 30, ['tEXt', 'eXIf', 'IDAT', 'IEND']))!.exif).to.equal(true);
    // After the pixels it no longer counts (browsers read orientation from before them).
    expect(readImageHeader(png(28, 30, ['IDAT', 'eXIf', 'IEND']))!.exif).to.equal(false);
    // Cut short before any pixels: the cautious answer.
    expect(readImageHeader(png(28, 30, ['tEXt']))!.exif).to.equal(true);
  });
});
