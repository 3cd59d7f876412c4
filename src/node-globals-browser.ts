// The Node globals the shared code uses, in a browser build (scripts/build-browser.cjs injects these for its free
// references): `process` without an environment (every RNNKIT_* setting has its default; warnings go to the
// console), and `setImmediate` (the training loop's yield to the event loop) as a message-channel task, which a
// browser runs without setTimeout's 4 ms clamp.
export const process = {
  env: {} as Record<string, string | undefined>,
  emitWarning(message: string): void {
    console.warn(message);
  },
};

const pending: Array<() => void> = [];
let channel: MessageChannel | null = null;

export function setImmediate(fn: () => void): void {
  if (channel === null) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => pending.shift()?.();
  }
  pending.push(fn);
  channel.port2.postMessage(null);
}
