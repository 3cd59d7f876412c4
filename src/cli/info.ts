// `rnnkit info`: which backends load here, which one is active, and why any other is not.
import { backendReport, type BackendReport } from '../backend/index.js';

export function formatInfo(r: BackendReport): string {
  const lines = [`active backend: ${r.active ?? 'none'}${r.forced ? ` (forced by RNNKIT_BACKEND=${r.forced})` : ''}`];
  for (const a of r.attempts) {
    lines.push(`  ${a.name.padEnd(7)} ${a.ok ? 'available' : 'unavailable'}: ${a.detail}`);
  }
  if (!r.active && r.error) lines.push(`no active backend: ${r.error}`);
  if (r.invalidSettings.length) lines.push(`invalid settings: ${r.invalidSettings.join(', ')} (see above)`);
  return lines.join('\n');
}

/** Exit status 1 when no backend is active or any RNNKIT_* setting has a value that is not an allowed one. */
export function runInfo(args: { json: boolean }): number {
  const r = backendReport();
  process.stdout.write(args.json ? JSON.stringify(r, null, 2) + '\n' : formatInfo(r) + '\n');
  return r.active && r.invalidSettings.length === 0 ? 0 : 1;
}
