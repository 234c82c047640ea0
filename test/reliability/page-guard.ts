/**
 * For the reliability suites: fails a test when the page saw an unhandled rejection, an uncaught
 * error or a console error while it ran (whatever went wrong must arrive as a `bagnet-error`).
 */
import { expect } from '@esm-bundle/chai';

export function guardPage(): void {
  const problems: string[] = [];
  const onRejection = (event: PromiseRejectionEvent) => problems.push(`unhandled rejection: ${String(event.reason?.message ?? event.reason)}`);
  const onError = (event: ErrorEvent) => problems.push(`uncaught error: ${event.message}`);
  const consoleError = console.error;
  beforeEach(() => {
    problems.length = 0;
    window.addEventListener('unhandledrejection', onRejection);
    window.addEventListener('error', onError);
    console.error = (...args: unknown[]) => {
      problems.push(`console.error: ${args.map(String).join(' ')}`);
      consoleError.apply(console, args);
    };
  });
  afterEach(async () => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // late rejections surface
    window.removeEventListener('unhandledrejection', onRejection);
    window.removeEventListener('error', onError);
    console.error = consoleError;
    expect(problems, 'the page saw').to.deep.equal([]);
  });
}
