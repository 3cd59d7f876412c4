// Peer benchmarks: rnnkit (native, wasm) side by side with PyTorch, ONNX Runtime (node, web/wasm), TensorFlow.js
// (wasm, cpu) and brain.js on the workloads of shared/DESIGN.md, every peer on the same weights and inputs and
// checked against the same float64 reference.
//
// usage (from the repository root): npm run bench:peers
//    or: cd bench/peers && node run.mjs [--peers rnnkit,pytorch,...] [--workloads W1,W3] [--time ms] [--retries n]
//                                       [--rounds n]
// Each peer runs in its own process (threads, global backends and onnxruntime-web's workers stay apart) and
// prints @@VERSION / @@RESULT lines; this script collects them into one table.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALL, GEN, HERE, TOLERANCE } from './common.mjs';

const PYTHON = process.env.PEER_PYTHON ?? '/usr/bin/python3'; // Debian's python3-torch is only visible to it
const PEER_TIMEOUT_MS = 300_000;
/** Other processes' share of the CPU above which a row is marked as measured on a busy machine. */
const BUSY = 0.1;

const args = process.argv.slice(2);
const opt = (k) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const peerFilter = opt('--peers')?.split(',');
const workloads = opt('--workloads')?.split(',') ?? ALL;
if (opt('--time')) process.env.PEER_TIME = opt('--time');
const retries = Number(opt('--retries') ?? 2);
// --rounds n: run every peer n times, round-robin (n rounds of all peers, the order rotating each round), and
// report per row the round whose median is the median of the n: slow drift of the machine then hits every peer
// alike instead of whichever ran during a slow minute.
const rounds = Math.max(1, Number(opt('--rounds') ?? 1));

// Debian's OpenBLAS 0.3.21 does not know newer CPUs (an Emerald Rapids Xeon was seen here as "Prescott", its
// SSE3 kernels: PyTorch ran 5x slower than with its AVX-512 ones). PyTorch should run at its best, so when the
// detected core is that fallback, name the core this CPU's instruction set supports.
function openblasCore() {
  if (process.env.OPENBLAS_CORETYPE) return process.env.OPENBLAS_CORETYPE;
  const probe = spawnSync(PYTHON, ['-c', 'import torch; torch.ones(8, 8) @ torch.ones(8, 8)'],
    { env: { ...process.env, OPENBLAS_VERBOSE: '2' }, encoding: 'utf8' });
  const core = /Core: (\S+)/.exec(`${probe.stdout}${probe.stderr}`)?.[1];
  if (core !== 'Prescott' || process.platform !== 'linux') return undefined;
  const flags = readFileSync('/proc/cpuinfo', 'utf8');
  return /\bavx512f\b/.test(flags) ? 'SkylakeX' : /\bavx2\b/.test(flags) ? 'Haswell' : undefined;
}
const torchCore = openblasCore();
const torchEnv = { OPENBLAS_NUM_THREADS: '2', ...(torchCore ? { OPENBLAS_CORETYPE: torchCore } : {}) };

const node = process.execPath;
const PEERS = [
  { id: 'rnnkit native', cmd: [node, 'peer-rnnkit.mjs', 'native'] },
  { id: 'rnnkit wasm', cmd: [node, 'peer-rnnkit.mjs', 'wasm'] },
  { id: 'pytorch t1', cmd: [PYTHON, 'peer_torch.py', '1'], env: torchEnv },
  { id: 'pytorch t2', cmd: [PYTHON, 'peer_torch.py', '2'], env: torchEnv },
  { id: 'ort-node t1', cmd: [node, 'peer-ort.mjs', 'node', '1'] },
  { id: 'ort-node t2', cmd: [node, 'peer-ort.mjs', 'node', '2'] },
  { id: 'ort-web t1', cmd: [node, 'peer-ort.mjs', 'web', '1'] },
  { id: 'ort-web t2', cmd: [node, 'peer-ort.mjs', 'web', '2'] },
  { id: 'tfjs-wasm', cmd: [node, 'peer-tfjs.mjs', 'wasm'] },
  { id: 'tfjs-cpu', cmd: [node, 'peer-tfjs.mjs', 'cpu'] },
  { id: 'brain.js', cmd: [node, 'peer-brain.mjs'] },
].filter((p) => !peerFilter || peerFilter.some((f) => p.id.startsWith(f)));

const log = (s) => process.stderr.write(s + '\n');

// ---- the data every peer loads: weights, inputs, float64 references, ONNX models (generated, not in git)
function ensureGenerated() {
  const script = path.join(HERE, 'export_torch.py');
  const hash = createHash('sha256').update(readFileSync(script)).digest('hex');
  const stampFile = path.join(GEN, 'stamp.json');
  if (existsSync(stampFile) && JSON.parse(readFileSync(stampFile, 'utf8')).hash === hash) return;
  log(`generating weights, references and ONNX models with ${PYTHON} export_torch.py ...`);
  mkdirSync(GEN, { recursive: true });
  const r = spawnSync(PYTHON, [script, GEN], { stdio: ['ignore', 'inherit', 'inherit'], cwd: HERE });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} export_torch.py failed (${r.error?.message ?? `exit ${r.status}`}); it needs Debian's python3-torch`);
  }
  writeFileSync(stampFile, JSON.stringify({ hash }));
}

function machine() {
  const cpus = os.cpus();
  const load = os.loadavg().map((v) => v.toFixed(2)).join(' ');
  let busy = '', cpuLine = '';
  try { // what else is using the CPU right now (top's second frame: the last second); the measurements share it
    const top = execFileSync('top', ['-b', '-n', '2', '-d', '1', '-c', '-w', '200'], { encoding: 'utf8' }).split('\n');
    const frame = top.slice(top.map((l, i) => (/^%Cpu/.test(l) ? i : -1)).filter((i) => i >= 0).pop());
    cpuLine = frame[0].replace(/\s+/g, ' ').trim();
    const head = frame.findIndex((l) => /PID\s+USER/.test(l));
    busy = frame.slice(head + 1).map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 11 && parseFloat(f[8]) >= 5
      && Number(f[0]) !== process.pid && !/^top$/.test(f[11]))
      .slice(0, 4).map((f) => `${f[8]}% CPU: ${f.slice(11).join(' ').slice(0, 100)}`).join('\n    ');
  } catch { /* no top */ }
  return { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version, load, cpuLine, busy };
}

/** CPU ticks of every process: pid -> { ppid, ticks (user + system, all threads), name }. */
function procTicks() {
  const m = new Map();
  let dirs = [];
  try { dirs = readdirSync('/proc'); } catch { return m; }
  for (const d of dirs) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rp = st.lastIndexOf(')');
      const f = st.slice(rp + 2).split(' ');
      m.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), name: st.slice(st.indexOf('(') + 1, rp) });
    } catch { /* gone meanwhile */ }
  }
  return m;
}
let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100; } catch { /* default */ }

/**
 * How much CPU the processes outside this benchmark use while it runs (other jobs on the machine distort every
 * number, the multi-threaded peers' most). interval() returns the share of all cores they used since its last call.
 */
class OtherLoad {
  constructor() { this.prev = procTicks(); this.others = 0; this.names = new Map(); this.t = performance.now(); this.mark(); }
  mine(m, pid) {
    for (let p = pid, k = 0; p > 1 && k < 64; k++) {
      if (p === process.pid) return true;
      p = m.get(p)?.ppid ?? 0;
    }
    return false;
  }
  sample() {
    const cur = procTicks();
    for (const [pid, v] of cur) {
      const before = this.prev.get(pid);
      if (!before || before.name !== v.name || this.mine(cur, pid)) continue;
      const d = v.ticks - before.ticks;
      if (d > 0) { this.others += d; this.names.set(v.name, (this.names.get(v.name) ?? 0) + d); }
    }
    this.prev = cur;
    this.t = performance.now();
  }
  mark() { this.markTicks = this.others; this.markT = this.t; }
  /** Share (0..1) of all cores used by other processes since the last interval() (or construction). */
  interval() {
    this.sample();
    const secs = (this.t - this.markT) / 1000;
    const share = secs > 0 ? (this.others - this.markTicks) / CLK_TCK / secs / os.cpus().length : 0;
    this.mark();
    return share;
  }
  top() { return [...this.names].filter(([, t]) => t >= CLK_TCK / 2).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([n, t]) => `${n} ${(t / CLK_TCK).toFixed(0)} s`).join(', '); }
}

function runPeerProcess(peer, names = workloads) {
  return new Promise((resolve) => {
    const results = [], versions = [];
    let err = '';
    const load = new OtherLoad();
    const poll = setInterval(() => load.sample(), 1000);
    const child = spawn(peer.cmd[0], peer.cmd.slice(1), {
      cwd: HERE,
      env: { ...process.env, ...peer.env, PEER_WORKLOADS: names.join(',') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => { err += `\ntimed out after ${PEER_TIMEOUT_MS / 1000} s`; child.kill('SIGKILL'); }, PEER_TIMEOUT_MS);
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('@@VERSION ')) versions.push(line.slice(10));
        else if (line.startsWith('@@RESULT ')) {
          const r = JSON.parse(line.slice(9));
          r.peer = peer.id;
          r.otherLoad = load.interval();
          results.push(r);
          log(`  ${peer.id} ${r.workload}: ${r.skipped ? r.skipped : `${r.ms.toFixed(2)} ms (${r.samples} runs), err ${r.err === null ? 'n/a' : r.err.toExponential(1)}, other processes ${(100 * r.otherLoad).toFixed(0)}% CPU`}`);
        }
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { err += e.message; });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      const errLines = err.trim().split('\n').map((l) => l.trim()).filter(Boolean);
      const why = errLines.find((l) => /^\w*Error\b|^error\b|timed out/i.test(l)) ?? errLines.find((l) => !/warn/i.test(l)) ?? `exit ${code}`;
      for (const w of names) {
        if (!results.some((r) => r.workload === w)) results.push({ peer: peer.id, workload: w, skipped: `peer process failed: ${why.slice(0, 160)}` });
      }
      resolve({ versions, results, others: load.top() });
    });
  });
}

const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtRatio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '–');

async function main() {
  const t0 = Date.now();
  const m0 = machine();
  if (!existsSync(path.join(HERE, '../../dist/index.js'))) throw new Error('../../dist/index.js is missing: run `npm run build:ts` at the root');
  ensureGenerated();
  log(`peers: ${PEERS.map((p) => p.id).join(', ')}; workloads: ${workloads.join(', ')}`);
  const versions = {}, results = [], byRound = new Map();
  for (let round = 0; round < rounds; round++) {
    const order = PEERS.map((_, i) => PEERS[(i + round) % PEERS.length]);
    for (const p of order) {
      log(`${p.id} ...${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''}`);
      const r = await runPeerProcess(p);
      versions[p.id] = (r.versions.join('; ') || '(did not start)') + (r.others ? ` [other processes meanwhile: ${r.others}]` : '');
      for (const x of r.results) {
        const key = `${x.peer}\t${x.workload}`;
        x.round = round;
        byRound.set(key, [...(byRound.get(key) ?? []), x]);
      }
    }
  }
  for (const all of byRound.values()) {
    const ok = all.filter((x) => !x.skipped).sort((a, b) => a.ms - b.ms);
    if (!ok.length) { results.push(all[0]); continue; }
    const pick = ok[(ok.length - 1) >> 1];
    if (ok.length > 1) {
      pick.note = [pick.note, `median of ${ok.length} rounds (${ok.map((x) => fmtMs(x.ms)).join(', ')} ms)`].filter(Boolean).join('; ');
    }
    results.push(pick);
  }
  // rows measured while other processes took more than BUSY of the CPU: measured again (a cheap row only), and
  // the quieter measurement kept
  for (let attempt = 1; attempt <= (rounds > 1 ? 0 : retries); attempt++) {
    const redo = new Map();
    for (const r of results) {
      if (!r.skipped && r.otherLoad > BUSY && r.ms * r.samples < 10_000) redo.set(r.peer, [...(redo.get(r.peer) ?? []), r.workload]);
    }
    if (!redo.size) break;
    log(`measuring again (${attempt}/${retries}) what ran on a busy machine: ${[...redo].map(([id, ws]) => `${id} ${ws.join(',')}`).join('; ')}`);
    for (const [id, ws] of redo) {
      const again = await runPeerProcess(PEERS.find((p) => p.id === id), ws);
      for (const n of again.results) {
        const i = results.findIndex((r) => r.peer === id && r.workload === n.workload);
        if (!n.skipped && n.otherLoad < results[i].otherLoad) {
          n.note = [n.note, 're-measured: the first pass ran on a busy machine'].filter(Boolean).join('; ');
          results[i] = n;
        }
      }
    }
  }
  const m1 = machine();

  // ---- one table: workload x peer
  const notes = [];
  const noteRef = (n) => {
    if (!n) return '';
    let i = notes.indexOf(n);
    if (i < 0) { notes.push(n); i = notes.length - 1; }
    return `[${i + 1}]`;
  };
  // With rounds, a ratio is the median over rounds of (peer / rnnkit) measured in the same round, minutes apart
  // at most, rather than a ratio of medians that may come from different rounds: the machine's speed drifts.
  const roundRatio = (peer, w, base) => {
    const mine = byRound.get(`${peer}\t${w}`) ?? [], theirs = byRound.get(`${base}\t${w}`) ?? [];
    const rs = [];
    for (const x of mine) {
      const y = theirs.find((t) => t.round === x.round);
      if (!x.skipped && y && !y.skipped) rs.push(x.ms / y.ms);
    }
    rs.sort((a, b) => a - b);
    return rs.length ? rs[(rs.length - 1) >> 1] : null;
  };
  const ratio = (r, w, base, baseMs) => {
    if (rounds < 2) return fmtRatio(r.ms, baseMs);
    const q = roundRatio(r.peer, w, base);
    return q === null ? '–' : `${q.toFixed(2)}×`;
  };
  const lines = [];
  lines.push('| workload | peer | median ms | runs | vs rnnkit native | vs rnnkit wasm | max abs err | other load | notes |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const w of workloads) {
    const rows = results.filter((r) => r.workload === w);
    const base = (id) => rows.find((r) => r.peer === id && !r.skipped)?.ms;
    const nat = base('rnnkit native'), was = base('rnnkit wasm');
    for (const p of PEERS) {
      const r = rows.find((x) => x.peer === p.id);
      if (!r) continue;
      if (r.skipped) { lines.push(`| ${w} | ${p.id} | – | – | – | – | – | – | ${noteRef(r.skipped)} |`); continue; }
      const flag = r.err !== null && r.err !== undefined && r.err > TOLERANCE ? ' **FLAG**' : '';
      const err = r.err === null || r.err === undefined ? 'n/a' : r.err.toExponential(1) + flag;
      const n = [...(r.note ? r.note.split('; ') : []), r.errNote].filter(Boolean).map(noteRef).join(' ');
      const busy = `${(100 * r.otherLoad).toFixed(0)}%${r.otherLoad > BUSY ? ' **busy**' : ''}`;
      lines.push(`| ${w} | ${p.id} | ${fmtMs(r.ms)} | ${r.samples} | ${ratio(r, w, 'rnnkit native', nat)} | ${ratio(r, w, 'rnnkit wasm', was)} | ${err} | ${busy} | ${n} |`);
    }
  }
  const out = [];
  out.push(`machine: ${m0.cpu}, ${m0.cores} cores; Node ${m0.node}; ${os.type()} ${os.release()}`);
  out.push(`load average (1/5/15 min) at start: ${m0.load}; at end: ${m1.load}`);
  out.push(`top, the second before the start: ${m0.cpuLine || 'n/a'}; after the end: ${m1.cpuLine || 'n/a'}`);
  if (m0.busy) out.push(`other processes using the CPU at the start:\n    ${m0.busy}`);
  if (m1.busy) out.push(`other processes using the CPU at the end:\n    ${m1.busy}`);
  out.push('workloads: W1 LSTM I64 H256 B1 T100 inference; W2-* LSTM/GRU/tanh RNN I128 H512 B32 T100 inference;');
  out.push('           W3 training step: embedding 65x64, LSTM 256, B32 T64, softmax CE, Adam lr 1e-3 (forward+backward+step)');
  out.push('versions:');
  for (const [id, v] of Object.entries(versions)) out.push(`  ${id}: ${v}`);
  out.push('');
  out.push(rounds > 1
    ? `"vs rnnkit X" = the median over the ${rounds} rounds of peer / rnnkit X within a round (above 1: rnnkit is faster). Error: max |peer - PyTorch float64|`
    : `"vs rnnkit X" = peer median / rnnkit X median (above 1: rnnkit is faster). Error: max |peer - PyTorch float64|`);
  out.push(`over y [T, B, H] (W1, W2), over the losses of two steps from the same weights (W3); above ${TOLERANCE} is flagged.`);
  out.push(`"other load": the share of all ${os.cpus().length} cores that processes outside this benchmark used while the row was measured`);
  out.push(`(sampled from /proc every second); above ${100 * BUSY}% is marked busy: such a row is slowed by them.`);
  out.push('');
  out.push(...lines);
  out.push('');
  notes.forEach((n, i) => out.push(`[${i + 1}] ${n}`));
  out.push('');
  out.push(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const text = out.join('\n');
  console.log(text);
  const dir = path.join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.md'), text + '\n');
  const allRounds = [...byRound.values()].flat(); // every round's measurement (results: the picked ones)
  writeFileSync(path.join(dir, 'latest.json'), JSON.stringify({ machine: { start: m0, end: m1 }, versions, results, allRounds }, null, 1));
  log(`written to ${path.relative(process.cwd(), dir)}/latest.md and latest.json`);
}

main().then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
