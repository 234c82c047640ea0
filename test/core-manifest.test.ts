import { expect } from '@esm-bundle/chai';
import { loadManifest, ManifestError, ManifestLoadError, validateManifest } from '../src/core/manifest.js';

const BASE = 'https://example.test/models/demo/bagnet.json';

function validJson(): Record<string, any> {
  return {
    formatVersion: 1,
    name: 'demo',
    arch: 'bagnet13',
    patchSize: 13,
    stride: 2,
    offset: 0,
    input: { channels: 1, mean: [0.286], std: [0.353], resize: { mode: 'stretch', width: 28, height: 28 } },
    labels: ['a', 'b', 'c'],
    files: { fp32: { url: 'model.onnx', bytes: 1234, sha256: 'a'.repeat(64) } },
    metrics: { dataset: 'Fashion-MNIST test', top1: 0.93, images: 10000 },
    provenance: { tool: 'test' },
  };
}

/** Apply `mutate` to a fresh valid manifest and return the ManifestError it causes. */
function errorFor(mutate: (json: Record<string, any>) => void): ManifestError {
  const json = validJson();
  mutate(json);
  try {
    validateManifest(json, BASE);
  } catch (error) {
    expect(error).to.be.instanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error('the manifest was accepted');
}

describe('manifest validation', () => {
  it('accepts a valid manifest, resolves file URLs and freezes the result', () => {
    const manifest = validateManifest(validJson(), BASE);
    expect(manifest.files.fp32.url).to.equal('https://example.test/models/demo/model.onnx');
    expect(manifest.input.resize).to.deep.equal({ mode: 'stretch', width: 28, height: 28 });
    expect(manifest.url).to.equal(BASE);
    expect(Object.isFrozen(manifest)).to.equal(true);
    expect(Object.isFrozen(manifest.labels)).to.equal(true);
  });

  const cases: Array<[string, (json: Record<string, any>) => void, RegExp]> = [
    ['name', (j) => delete j.name, /name must be a non-empty string, but is missing/],
    ['arch', (j) => (j.arch = 7), /arch must be a non-empty string/],
    ['patchSize', (j) => (j.patchSize = 0), /patchSize must be a positive integer/],
    ['stride', (j) => (j.stride = 1.5), /stride must be a positive integer/],
    ['offset', (j) => (j.offset = 'x'), /offset must be an integer/],
    ['input', (j) => (j.input = []), /input must be an object, but is an array/],
    ['input.channels', (j) => (j.input.channels = 2), /input.channels must be 1 or 3/],
    ['input.mean', (j) => (j.input.mean = [0.1, 0.2]), /input.mean must be an array of 1 numbers/],
    ['input.mean[0]', (j) => (j.input.mean = [Number.NaN]), /input.mean\[0\] must be a finite number, but is NaN/],
    ['input.std[0]', (j) => (j.input.std = [0]), /input.std\[0\] must be a positive number/],
    ['input.resize.mode', (j) => (j.input.resize = { mode: 'zoom' }), /must be one of "none", "stretch", "shorter-side"/],
    ['input.resize.width', (j) => (j.input.resize.width = -3), /input.resize.width must be a positive integer/],
    ['input.resize.crop', (j) => (j.input.resize = { mode: 'shorter-side', size: 256, crop: 300 }), /no larger than input.resize.size/],
    ['input.dicom.window', (j) => (j.input.dicom = { window: [40, 0] }), /must be "file" or \[center, width\] with width ≥ 1/],
    ['input.dicom.invertMonochrome1', (j) => (j.input.dicom = { window: 'file', invertMonochrome1: 'yes' }), /must be true or false/],
    ['labels', (j) => (j.labels = []), /labels must be a non-empty array/],
    ['labels[1]', (j) => (j.labels[1] = null), /labels\[1\] must be a string, but is null/],
    ['files', (j) => delete j.files, /files must be an object, but is missing/],
    ['files.fp32', (j) => (j.files = { fp16: { url: 'a.onnx' } }), /every model needs an fp32 file/],
    ['files.fp32.url', (j) => (j.files.fp32.url = 'javascript:alert(1)'), /must be an http\(s\) or relative URL/],
    ['files.fp32.sha256', (j) => (j.files.fp32.sha256 = 'xyz'), /64 lowercase hex digits/],
    ['files.fp32.bytes', (j) => (j.files.fp32.bytes = 0), /positive integer/],
    ['files.int8.metrics.agreement', (j) => (j.files.int8 = { url: 'm.int8.onnx', metrics: { agreement: 99.7 } }), /files.int8.metrics.agreement must be a fraction in \[0, 1\]/],
    ['metrics.dataset', (j) => delete j.metrics.dataset, /metrics.dataset must be a non-empty string/],
    ['metrics.top1', (j) => (j.metrics.top1 = 93), /metrics.top1 must be a number in \[0, 1\] or null/],
    ['metrics.note', (j) => (j.metrics.top1 = null), /must say why metrics.top1 is null/],
    ['provenance', (j) => (j.provenance = 'made by hand'), /provenance must be an object/],
    ['stages', (j) => (j.stages = [{ url: 'stage0.onnx' }]), /must list log2\(stride\) \+ 1 = 2 files/],
    ['stages[1].url', (j) => (j.stages = [{ url: 'stage0.onnx' }, { url: 'file:///stage1.onnx' }]), /http\(s\) or relative URL/],
    ['stages[1].externalData', (j) => (j.stages = [{ url: 'stage0.onnx' }, { url: 'stage1.onnx', externalData: 'other.onnx' }]),
      /must name a model file beside the stage, but is string "other.onnx"/],
    ['stages[0].externalData', (j) => (j.stages = [{ url: 'stage0.onnx', externalData: '../model.onnx' }, { url: 'stage1.onnx' }]),
      /must name a model file beside the stage, but is string "..\/model.onnx"/],
  ];
  for (const [field, mutate, message] of cases) {
    it(`names the wrong field: ${field}`, () => {
      const error = errorFor(mutate);
      expect(error.field).to.equal(field);
      expect(error.message).to.match(message);
    });
  }

  it('accepts the optional DICOM preprocessing (the trainer\'s input.dicom)', () => {
    const withWindow = validJson();
    withWindow.input.dicom = { window: [40, 400], invertMonochrome1: false };
    expect(validateManifest(withWindow, BASE).input.dicom).to.deep.equal({ window: [40, 400], invertMonochrome1: false });
    const fromFile = validJson();
    fromFile.input.dicom = { window: 'file' };
    expect(validateManifest(fromFile, BASE).input.dicom).to.deep.equal({ window: 'file', invertMonochrome1: true });
    expect(validateManifest(validJson(), BASE).input.dicom).to.equal(undefined);
  });

  it('accepts the optional stages (one per halving of the resolution, plus stage 0) and resolves their URLs', () => {
    expect(validateManifest(validJson(), BASE)).to.not.have.property('stages');
    const json = validJson();
    json.stride = 8;
    json.stages = ['stage0', 'stage1', 'stage2', 'stage3'].map((name) => ({ url: `${name}.onnx`, bytes: 10, sha256: 'b'.repeat(64) }));
    const stages = validateManifest(json, BASE).stages!;
    expect(stages.map((s) => s.url)).to.deep.equal(json.stages.map((s: { url: string }) => `https://example.test/models/demo/${s.url}`));
    expect(stages[3]).to.deep.equal({ url: 'https://example.test/models/demo/stage3.onnx', bytes: 10, sha256: 'b'.repeat(64) });
    // Weights kept in the model's own file (ONNX external data): which entry of `files` holds them.
    json.stages[3].externalData = 'model.onnx';
    expect(validateManifest(json, BASE).stages![3]!.externalData).to.deep.equal({ path: 'model.onnx', precision: 'fp32' });
    json.stages.pop();
    expect(() => validateManifest(json, BASE)).to.throw(ManifestError, /log2\(stride\) \+ 1 = 4 files/);
  });

  it('treats __proto__ keys as inert data', () => {
    const json = JSON.parse(
      JSON.stringify(validJson()).replace('"provenance":{', '"provenance":{"__proto__":{"polluted":true},'),
    );
    const manifest = validateManifest(json, BASE);
    expect(({} as Record<string, unknown>)['polluted']).to.equal(undefined);
    expect(Object.getPrototypeOf(manifest.provenance)).to.equal(null);
    // A __proto__ key at the top level is not mistaken for a field.
    const withTop = JSON.parse(JSON.stringify(validJson()).replace('{"formatVersion"', '{"__proto__":{"name":"x"},"formatVersion"'));
    delete withTop.name;
    expect(() => validateManifest(withTop, BASE)).to.throw(ManifestError, /name must be/);
  });
});

describe('manifest loading', () => {
  const respond = (body: string, status = 200) => async () => new Response(body, { status });

  it('loads, validates and resolves against the manifest URL', async () => {
    const manifest = await loadManifest(BASE, { fetch: respond(JSON.stringify(validJson())) });
    expect(manifest.files.fp32.url).to.equal('https://example.test/models/demo/model.onnx');
  });

  it('reports HTTP errors, HTML instead of JSON and network failures as load errors', async () => {
    const failures: Array<[Parameters<typeof loadManifest>[1], RegExp]> = [
      [{ fetch: respond('missing', 404) }, /answered 404/],
      [{ fetch: respond('<!doctype html><title>x</title>') }, /not JSON \(starts with "<!doctype html>/],
      [{ fetch: async () => { throw new TypeError('Failed to fetch'); } }, /network error or blocked by CORS/],
    ];
    for (const [options, message] of failures) {
      const error = await loadManifest(BASE, options).then(() => null, (e: unknown) => e);
      expect(error).to.be.instanceOf(ManifestLoadError);
      expect((error as Error).message).to.match(message);
    }
    const scheme = await loadManifest('data:application/json,{}').then(() => null, (e: unknown) => e);
    expect((scheme as Error).message).to.match(/only http\(s\)/);
  });
});
