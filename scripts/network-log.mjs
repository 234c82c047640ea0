// Test-only: every request the browser makes, from any page, iframe, dedicated or shared worker, to
// any origin (the server's own log sees only requests to it, and a page's resource timings only its
// own): over the Chrome DevTools Protocol in Chromium, over WebDriver BiDi in Firefox. Tests call it
// with `executeServerCommand`: 'network-log-start' (clears the log), 'network-log-read' → [{ url, method,
// target }]; `target` (the DevTools target type: 'page', 'iframe', 'worker', ...) only in Chromium:
// BiDi reports a worker's requests as its page's.

/** The @web/test-runner plugin. */
export function networkLogPlugin() {
  /** Per browser: the requests seen since the last start. */
  const logs = new WeakMap();

  async function watch(browser, page) {
    const log = { requests: [] };
    logs.set(browser, log);
    if (browser.protocol === 'webDriverBiDi') {
      // BiDi reports the requests of the page's workers as the page's own.
      page.on('request', (request) => log.requests.push({ url: request.url(), method: request.method() }));
      return log;
    }
    const root = await browser.target().createCDPSession();
    const enabling = [];
    let starting = true;
    const connection = root.connection();
    const attach = async (session) => {
      session.on('Target.attachedToTarget', (event) => {
        // (puppeteer makes a session for every target attached with `flatten`; without one there is
        // nothing to resume it with.)
        const child = connection.session(event.sessionId);
        if (!child) return;
        child.on('Network.requestWillBeSent', ({ request }) =>
          log.requests.push({ url: request.url, method: request.method, target: event.targetInfo.type }));
        const enabled = (async () => {
          await child.send('Network.enable').catch(() => undefined);
          await attach(child); // its own workers and frames
          await child.send('Runtime.runIfWaitingForDebugger').catch(() => undefined);
        })();
        if (starting) enabling.push(enabled);
      });
      await session.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true })
        .catch(() => undefined);
    };
    await attach(root);
    // The pages open already are attached now: log nothing as started before their Network domain is on
    // (a request right after 'network-log-start' was missed while another test page kept the browser busy).
    await Promise.all(enabling);
    starting = false;
    return log;
  }

  return {
    name: 'network-log',
    async executeCommand({ command, session }) {
      if (command !== 'network-log-start' && command !== 'network-log-read') return undefined;
      const page = session.browser.getPage(session.id);
      const browser = page.browser();
      const log = logs.get(browser) ?? await watch(browser, page);
      if (command === 'network-log-start') {
        log.requests = [];
        return true;
      }
      return log.requests;
    },
  };
}
