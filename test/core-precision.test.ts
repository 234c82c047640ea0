import { expect } from '@esm-bundle/chai';
import fc from 'fast-check';
import { loadManifest, type BagnetManifest, type ModelFile } from '../src/core/manifest.js';
import { choosePrecision, computeOf, INT8_MIN_AGREEMENT } from '../src/core/precision.js';
import { DEFAULT_MODEL } from './helpers.js';

type Files = BagnetManifest['files'];
const file = (name: string, bytes: number, extra: Partial<ModelFile> = {}): ModelFile => ({ url: `https://x.test/${name}.onnx`, bytes, ...extra });
const fp32 = file('fp32', 1000);
const fp16 = file('fp16', 510, { compute: 'fp32' });
const int8 = (agreement?: number) => file('int8', 300, { compute: 'int8', ...(agreement === undefined ? {} : { metrics: { agreement } }) });

describe('choosePrecision (precision="auto")', () => {
  const cases: [string, Files, 'wasm' | 'webgpu', boolean, string][] = [
    ['int8 agreeing on 99.5% runs on wasm', { fp32, fp16, int8: int8(0.995) }, 'wasm', false, 'int8'],
    ['int8 agreeing on 99.49% does not: fp16', { fp32, fp16, int8: int8(0.9949) }, 'wasm', false, 'fp16'],
    ['int8 without a recorded agreement does not: fp16', { fp32, fp16, int8: int8() }, 'wasm', false, 'fp16'],
    ['int8 alone, agreeing', { fp32, int8: int8(0.999) }, 'wasm', false, 'int8'],
    ['int8 alone, not agreeing: fp32', { fp32, int8: int8(0.9) }, 'wasm', false, 'fp32'],
    ['fp16 without int8 on wasm', { fp32, fp16 }, 'wasm', false, 'fp16'],
    ['fp32 alone', { fp32 }, 'wasm', false, 'fp32'],
    ['never int8 on webgpu: the smallest fp32-compute file', { fp32, fp16, int8: int8(1) }, 'webgpu', false, 'fp16'],
    ['webgpu, fp32 alone', { fp32 }, 'webgpu', true, 'fp32'],
    ['shader-f16 and an fp16-compute file', { fp32, fp16: file('fp16', 510, { compute: 'fp16' }) }, 'webgpu', true, 'fp16'],
    ['no shader-f16: an fp16-compute file is not run', { fp32, fp16: file('fp16', 510, { compute: 'fp16' }) }, 'webgpu', false, 'fp32'],
  ];
  for (const [name, files, backend, shaderF16, expected] of cases) {
    it(name, () => {
      const choice = choosePrecision(files, backend, { shaderF16 });
      expect(choice.precision).to.equal(expected);
      expect(choice.reason).to.match(new RegExp(`^${expected} on ${backend}`));
    });
  }

  it('explains a refused int8 file', () => {
    expect(choosePrecision({ fp32, fp16, int8: int8(0.98) }, 'wasm').reason).to.contain('int8 agrees with fp32 on only 98.00%');
  });

  it('always names one of the files, and follows the rule for any manifest (generated)', () => {
    const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    fc.assert(fc.property(
      maybe(fc.double({ min: 0, max: 1, noNaN: true })), fc.boolean(), fc.boolean(), maybe(fc.constantFrom('fp32', 'fp16')),
      fc.constantFrom<'wasm' | 'webgpu'>('wasm', 'webgpu'), fc.boolean(),
      (agreement, hasInt8, hasFp16, halfCompute, backend, shaderF16) => {
        const files: Record<string, ModelFile> = { fp32 };
        if (hasInt8) files['int8'] = int8(agreement);
        if (hasFp16) files['fp16'] = file('fp16', 510, halfCompute ? { compute: halfCompute } : {});
        const { precision } = choosePrecision(files as Files, backend, { shaderF16 });
        expect(files).to.have.property(precision);
        const compute = computeOf(precision, files[precision]!);
        if (backend === 'webgpu') {
          expect(compute).to.not.equal('int8');
          if (compute === 'fp16') expect(shaderF16).to.equal(true);
        } else {
          const int8Qualifies = hasInt8 && agreement !== undefined && agreement >= INT8_MIN_AGREEMENT;
          expect(precision).to.equal(int8Qualifies ? 'int8' : hasFp16 ? 'fp16' : 'fp32');
        }
      },
    ), { seed: 19, numRuns: 300 });
  });

  it('picks int8 on wasm and fp16 on webgpu for the shipped default model', async () => {
    const manifest = await loadManifest(DEFAULT_MODEL);
    expect(manifest.files.int8!.metrics!.agreement).to.be.at.least(INT8_MIN_AGREEMENT);
    expect(choosePrecision(manifest.files, 'wasm').precision).to.equal('int8');
    expect(choosePrecision(manifest.files, 'webgpu').precision).to.equal('fp16');
    expect(choosePrecision(manifest.files, 'webgpu', { shaderF16: true }).precision).to.equal('fp16');
    expect(computeOf('fp16', manifest.files.fp16!)).to.equal('fp32');
  });
});
