#!/usr/bin/env node
// prebuildify runs "node-gyp rebuild --target=... --arch=..."; this stands in for node-gyp and builds with
// cmake-js instead (Node-API: one binary serves every Node version, so the target is ignored).
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const arch = process.argv.find((a) => a.startsWith('--arch='));
const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', ...(arch ? [arch] : [])];
const r = spawnSync(process.execPath, args, { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
process.exit(r.status ?? 1);
