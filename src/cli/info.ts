// `rnnkit info`: which backends load here, which one is active, and why any other is not.
import { backendReport, type BackendReport } from '../backend/index.js';

export function formatInfo(r: BackendReport): string {
  const lines = [`active backend: ${r.active ?? 'none'}${r.forced ? ` (forced by RNNKIT_BACKEND=${r.forced})` : ''}`];
  for (const a of r.attempts) {
    lines.push(`  ${a.name.padEnd(7)} ${a.ok ? 'available' : 'unavailable'}: ${a.detail}`);
  }
  return lines.join('\n');
}

export function runInfo(args: { json: boolean }): number {
  const r = backendReport();
  process.stdout.write(args.json ? JSON.stringify(r, null, 2) + '\n' : formatInfo(r) + '\n');
  return r.active ? 0 : 1;
}
