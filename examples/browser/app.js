// The demo page's script: the rnnkit browser bundle (served at /rnnkit/ by scripts/demo.mjs) with two bundled
// models. Next-letter probabilities use one streaming state per typed character (a clone of the previous one fed
// the new character), so a keystroke costs one step of the model whatever the name's length, and backspace pops
// back to a kept state. ?threads=N asks for N WASM threads (they need the page to be cross-origin isolated).
import { fetchModel, LanguageModel, ready } from './rnnkit/rnnkit.js';

const $ = (id) => document.getElementById(id);
const status = $('status');
/** For tests and the curious: per-keystroke milliseconds (model step + drawing), the backend, readiness. */
const demo = (window.rnnkitDemo = { latencies: [], stepMs: [], backend: null, ready: false, error: null });

function show(token) {
  return token === '\n' ? '⏎ end' : token === ' ' ? '␣' : token;
}

async function main() {
  const t = new URLSearchParams(location.search).get('threads');
  const backend = await ready(t === null ? {} : { threads: t === 'auto' ? 'auto' : Number(t) });
  demo.backend = { details: backend.details, threads: backend.threads };
  const [names, moby] = await Promise.all([
    fetchModel('models/names.safetensors').then((b) => LanguageModel.fromBytes(b)),
    fetchModel('models/moby-dick.safetensors').then((b) => LanguageModel.fromBytes(b)),
  ]);
  status.textContent = `${backend.details}${self.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
  setUpNames(names);
  setUpStory(moby);
  demo.ready = true;
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {});
}

function setUpNames(lm) {
  const input = $('name');
  const list = $('next');
  const canvas = $('hidden');
  // states[i]: the stream after the separator and the first i typed characters
  const states = [lm.stream('')];
  let typed = '';

  function update() {
    const start = performance.now();
    const v = input.value;
    let common = 0;
    while (common < typed.length && common < v.length && typed[common] === v[common]) common++;
    states.length = common + 1;
    for (const ch of v.slice(common)) states.push(states[states.length - 1].clone().feed(ch));
    typed = v;
    const top = states[states.length - 1].top(8);
    demo.stepMs.push(performance.now() - start);
    list.replaceChildren(...top.map(({ token, probability }) => {
      const li = document.createElement('li');
      li.innerHTML = '<span class="token"></span><span class="bar"></span><span class="prob"></span>';
      li.children[0].textContent = show(token);
      li.children[1].style.width = `${Math.max(1, probability * 100)}%`;
      li.children[2].textContent = `${(probability * 100).toFixed(1)}%`;
      return li;
    }));
    drawHidden(canvas, states.slice(1).map((s) => s.hidden()), typed);
    const ms = performance.now() - start;
    demo.latencies.push(ms);
    $('latency').textContent = `Last key: ${ms.toFixed(2)} ms (model ${demo.stepMs[demo.stepMs.length - 1].toFixed(2)} ms).`;
  }

  input.addEventListener('input', update);
  input.disabled = false;
  input.focus();
  update();
}

/**
 * A heatmap of the top layer's units (rows) after each character (columns), the newest on the right: one pixel per
 * unit and character in a small image, scaled up without smoothing.
 */
const heat = document.createElement('canvas');
function drawHidden(canvas, hiddens, text) {
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  if (!hiddens.length) return;
  const [L, , H] = hiddens[0].shape;
  const cell = 20; // px per character
  const rowsH = canvas.height - 20;
  const cols = Math.min(hiddens.length, Math.floor(canvas.width / cell));
  const first = hiddens.length - cols;
  heat.width = cols;
  heat.height = H;
  const img = new ImageData(cols, H);
  for (let c = 0; c < cols; c++) {
    const h = hiddens[first + c].data.subarray((L - 1) * H, L * H);
    for (let u = 0; u < H; u++) {
      const v = Math.max(-1, Math.min(1, h[u]));
      const a = Math.round(255 * (1 - Math.abs(v)));
      const at = (u * cols + c) * 4;
      img.data[at] = v >= 0 ? 255 : a;
      img.data[at + 1] = a;
      img.data[at + 2] = v >= 0 ? a : 255;
      img.data[at + 3] = 255;
    }
  }
  heat.getContext('2d').putImageData(img, 0, 0);
  g.imageSmoothingEnabled = false;
  g.drawImage(heat, 0, 0, cols * cell, rowsH);
  g.fillStyle = '#fff';
  for (let c = 1; c < cols; c++) g.fillRect(c * cell - 1, 0, 1, rowsH); // a gap between characters
  g.fillStyle = '#222';
  g.font = '13px ui-monospace, monospace';
  for (let c = 0; c < cols; c++) g.fillText(show(text[first + c]), c * cell + 5, canvas.height - 5);
}

function setUpStory(lm) {
  const button = $('generate');
  const slider = $('temperature');
  const out = $('story');
  const unk = new Set(['<unk>']);
  slider.addEventListener('input', () => { $('tval').textContent = Number(slider.value).toFixed(2); });
  let run = 0;
  button.addEventListener('click', () => {
    const mine = ++run;
    const prefix = $('prefix').value || 'Call me ';
    const stream = lm.stream(prefix);
    out.textContent = prefix;
    let left = 600;
    // a few characters per frame: the page stays responsive and the slider acts on the next ones
    const frame = () => {
      if (mine !== run) return;
      let text = '';
      for (let i = 0; i < 8 && left > 0; i++, left--) {
        const p = stream.distribution(Number(slider.value));
        let r = Math.random();
        let id = 0;
        const tokens = lm.vocabulary.tokens;
        let total = 0;
        for (let j = 0; j < p.length; j++) if (!unk.has(tokens[j])) total += p[j];
        r *= total;
        for (id = 0; id < p.length - 1; id++) {
          if (unk.has(tokens[id])) continue;
          r -= p[id];
          if (r <= 0) break;
        }
        text += tokens[id];
        stream.feed(tokens[id]);
      }
      out.textContent += text;
      if (left > 0) requestAnimationFrame(frame);
    };
    frame();
  });
  button.disabled = false;
}

main().catch((e) => {
  demo.error = e.message;
  status.textContent = `error: ${e.message}`;
  status.className = 'error';
  console.error(e);
});
