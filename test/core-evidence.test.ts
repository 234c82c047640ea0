import { expect } from '@esm-bundle/chai';
import { argmax, meanLogits, softmax, topK } from '../src/core/evidence.js';

describe('evidence maths', () => {
  it('averages a [cells, classes] map per class', () => {
    // Two cells, three classes: means are computed by hand.
    const map = new Float32Array([1, 2, 3, 3, -2, 5]);
    expect(Array.from(meanLogits(map, 2, 3))).to.deep.equal([2, 0, 4]);
    expect(() => meanLogits(map, 3, 3)).to.throw(RangeError);
  });

  it('softmax is stable for large logits and sums to one', () => {
    const p = softmax([1000, 1001, 1002]);
    const e = [Math.exp(-2), Math.exp(-1), 1];
    const z = e[0]! + e[1]! + e[2]!;
    expect(p[2]).to.be.closeTo(1 / z, 1e-12);
    expect(p[0]! + p[1]! + p[2]!).to.be.closeTo(1, 1e-12);
  });

  it('top-k orders by logit, keeps indices and probabilities', () => {
    const top = topK([0.5, 2, -1, 2], 3);
    expect(top.map((t) => t.index)).to.deep.equal([1, 3, 0]);
    expect(top[0]!.probability).to.be.closeTo(softmax([0.5, 2, -1, 2])[1]!, 1e-12);
    expect(topK([1, 2], 5)).to.have.length(2);
    expect(argmax([0, 3, 3, 1])).to.equal(1);
  });
});
