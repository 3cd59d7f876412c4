// `rnnkit info`: every registered backend, whether it loads here (or why not), and which one is active.
import { backendReport, type BackendReport } from '../backend/index.js';

export function formatInfo(r: BackendReport): string {
  const lines = [`active backend: ${r.active ?? 'none'}${r.forced ? ` (forced by RNNKIT_BACKEND=${r.forced})` : ''}`];
  // every registered backend, with its details or the reason it cannot load here
  const width = Math.max(7, ...r.attempts.map((a) => a.name.length + 1));
  for (const a of r.attempts) {
    const when = a.auto ? '' : ' (only when asked for)';
    lines.push(`  ${a.name.padEnd(width)} ${a.ok ? 'available' : 'unavailable'}${when}: ${a.detail}`);
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
