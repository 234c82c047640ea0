/**
 * Inputs too large for one session run (`maxRunPixels`) run in tiles on the stride grid: the cells
 * must equal one untiled run of the whole input (computed here independently, on this thread), and
 * the exact map must still equal the patch-by-patch reference.
 */
import { expect } from '@esm-bundle/chai';
import { loadManifest } from '../src/core/manifest.js';
import { pixelsToTensor } from '../src/core/preprocess.js';
import { tilePlan } from '../src/core/tiles.js';
import { configure } from '../src/pool/config.js';
import { disposePool, getPool } from '../src/pool/pool.js';
import { createSession } from '../src/runtime/onnx.js';
import { NARROW_MODEL, noiseImage, relativeError, SYNTHETIC_MODEL } from './helpers.js';
import { bruteForceMap } from './reference.js';

describe('tiled runs (maxRunPixels)', () => {
  afterEach(() => disposePool());

  it('plans windows on the stride grid that cover every cell and stay under the limit', () => {
    for (const [height, width, q, s, max] of [[200, 300, 33, 8, 96 * 96], [1000, 37, 9, 4, 30 * 30], [513, 512, 13, 2, 512 * 512], [64, 64, 33, 8, 10]]) {
      const tiles = tilePlan(height!, width!, { patchSize: q!, stride: s! }, max!)!;
      expect(tiles, `${height}×${width}`).to.not.equal(null);
      const rows = Math.floor((height! - q!) / s!) + 1;
      const cols = Math.floor((width! - q!) / s!) + 1;
      const covered = new Uint8Array(rows * cols);
      for (const tile of tiles) {
        expect(tile.y % s!).to.equal(0);
        expect(tile.x % s!).to.equal(0);
        expect(tile.y + tile.height).to.be.at.most(height!);
        expect(tile.x + tile.width).to.be.at.most(width!);
        if (max! >= (q! + s!) ** 2) expect(tile.height * tile.width).to.be.at.most(max!);
        // The cells a window of this size yields, as the network's grid formula gives them.
        const tileRows = Math.floor((tile.height - q!) / s!) + 1;
        const tileCols = Math.floor((tile.width - q!) / s!) + 1;
        for (let r = 0; r < tileRows; r++) for (let c = 0; c < tileCols; c++) covered[(tile.row + r) * cols + tile.col + c] = 1;
      }
      expect(covered.every((v) => v === 1), `${height}×${width}: every cell covered`).to.equal(true);
    }
    expect(tilePlan(224, 224, { patchSize: 33, stride: 8 }, 224 * 224)).to.equal(null);
  });

  it('gives the cells of one untiled run, for a BagNet-33 input cut into 15 tiles', async function () {
    this.timeout(120_000);
    const image = noiseImage(300, 200, 11); // 300 wide, 200 high
    configure({ cache: 'bagnet-test-cache', maxRunPixels: 96 * 96 });
    const tiled = await getPool().classify(image, { model: NARROW_MODEL, backend: 'wasm' });
    configure({ maxRunPixels: 512 * 512 });
    const stats = await getPool().stats();
    expect(stats.worker!.models.map((m) => m.runs), 'session runs: one per tile').to.deep.equal([15]);

    const manifest = await loadManifest(NARROW_MODEL);
    const session = await createSession(new Uint8Array(await (await fetch(manifest.files.fp32.url)).arrayBuffer()), 'wasm');
    const whole = await session.run(pixelsToTensor(image.data, 300, 200, manifest.input), [1, manifest.input.channels, 200, 300]);
    await session.release();
    expect([tiled.evidence.rows, tiled.evidence.cols, tiled.evidence.classes]).to.deep.equal(whole.dims.slice(1));
    expect(relativeError(tiled.evidence.data, whole.data)).to.be.at.most(1e-5);
    expect(tilePlan(200, 300, manifest, 96 * 96)).to.have.length(15);
  });

  it('keeps the exact map equal to the patch-by-patch reference when its runs are tiled', async function () {
    this.timeout(120_000);
    const image = noiseImage(44, 52, 5);
    configure({ cache: 'bagnet-test-cache', maxRunPixels: 24 * 24 });
    const exact = await getPool().exactMap(image, { model: SYNTHETIC_MODEL, backend: 'wasm', classes: [0, 1] });
    configure({ maxRunPixels: 512 * 512 });
    const reference = await bruteForceMap(await loadManifest(SYNTHETIC_MODEL), image, [0, 1]);
    expect(relativeError(exact.data, reference)).to.be.at.most(1e-5);
  });
});
