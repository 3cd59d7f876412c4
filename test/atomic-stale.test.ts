// A save killed mid-write (SIGKILL, power loss) leaves its temporary file; the next save to the same path
// removes the ones whose writer no longer exists, and never a live writer's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../src/io/atomic.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-stale-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited (and whose pid is, with overwhelming likelihood, not reused yet). */
const deadPid = (): number => Number(spawnSync(process.execPath, ['-p', 'process.pid'], { encoding: 'utf8' }).stdout);

describe.each([
  ['writeFileAtomic', (p: string, b: Uint8Array) => writeFileAtomic(p, b)],
  ['writeFileAtomicSync', async (p: string, b: Uint8Array) => writeFileAtomicSync(p, b)],
] as const)('%s', (_name, write) => {
  it('removes temporary files of dead writers to the same path, and only those', async () => {
    const target = join(dir, `${_name}.safetensors`);
    const dead = deadPid();
    const names = {
      dead: `.${_name}.safetensors.${dead}.0123456789ab.tmp`,
      live: `.${_name}.safetensors.${process.ppid}.0123456789ab.tmp`, // our parent: alive
      mine: `.${_name}.safetensors.${process.pid}.0123456789ab.tmp`, // a concurrent save of this process
      other: `.other.safetensors.${dead}.0123456789ab.tmp`, // another target's
      odd: `.${_name}.safetensors.${dead}.notours.tmp`,
    };
    for (const n of Object.values(names)) writeFileSync(join(dir, n), 'partial');
    await write(target, new Uint8Array([1, 2, 3]));
    const left = readdirSync(dir);
    expect(left).not.toContain(names.dead);
    for (const n of [names.live, names.mine, names.other, names.odd]) expect(left).toContain(n);
    expect(left).toContain(`${_name}.safetensors`);
  });
});
