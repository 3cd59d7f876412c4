// Training progress on stderr: a live bar when stderr is a terminal, else a plain line every few seconds (and
// at every validation and at the end), so logs of a long run stay short and readable.
import cliProgress from 'cli-progress';
import type { Progress } from '../train/trainer.js';
import { fmt } from './io.js';

export interface ProgressReporter {
  update(p: Progress): void;
  /** Ends the bar (the line stays on screen). */
  stop(): void;
}

/** Seconds as 1h02m, 3m05s or 12s. */
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  if (t >= 3600) return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
  if (t >= 60) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  if (s < 10) return `${s.toFixed(1)}s`;
  return `${t}s`;
}

export function progressLine(p: Progress, unit: string): string {
  const parts = [`step ${p.step}/${p.totalSteps}`, `epoch ${p.epoch}`, `loss ${fmt(p.loss)}`];
  if (p.valLoss !== undefined) parts.push(`val ${fmt(p.valLoss)}`);
  parts.push(`lr ${fmt(p.lr)}`, `${Math.round(p.itemsPerSecond)} ${unit}/s`, `eta ${duration(p.etaSeconds)}`);
  return parts.join('  ');
}

class BarReporter implements ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  constructor(private readonly unit: string) {}
  update(p: Progress): void {
    const payload = {
      loss: fmt(p.loss), val: p.valLoss === undefined ? '' : `  val ${fmt(p.valLoss)}`,
      speed: `${Math.round(p.itemsPerSecond)} ${this.unit}/s`, remaining: duration(p.etaSeconds),
    };
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: '{bar} {value}/{total}  loss {loss}{val}  {speed}  eta {remaining}',
        barsize: 30,
        hideCursor: true,
        fps: 5,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(p.totalSteps, p.step, payload);
    } else {
      this.bar.update(p.step, payload);
    }
  }
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

class LineReporter implements ProgressReporter {
  private last = -Infinity;
  private lastVal: number | undefined;
  private lastStep = -1;
  constructor(private readonly unit: string, private readonly everyMs: number) {}
  update(p: Progress): void {
    const now = performance.now();
    const newVal = p.valLoss !== undefined && p.valLoss !== this.lastVal;
    const end = p.step === p.totalSteps && p.step !== this.lastStep;
    if (now - this.last < this.everyMs && !newVal && !end) return;
    this.last = now;
    this.lastVal = p.valLoss;
    this.lastStep = p.step;
    process.stderr.write(`rnnkit: ${progressLine(p, this.unit)}\n`);
  }
  stop(): void {}
}

const silent: ProgressReporter = { update() {}, stop() {} };

/** `unit` names what itemsPerSecond counts ("tokens", "examples", "windows"). */
export function progressReporter(opts: { quiet: boolean; unit: string; everyMs?: number }): ProgressReporter {
  if (opts.quiet) return silent;
  if (process.stderr.isTTY) return new BarReporter(opts.unit);
  return new LineReporter(opts.unit, opts.everyMs ?? 2000);
}
