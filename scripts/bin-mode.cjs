// Makes every file named in package.json "bin" executable after tsc wrote it (tsc writes 0644). npm's bin-links
// sets the mode only when it links a package; a clone rebuilt later, under an npx cache that already holds the
// link, otherwise runs into "sh: 1: rnnkit: Permission denied". Exits non-zero when a bin is missing or is not a
// script that starts with a "#!" line. Runs after tsc (npm run build:ts).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const bins = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});

for (const [name, rel] of Object.entries(bins)) {
  const file = path.join(root, rel);
  if (!fs.existsSync(file)) throw new Error(`package.json bin "${name}": ${rel} does not exist (did tsc run?)`);
  const head = fs.readFileSync(file, 'utf8').slice(0, 2);
  if (head !== '#!') throw new Error(`package.json bin "${name}": ${rel} does not start with a "#!" line`);
  fs.chmodSync(file, fs.statSync(file).mode | 0o111);
}
