// The browser demo's server (`npm run demo`): sirv over node:http on 127.0.0.1 only, serving examples/browser/ at
// /, the browser bundle and its .wasm builds (dist/browser/, from `npm run build:browser`) at /rnnkit/ and the
// bundled models at /models/. By default with the COOP/COEP headers that make the page cross-origin isolated,
// which the WASM backend's threads need (a shared memory); --no-isolation serves without them (one thread).
// test/browser-demo.test.ts starts the same server (startServer) with more folders mounted.
//
//   node scripts/demo.mjs [--port 8080] [--no-isolation]
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE = `${root}dist/browser/rnnkit.js`;

/**
 * Starts the server; `mounts` adds URL prefixes ('/x/') over folders (absolute paths). Resolves to its base URL
 * and a close function.
 */
export async function startServer({ port = 0, isolated = true, mounts = {} } = {}) {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build:browser\` first`);
  const all = { ...mounts, '/rnnkit/': `${root}dist/browser`, '/models/': `${root}models`, '/': `${root}examples/browser` };
  // dev: files are looked up on each request (a rebuilt bundle is served without a restart), never cached stale
  const handlers = Object.entries(all).map(([prefix, dir]) => [prefix, sirv(dir, { dev: true, etag: true })]);
  const server = createServer((req, res) => {
    if (isolated) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const url = req.url ?? '/';
    const hit = handlers.find(([prefix]) => url.startsWith(prefix));
    const notFound = () => {
      res.statusCode = 404;
      res.end('not found');
    };
    if (!hit) return notFound();
    req.url = url.slice(hit[0].length - 1);
    hit[1](req, res, notFound);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address();
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--port');
  const port = at >= 0 ? Number(args[at + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`demo: --port: expected an integer from 0 to 65535, found ${args[at + 1]}`);
    process.exit(1);
  }
  const isolated = !args.includes('--no-isolation');
  try {
    const { url } = await startServer({ port, isolated });
    console.log(`rnnkit demo: ${url} (${isolated ? 'cross-origin isolated: WASM threads' : 'not isolated: one thread'}; Ctrl-C stops it)`);
  } catch (e) {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  }
}
