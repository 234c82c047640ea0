// The browser matrix of `npm run test:browser`: every test runs in Chromium and in Firefox ESR but those
// listed, with their reasons, in test/chromium-only.json.
// - The test runner's config takes the Firefox filter from here (whole files, and single tests by title).
// - Its reporter (matrixReporter) writes which tests ran where to build/test-results/browser-matrix.json.
// - Run as a script after the tests, it prints the list with its reasons and fails when a listed test
//   did not pass in Chromium (a stale or misspelt entry) or ran in Firefox, or when a test ran in
//   Chromium only without being listed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIST_PATH = fileURLToPath(new URL('../test/chromium-only.json', import.meta.url));
const RESULTS_PATH = fileURLToPath(new URL('../build/test-results/browser-matrix.json', import.meta.url));
/** How the test runner prints a test's place: its suites and its own title. */
const TITLE_SEPARATOR = ' > ';

function readList() {
  const list = JSON.parse(readFileSync(LIST_PATH, 'utf8'));
  for (const [entry, reason] of [...Object.entries(list.files), ...Object.entries(list.tests)]) {
    if (!(reason in list.reasons)) throw new Error(`test/chromium-only.json: "${entry}" has an unknown reason "${reason}"`);
  }
  return list;
}

/** Test files (paths from the repository root) that run in Chromium only. */
export function chromiumOnlyFiles() {
  return Object.keys(readList().files);
}

/** Mocha's full titles (suites' and own titles joined by spaces) of the Chromium-only tests. */
function chromiumOnlyFullTitles() {
  return Object.keys(readList().tests).map((title) => title.split(TITLE_SEPARATOR).join(' '));
}

/**
 * The runner page for Firefox: Mocha's `it` is wrapped so that a Chromium-only test is taken out of its
 * suite as soon as it is declared, so it neither runs nor counts. (Mocha's grep would leave it in the
 * suite, where @web/test-runner counts a test that did not run as failed; and a group of
 * @web/test-runner takes its own files, browsers and page, but not its own test framework config.)
 */
export function firefoxRunnerHtml(testFrameworkImport) {
  return `<!DOCTYPE html><html><head></head><body>
<script type="module">
const chromiumOnly = new Set(${JSON.stringify(chromiumOnlyFullTitles())});
let wrapped;
Object.defineProperty(window, 'it', {
  configurable: true,
  get: () => wrapped,
  set(mochaIt) {
    wrapped = function it(...args) {
      const test = mochaIt.apply(this, args);
      if (chromiumOnly.has(test.fullTitle())) test.parent.tests.splice(test.parent.tests.indexOf(test), 1);
      return test;
    };
  },
});
</script>
<script type="module" src="${testFrameworkImport}"></script>
</body></html>`;
}

function flatten(suite, path, into) {
  for (const test of suite?.tests ?? []) into.push({ title: [...path, test.name].join(TITLE_SEPARATOR), passed: test.passed, skipped: test.skipped, ms: test.duration });
  for (const child of suite?.suites ?? []) flatten(child, [...path, child.name], into);
  return into;
}

/** A @web/test-runner reporter that records, per browser, the tests that ran and whether they passed. */
export function matrixReporter() {
  return {
    onTestRunFinished({ sessions }) {
      const runs = sessions.map((session) => ({
        browser: session.browser.name,
        file: session.testFile,
        tests: flatten(session.testResults, [], []),
      }));
      mkdirSync(dirname(RESULTS_PATH), { recursive: true });
      writeFileSync(RESULTS_PATH, JSON.stringify({ finishedAt: new Date().toISOString(), runs }, null, 1));
    },
  };
}

function report() {
  const list = readList();
  const { runs } = JSON.parse(readFileSync(RESULTS_PATH, 'utf8'));
  const isFirefox = (run) => /firefox/i.test(run.browser);
  const chromium = runs.filter((run) => !isFirefox(run));
  const firefox = runs.filter(isFirefox);
  const problems = [];
  const count = (group) => group.reduce((sum, run) => sum + run.tests.filter((test) => !test.skipped).length, 0);

  console.log(`\nBrowser matrix: ${count(chromium)} tests ran in Chromium, ${count(firefox)} in Firefox ESR.`);
  console.log('Chromium-only (test/chromium-only.json), with the reason:');
  for (const [file, reason] of Object.entries(list.files)) {
    console.log(`  - file ${file}\n      ${list.reasons[reason]}`);
    const isIt = (run) => run.file.endsWith(`/${file}`);
    if (!chromium.some(isIt)) problems.push(`listed file ${file} did not run in Chromium`);
    if (firefox.some(isIt)) problems.push(`listed file ${file} ran in Firefox`);
  }
  for (const [title, reason] of Object.entries(list.tests)) {
    console.log(`  - ${title}\n      ${list.reasons[reason]}`);
    const inChromium = chromium.flatMap((run) => run.tests).filter((test) => test.title === title);
    if (inChromium.length === 0) problems.push(`listed test did not run in Chromium: ${title}`);
    else if (!inChromium.every((test) => test.passed)) problems.push(`listed test failed in Chromium: ${title}`);
    if (firefox.flatMap((run) => run.tests).some((test) => test.title === title && !test.skipped)) {
      problems.push(`listed test ran in Firefox: ${title}`);
    }
  }
  // Every other test ran in both: none is Chromium-only without being listed.
  const listed = new Set(Object.keys(list.tests));
  const inFirefox = new Set(firefox.flatMap((run) => run.tests).map((test) => test.title));
  const unlisted = new Set(chromium.filter((run) => !Object.keys(list.files).some((file) => run.file.endsWith(`/${file}`)))
    .flatMap((run) => run.tests).map((test) => test.title).filter((title) => !listed.has(title) && !inFirefox.has(title)));
  for (const title of unlisted) problems.push(`ran in Chromium only, but is not listed: ${title}`);
  if (firefox.length === 0) problems.push('nothing ran in Firefox');
  for (const problem of problems) console.error(`browser matrix: ${problem}`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) report();
