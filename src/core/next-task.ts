/**
 * A new task, after everything already queued (messages, timers) and the current task's microtasks.
 * Not `scheduler.yield()`: its continuation goes ahead of other tasks, so it would not let them in;
 * not `setTimeout(0)`: nested timers are clamped to 4 ms.
 */
export function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
