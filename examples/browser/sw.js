// The demo's service worker: keeps the page, the bundle, its .wasm builds and the two models in a cache when
// installed, then answers from the network when it can and from that cache when it cannot, so the page loads and
// runs offline once it has been loaded online (the cached responses keep their COOP/COEP headers).
const CACHE = 'rnnkit-demo-v1';
const FILES = [
  './', 'index.html', 'app.js', 'rnnkit/rnnkit.js', 'rnnkit/rnnkit.wasm', 'rnnkit/rnnkit-relaxed.wasm',
  'rnnkit/rnnkit-mt.wasm', 'rnnkit/rnnkit-relaxed-mt.wasm', 'models/names.safetensors', 'models/moby-dick.safetensors',
];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET') return;
  e.respondWith(
    fetch(e.request)
      .then((r) => {
        if (r.ok) {
          const copy = r.clone();
          caches.open(CACHE).then((c) => c.put(e.request, copy));
        }
        return r;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true }).then((r) => r ?? Response.error())),
  );
});
