// The test builds' entry (scripts/build-wasm.cjs: rnnkit-mt-testhooks.wasm, rnnkit-relaxed-mt-testhooks.wasm,
// compiled with RNNKIT_TEST_HOOKS defined): the release module plus setTestLag, which src/backend/wasm-core.ts calls
// when RNNKIT_TEST_LAG_US is set (test/forward-threads.test.ts). The release builds hold no lag code at all.
export * from './index';
export { setTestLag } from './pool';
