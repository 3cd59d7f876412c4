// ONNX Runtime as a peer, on the models export_torch.py exported from the same PyTorch modules.
// usage: node peer-ort.mjs node|web THREADS
//   node: onnxruntime-node (CPU execution provider, intraOpNumThreads = THREADS)
//   web:  onnxruntime-web's WebAssembly build run in Node (env.wasm.numThreads = THREADS, executionProviders ['wasm'])
import { readFileSync } from 'node:fs';
import { INFERENCE, inferenceErr, onnxPath, pkgVersion, runPeer } from './common.mjs';

const flavour = process.argv[2] ?? 'node';
const threads = Number(process.argv[3] ?? 1);
const pkgName = flavour === 'web' ? 'onnxruntime-web' : 'onnxruntime-node';
const ort = (await import(pkgName)).default ?? (await import(pkgName));
const version = pkgVersion(pkgName);

let options;
if (flavour === 'web') {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
} else {
  options = { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
}
console.log(`@@VERSION ${pkgName} ${version} (${flavour === 'web' ? `wasm, numThreads ${threads}` : `cpu EP, intraOpNumThreads ${threads}`})`);

const impl = {};
for (const name of INFERENCE) {
  impl[name] = async (w) => {
    const session = await ort.InferenceSession.create(readFileSync(onnxPath(name)), options);
    const feeds = { x: new ort.Tensor('float32', w.a.x, w.shape.x) };
    return {
      run: async () => {
        const out = await session.run(feeds, ['y']);
        return out.y.data;
      },
      check: (y) => inferenceErr(w, y),
      dispose: () => session.release(),
    };
  };
}
impl.W3 = () => 'inference only (ONNX Runtime training is a separate package and build)';

await runPeer(`ort-${flavour} t${threads}`, impl);
process.exit(0); // onnxruntime-web's worker threads would keep Node alive
