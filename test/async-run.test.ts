/** AsyncRun, the one async mechanism of the elements and the overlay: its semantics, alone. */
import { expect } from '@esm-bundle/chai';
import { AsyncRun, Memo, sameArgs } from '../src/elements/shared/async-run.js';

/** A task whose runs the test settles by hand. */
function manualTask() {
  const runs: { args: readonly unknown[]; signal: AbortSignal; resolve(value: string): void; reject(error: unknown): void }[] = [];
  const task = (args: readonly unknown[], signal: AbortSignal) => new Promise<string>((resolve, reject) => runs.push({ args, signal, resolve, reject }));
  return { runs, task };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('AsyncRun', () => {
  it('runs only when an argument changed, compared by identity', () => {
    const { runs, task } = manualTask();
    const run = new AsyncRun(task, () => undefined);
    const image = {};
    run.update(['a', image]);
    run.update(['a', image]);
    expect(runs).to.have.length(1);
    run.update(['a', {}]); // an equal but new object is a new input
    expect(runs).to.have.length(2);
    expect(sameArgs([Number.NaN], [Number.NaN])).to.equal(true);
  });

  it('aborts the older run and drops its answer; reports only the current one', async () => {
    const { runs, task } = manualTask();
    const changes: string[] = [];
    const run = new AsyncRun(task, () => changes.push(`${run.status}:${run.value ?? ''}`));
    run.update(['a']);
    run.update(['b']);
    expect(runs[0]!.signal.aborted).to.equal(true);
    expect(runs[1]!.signal.aborted).to.equal(false);
    runs[0]!.resolve('late a');
    runs[1]!.resolve('b');
    await tick();
    expect(run.value).to.equal('b');
    expect(changes).to.deep.equal(['pending:', 'pending:', 'complete:b']);
  });

  it('keeps the value while the next run is pending; an error clears it and aborts what the run started', async () => {
    const { runs, task } = manualTask();
    const run = new AsyncRun(task, () => undefined);
    run.update(['a']);
    runs[0]!.resolve('a');
    await tick();
    run.update(['b']);
    expect([run.status, run.value]).to.deep.equal(['pending', 'a']);
    runs[1]!.reject(new Error('broken'));
    await tick();
    expect([run.status, run.value, run.error?.type, run.error?.message]).to.deep.equal(['error', undefined, 'inference', 'broken']);
    expect(runs[1]!.signal.aborted, 'a failed run stops the rest of its work').to.equal(true);
    run.update(['b']); // the same arguments: not retried by itself
    expect(runs).to.have.length(2);
    run.rerun();
    expect(runs).to.have.length(3);
  });

  it('clear() aborts, forgets and goes idle; a task that throws at once is an error', async () => {
    const { runs, task } = manualTask();
    const run = new AsyncRun(task, () => undefined);
    run.update(['a']);
    run.clear();
    expect([run.status, run.args, runs[0]!.signal.aborted]).to.deep.equal(['idle', null, true]);
    runs[0]!.resolve('a');
    await tick();
    expect(run.status).to.equal('idle');
    const throwing = new AsyncRun(() => { throw new Error('at once'); }, () => undefined);
    throwing.update([1]);
    await tick();
    expect([throwing.status, throwing.error?.message]).to.deep.equal(['error', 'at once']);
  });

  it('settled() waits past superseded runs for the current one, and resolves at once when nothing is pending', async () => {
    const { runs, task } = manualTask();
    const run = new AsyncRun(task, () => undefined);
    let settled = false;
    await run.settled(); // idle
    run.update(['a']);
    void run.settled().then(() => { settled = true; });
    run.update(['b']); // supersedes a: still pending
    runs[0]!.resolve('late a');
    await tick();
    expect(settled).to.equal(false);
    runs[1]!.reject(new Error('b failed'));
    await tick();
    expect([settled, run.status]).to.deep.equal([true, 'error']);
    run.update(['c']);
    const cleared = run.settled();
    run.clear();
    await cleared; // idle counts as settled
    expect(run.status).to.equal('idle');
  });

  it('Memo computes again only for new arguments', () => {
    let computed = 0;
    const memo = new Memo((a: number, b: object) => ({ a, b, n: ++computed }));
    const b = {};
    expect(memo.get(1, b)).to.equal(memo.get(1, b));
    memo.get(2, b);
    expect(computed).to.equal(2);
  });
});
