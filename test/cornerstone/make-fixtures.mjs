#!/usr/bin/env node
// DICOM fixtures for the Cornerstone3D plugin tests, made from scratch in build/dicom/:
// 8-bit ones with dcmtk (img2dcm from BMP, then dcmodify), 16-bit and multi-frame ones with dcmjs.
// Then models/bagnet_tools/dicom_pixels.py (the training tool's pipeline, checked against pydicom's LUT functions
// by models/tests/test_dicom_pixels.py) writes what the model must receive: the plugin must match it pixel for pixel.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dcmjs from 'dcmjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, 'build/dicom');
mkdirSync(out, { recursive: true });

/** 8-bit grayscale BMP (bottom-up rows padded to 4 bytes, 256-entry gray palette). */
function bmp(width, height, gray) {
  const stride = (width + 3) & ~3;
  const header = 14 + 40 + 1024;
  const buffer = Buffer.alloc(header + stride * height);
  buffer.write('BM', 0);
  buffer.writeUInt32LE(buffer.length, 2);
  buffer.writeUInt32LE(header, 10);
  buffer.writeUInt32LE(40, 14);
  buffer.writeInt32LE(width, 18);
  buffer.writeInt32LE(height, 22);
  buffer.writeUInt16LE(1, 26);
  buffer.writeUInt16LE(8, 28);
  buffer.writeUInt32LE(stride * height, 34);
  buffer.writeUInt32LE(256, 46);
  for (let i = 0; i < 256; i++) buffer.writeUInt32LE(i * 0x010101, 54 + 4 * i);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) buffer[header + (height - 1 - y) * stride + x] = gray[y * width + x];
  }
  return buffer;
}

/** A black image with a white square (what the synthetic "brightness" model finds). */
function square(width, height, { x, y, size }, inside = 255, outside = 0) {
  return Uint8Array.from({ length: width * height }, (_, i) => {
    const px = i % width;
    const py = Math.floor(i / width);
    return px >= x && px < x + size && py >= y && py < y + size ? inside : outside;
  });
}

/** A 28×28 Fashion-MNIST sample (PNG) as gray values, via Debian's Python (PIL). */
function sample(name) {
  const file = join(root, 'models/default/samples', `${name}.png`);
  const code = 'import sys; from PIL import Image; sys.stdout.buffer.write(Image.open(sys.argv[1]).convert("L").tobytes())';
  return new Uint8Array(execFileSync('/usr/bin/python3', ['-c', code, file]));
}

function dcmtk(name, width, height, gray, modifications = []) {
  const bmpFile = join(out, `${name}.bmp`);
  const dcm = join(out, `${name}.dcm`);
  writeFileSync(bmpFile, bmp(width, height, gray));
  execFileSync('img2dcm', ['-i', 'BMP', bmpFile, dcm]);
  // img2dcm leaves the (type 1) Modality out; viewers read it, so set it as scanners do.
  for (const modification of ['(0008,0060)=OT', ...modifications]) execFileSync('dcmodify', ['-nb', '-i', modification, dcm]);
  return dcm;
}

const uid = () => `2.25.${BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 52)) * 4099n + BigInt(Date.now()))}`;

/** A 16-bit (or multi-frame) dataset written with dcmjs. */
function dcmjsFile(name, { rows, columns, frames, signed, extra = {} }) {
  const pixels = frames.flatMap((frame) => [...frame]);
  const data = signed ? Int16Array.from(pixels) : Uint16Array.from(pixels);
  const dataset = {
    _meta: {
      FileMetaInformationVersion: { Value: [new Uint8Array([0, 1]).buffer], vr: 'OB' },
      MediaStorageSOPClassUID: { Value: ['1.2.840.10008.5.1.4.1.1.7'], vr: 'UI' },
      MediaStorageSOPInstanceUID: { Value: [uid()], vr: 'UI' },
      TransferSyntaxUID: { Value: ['1.2.840.10008.1.2.1'], vr: 'UI' },
      ImplementationClassUID: { Value: ['2.25.1234'], vr: 'UI' },
    },
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    SOPInstanceUID: uid(),
    StudyInstanceUID: uid(),
    SeriesInstanceUID: uid(),
    Modality: 'OT',
    PatientName: 'Fixture^Bagnet',
    PatientID: 'BAGNET-TEST',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: signed ? 1 : 0,
    ...(frames.length > 1 ? { NumberOfFrames: String(frames.length) } : {}),
    ...extra,
    PixelData: [data.buffer],
    _vrMap: { PixelData: 'OW' },
  };
  const meta = dataset._meta;
  delete dataset._meta;
  const dict = new dcmjs.data.DicomDict(meta);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset);
  const file = join(out, `${name}.dcm`);
  writeFileSync(file, Buffer.from(dict.write()));
  return file;
}

const W = 64;
const H = 48;
const SQUARE = { x: 37, y: 21, size: 9 };
const fixtures = {};

fixtures.square = dcmtk('square', W, H, square(W, H, SQUARE), ['(0028,0030)=1\\1']);
fixtures['square-aniso'] = dcmtk('square-aniso', W, H, square(W, H, SQUARE), ['(0028,0030)=1\\0.5']);
fixtures['square-nospacing'] = dcmtk('square-nospacing', W, H, square(W, H, SQUARE));
// MONOCHROME1: white is the *low* value, so the stored image is a dark square on white.
fixtures['square-mono1'] = dcmtk('square-mono1', W, H, square(W, H, SQUARE, 0, 255), ['(0028,0004)=MONOCHROME1', '(0028,0030)=1\\1']);
fixtures['sneaker-window'] = dcmtk('sneaker-window', 28, 28, sample('14-sneaker'),
  ['(0028,1053)=2', '(0028,1052)=-100', '(0028,1050)=80', '(0028,1051)=200', '(0028,0030)=1\\1']);
fixtures['bad-photometric'] = dcmtk('bad-photometric', 28, 28, sample('02-trouser'), ['(0028,0004)=HSV']);
// An unknown transfer syntax: dcmodify refuses to touch the meta header, so patch the UID in place
// (same length, so the file stays well-formed; only the decoder cannot know it).
{
  const file = dcmtk('bad-syntax', 28, 28, sample('02-trouser'));
  const bytes = readFileSync(file);
  const from = Buffer.from('1.2.840.10008.1.2.1\0');
  const at = bytes.indexOf(from);
  if (at < 0) throw new Error('transfer syntax UID not found');
  Buffer.from('1.2.840.10008.9.9.9\0').copy(bytes, at);
  writeFileSync(file, bytes);
  fixtures['bad-syntax'] = file;
}

const boot = [...sample('18-ankle-boot')];
const bag = [...sample('16-bag')];
// CT-like: signed 16-bit Hounsfield-style values (gray·8 - 1024), with a window.
fixtures['ct16-signed'] = dcmjsFile('ct16-signed', { rows: 28, columns: 28, signed: true, frames: [boot.map((g) => g * 8 - 1024)],
  extra: { RescaleSlope: '1', RescaleIntercept: '0', WindowCenter: '-100', WindowWidth: '1500', PixelSpacing: ['0.7', '0.7'] } });
// MR-like: unsigned 16-bit, slope/intercept, no window (the full range is used).
fixtures['mr16-unsigned'] = dcmjsFile('mr16-unsigned', { rows: 28, columns: 28, signed: false, frames: [bag.map((g) => g * 200 + 7)],
  extra: { RescaleSlope: '0.5', RescaleIntercept: '10', PixelSpacing: ['1', '1'] } });
fixtures.multiframe = dcmjsFile('multiframe', { rows: 28, columns: 28, signed: false, frames: [boot.map((g) => g * 4), bag.map((g) => g * 4)],
  extra: { WindowCenter: '512', WindowWidth: '1024', PixelSpacing: ['1', '1'] } });

// The default model under a manifest that says how its DICOM input is made (as the trainer writes it
// for DICOM data): a fixed window, MONOCHROME1 not inverted.
const defaultManifest = JSON.parse(readFileSync(join(root, 'models/default/bagnet.json'), 'utf8'));
const windowed = {
  ...defaultManifest,
  name: 'default, fixed DICOM window',
  input: { ...defaultManifest.input, dicom: { window: [40, 400], invertMonochrome1: false } },
  files: Object.fromEntries(Object.entries(defaultManifest.files).map(([k, f]) => [k, { ...f, url: `../../../models/default/${f.url}` }])),
};
mkdirSync(join(out, 'window-model'), { recursive: true });
writeFileSync(join(out, 'window-model/bagnet.json'), JSON.stringify(windowed, null, 2));

writeFileSync(join(out, 'fixtures.json'), JSON.stringify({ square: SQUARE, width: W, height: H, files: Object.keys(fixtures) }, null, 2));
execFileSync('/usr/bin/python3', ['-m', 'bagnet_tools.dicom_pixels', out], { stdio: 'inherit', cwd: join(root, 'models') });
console.log(`DICOM fixtures in ${out}: ${Object.keys(fixtures).join(', ')}`);
readFileSync(join(out, 'expected.json'));
