// Browser stand-in for Node's `events`, for Cornerstone3D's dependencies that subclass EventEmitter
// at load time (xmlbuilder2) but never use it on the paths a viewer takes.
export class EventEmitter {
  #listeners = new Map();
  on(name, listener) { this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), listener]); return this; }
  addListener(name, listener) { return this.on(name, listener); }
  once(name, listener) {
    const wrapped = (...args) => { this.off(name, wrapped); listener(...args); };
    return this.on(name, wrapped);
  }
  off(name, listener) { this.#listeners.set(name, (this.#listeners.get(name) ?? []).filter((l) => l !== listener)); return this; }
  removeListener(name, listener) { return this.off(name, listener); }
  removeAllListeners(name) { if (name === undefined) this.#listeners.clear(); else this.#listeners.delete(name); return this; }
  emit(name, ...args) {
    const listeners = this.#listeners.get(name) ?? [];
    for (const listener of listeners) listener.apply(this, args);
    return listeners.length > 0;
  }
}
export default EventEmitter;
