// Peak resident memory of one inference call (DESIGN.md's W1 and W2 shapes), per backend and thread count, against
// the budget of issue #6: parameters + activations (input and output) + 32 MiB.
// usage: node bench/memory.mjs [W2-lstm W2-gru ...] [--threads 1,2] [--backends native,wasm]
//
// Each case runs in its own process, so one case's heap and caches never count in another's. The child creates
// the input and the model's weights in JavaScript, loads the backend, then resets the kernel's peak-RSS counter
// (`/proc/self/clear_refs` 5) and reads VmRSS: everything after that (the addon's or the WebAssembly module's
// buffers, packed weights, scratch, the returned output) is what the call costs ('call peak'). 'with load' counts
// from before the backend was loaded: the library's start-up (the addon, the WebAssembly instance, its worker
// threads, started and waited for) included. The budget is judged on 'with load'.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GATES } from '../dist/backend/types.js';

const MiB = 1024 * 1024;

function status() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function child([backend, wname, threads]) {
  const env = backend === 'native' ? 'RNNKIT_THREADS' : 'RNNKIT_WASM_THREADS';
  process.env[env] = threads;
  const { WORKLOADS } = await import('../dist/cli/workloads.js');
  const { makeRecurrent } = await import('../dist/nn/recurrent.js');
  const { tensor } = await import('../dist/tensor.js');
  const { loadBackend } = await import('../dist/index.js');
  const w = WORKLOADS[wname];
  const x = new Float32Array(w.steps * w.batch * w.inputSize);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const input = tensor(x, [w.steps, w.batch, w.inputSize]);
  globalThis.gc?.();
  const beforeLoad = status().rss;
  const m = makeRecurrent(w.kind, { inputSize: w.inputSize, hiddenSize: w.hiddenSize, backend, seed: 1 }).eval();
  const be = loadBackend(backend);
  // WASM workers start on first use and calls never wait for them: start them now, so the call is threaded
  if (be.threadsReady && Number(threads) > 1 && !(await be.threadsReady())) throw new Error('WASM workers did not start');
  globalThis.gc?.();
  fs.writeFileSync('/proc/self/clear_refs', '5'); // VmHWM := VmRSS
  const before = status().rss;
  const out = m.forward(input);
  const after = status();
  const params = w.hiddenSize * GATES[w.kind] * (w.inputSize + w.hiddenSize + 2) * 4;
  const activations = (x.length + out.output.data.length) * 4;
  const threaded = backend === 'wasm' ? be.stats.threaded > 0 : Number(threads) > 1;
  process.stdout.write(JSON.stringify({ threaded, call: after.hwm - before, withLoad: after.hwm - beforeLoad, params, activations }));
  m.dispose();
  process.exit(0);
}

async function main(args) {
  const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
  const names = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const workloads = names.length ? names : ['W1', 'W2-lstm', 'W2-gru', 'W2-rnn'];
  const threads = opt('--threads', '1,2').split(',');
  const backends = opt('--backends', 'native,wasm').split(',');
  const self = fileURLToPath(import.meta.url);
  const rows = [];
  for (const wname of workloads) {
    for (const backend of backends) {
      for (const t of threads) {
        const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', backend, wname, t], { encoding: 'utf8' });
        if (r.status !== 0) {
          rows.push({ workload: wname, backend, threads: t, result: `failed: ${(r.stderr || '').trim().split('\n').pop()}` });
          continue;
        }
        const m = JSON.parse(r.stdout);
        const budget = m.params + m.activations + 32 * MiB;
        rows.push({
          workload: wname, backend, threads: t,
          'params MiB': (m.params / MiB).toFixed(1), 'activations MiB': (m.activations / MiB).toFixed(1),
          'budget MiB': (budget / MiB).toFixed(1), 'call peak MiB': (m.call / MiB).toFixed(1),
          'with load MiB': (m.withLoad / MiB).toFixed(1), threaded: m.threaded ? 'yes' : 'no', 'within budget': m.withLoad <= budget ? 'yes' : 'NO',
        });
      }
    }
  }
  console.log(`peak RSS growth of one inference call (VmHWM after the call - VmRSS before it), Node ${process.version}`);
  console.table(rows);
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(argv.slice(1));
else await main(argv);
