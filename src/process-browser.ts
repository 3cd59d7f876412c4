// `process` in a browser build (scripts/build-browser.cjs injects it for the free references the shared code
// makes): no environment, so every RNNKIT_* setting has its default, and warnings go to the console.
export const process = {
  env: {} as Record<string, string | undefined>,
  emitWarning(message: string): void {
    console.warn(message);
  },
};
