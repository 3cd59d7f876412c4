// Model files: safetensors bytes that PyTorch can read, a reader that refuses every malformed or hostile file
// with E_MODEL_FILE, and writes that never leave a half-written file behind.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RnnkitError } from '../src/errors.js';
import { readFileLimited, readFileLimitedSync, writeFileAtomic, writeFileAtomicSync } from '../src/io/atomic.js';
import { decodeSafetensors, encodeSafetensors, halfToFloatBits } from '../src/io/safetensors.js';
import { tensor, type Tensor } from '../src/tensor.js';

// A switch that makes fsync fail with EIO, to show what a failure in the middle of a write leaves behind.
const inject = vi.hoisted(() => ({ failFsync: false }));
const eio = () => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5, syscall: 'fsync' });
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof orig.open = async (...args) => {
    const handle = await orig.open(...args);
    if (inject.failFsync) handle.sync = () => Promise.reject(eio());
    return handle;
  };
  return { ...orig, open, default: { ...orig, open } };
});
vi.mock('node:fs', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs')>();
  const fsyncSync: typeof orig.fsyncSync = (fd) => {
    if (inject.failFsync) throw eio();
    orig.fsyncSync(fd);
  };
  return { ...orig, fsyncSync, default: { ...orig, fsyncSync } };
});

const FIXTURES = fileURLToPath(new URL('./fixtures/safetensors/', import.meta.url));
const REPO = fileURLToPath(new URL('../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'rnnkit-safetensors-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeEach(() => { inject.failFsync = false; });

let dirCount = 0;
const freshDir = (): string => {
  const d = join(scratch, `case-${dirCount++}`);
  mkdirSync(d);
  return d;
};

function expectError(fn: () => unknown, code: string, mentions: RegExp): RnnkitError {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, 'expected an error').toBeInstanceOf(RnnkitError);
  expect((err as RnnkitError).code).toBe(code);
  expect((err as RnnkitError).message).toMatch(mentions);
  return err as RnnkitError;
}

async function expectRejection(p: Promise<unknown>, code: string, mentions: RegExp): Promise<RnnkitError> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(err, 'expected a rejection').toBeInstanceOf(RnnkitError);
  expect((err as RnnkitError).code).toBe(code);
  expect((err as RnnkitError).message).toMatch(mentions);
  return err as RnnkitError;
}

const bitsOf = (data: Float32Array): Uint32Array => new Uint32Array(data.buffer, data.byteOffset, data.length);
const fromBits = (bits: number[]): Float32Array => new Float32Array(new Uint32Array(bits).buffer);

function expectBitExact(actual: Tensor | undefined, expected: Tensor): void {
  expect(actual).toBeDefined();
  expect(actual!.shape).toEqual(expected.shape);
  expect(bitsOf(actual!.data)).toEqual(bitsOf(expected.data));
}

/** A file from a raw header text (padded to 8 with spaces unless told not to) and a data section. */
function rawFile(header: string, data: Uint8Array | number = 0, pad = true): Uint8Array {
  let json = new TextEncoder().encode(header);
  if (pad && json.length % 8 !== 0) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** Only the 8-byte length field (and optionally some bytes after it). */
function lengthOnly(n: bigint, rest = 0): Uint8Array {
  const out = new Uint8Array(8 + rest);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) =>
  ({ dtype, shape, data_offsets: [begin, end] });

/** A file whose header is the given object, with the data section bytes given (zeros by default). */
const fileOf = (header: unknown, data: Uint8Array | number = 0) => rawFile(JSON.stringify(header), data);

/** Little-endian uint16 values as bytes. */
function u16le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint16(2 * i, v, true));
  return out;
}

describe('round trip', () => {
  it('encodes and decodes special float32 values bit for bit', () => {
    const specials = fromBits([
      0x00000000, 0x80000000, // +0, -0
      0x00000001, 0x807fffff, 0x00400000, // smallest and largest denormals
      0x00800000, 0x7f7fffff, 0xff7fffff, // smallest normal, +-largest finite
      0x7f800000, 0xff800000, 0x7fc00000, // +-Inf, NaN
      0x3eaaaaab, 0xbf800000, // 1/3, -1
    ]);
    const t = tensor(specials, [specials.length]);
    const { tensors } = decodeSafetensors(encodeSafetensors({ specials: t }));
    expectBitExact(tensors.specials, t);
  });

  it('keeps every shape: scalar, zero-element, odd and large', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const make = (shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return tensor(Float32Array.from({ length: n }, rand), shape);
    };
    const input: Record<string, Tensor> = {
      scalar: tensor([42.5], []),
      empty: make([0]),
      emptyMiddle: make([3, 0, 2]),
      one: make([1]),
      odd: make([3, 5, 7]),
      rank5: make([2, 1, 3, 1, 2]),
      large: make([257, 1031]),
      'weight_ih_l0_reverse': make([12, 5]),
      'unicode naïve ✓': make([2]),
    };
    const bytes = encodeSafetensors(input);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(Object.keys(tensors)).toEqual(Object.keys(input));
    for (const [name, t] of Object.entries(input)) expectBitExact(tensors[name], t);
    expect(metadata).toEqual({});
    expect(bytes.length).toBe(8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)) + (257 * 1031 + 1 + 3 * 5 * 7 + 1 + 12 + 60 + 2) * 4);
  });

  it('keeps metadata, including unicode and empty strings', () => {
    const metadata = { format: 'pt', kind: 'lstm', config: '{"hiddenSize":8}', note: 'gewählt ✓ 🙂', empty: '' };
    const decoded = decodeSafetensors(encodeSafetensors({ w: tensor([1], [1]) }, metadata));
    expect(decoded.metadata).toEqual(metadata);
    expect(Object.keys(decoded.metadata)).toEqual(Object.keys(metadata));
  });

  it('returns fresh, aligned Float32Arrays, never views into the input bytes', () => {
    const bytes = encodeSafetensors({ a: tensor([1, 2, 3], [3]) });
    // The same file at an odd offset of a larger buffer: the data is not 4-aligned there.
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    const unaligned = host.subarray(3);
    const { tensors } = decodeSafetensors(unaligned);
    expect(tensors.a!.data.buffer).not.toBe(host.buffer);
    expect(tensors.a!.data.byteOffset).toBe(0);
    expect(Array.from(tensors.a!.data)).toEqual([1, 2, 3]);
    host.fill(0);
    expect(Array.from(tensors.a!.data)).toEqual([1, 2, 3]);
  });

  it('stores a tensor named "__proto__" as a name, without touching the prototype', () => {
    const header = `{"__proto__":${JSON.stringify(entry('F32', [1], 0, 4))}}`;
    const { tensors } = decodeSafetensors(rawFile(header, new Uint8Array(new Float32Array([7]).buffer)));
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(tensors, '__proto__')!.value.data[0]).toBe(7);
  });
});

describe('encoded layout is the safetensors format', () => {
  it('matches a hand-computed byte layout for a tiny file', () => {
    // {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes, padded with 2 spaces to 56 (0x38).
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(json.length).toBe(54);
    const expected = new Uint8Array([
      0x38, 0, 0, 0, 0, 0, 0, 0, // header length 56, u64 little-endian
      ...Array.from(json, (c) => c.charCodeAt(0)), 0x20, 0x20, // header JSON + padding spaces
      0x00, 0x00, 0x80, 0x3f, // 1.0f little-endian
      0x00, 0x00, 0x00, 0xc0, // -2.0f little-endian
    ]);
    expect(encodeSafetensors({ a: tensor([1, -2], [2]) })).toEqual(expected);
  });

  it('puts metadata first in the header, as strings', () => {
    const bytes = encodeSafetensors({ b: tensor([0.5], []) }, { epoch: '3' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe('{"__metadata__":{"epoch":"3"},"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}');
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0x00, 0x00, 0x00, 0x3f]);
  });

  it('pads the header with spaces so the data section starts at a multiple of 8', () => {
    for (let len = 1; len <= 17; len++) {
      const bytes = encodeSafetensors({ ['x'.repeat(len)]: tensor([1, 2, 3], [3]) });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect((8 + n) % 8).toBe(0);
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      expect(text).toMatch(/^\{.*\} {0,7}$/);
      expect(JSON.parse(text)).toEqual({ ['x'.repeat(len)]: entry('F32', [3], 0, 12) });
    }
  });

  it('lays tensors out contiguously, in the given order', () => {
    const bytes = encodeSafetensors({ z: tensor([1, 2], [2]), a: tensor([3], [1, 1]), m: tensor([], [0, 5]), k: tensor([4, 5, 6], [3]) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({ z: entry('F32', [2], 0, 8), a: entry('F32', [1, 1], 8, 12), m: entry('F32', [0, 5], 12, 12), k: entry('F32', [3], 12, 24) });
    expect(Object.keys(header)).toEqual(['z', 'a', 'm', 'k']);
  });
});

describe('encodeSafetensors rejects bad arguments', () => {
  it('rejects data whose length differs from its shape (E_SHAPE)', () => {
    const bad = { data: new Float32Array(5), shape: [2, 3] } as Tensor;
    expectError(() => encodeSafetensors({ w: bad }), 'E_SHAPE', /w.*expected 6 elements for shape \[2, 3\], found 5/);
  });
  it('rejects a shape of negative or fractional sizes (E_SHAPE)', () => {
    expectError(() => encodeSafetensors({ w: { data: new Float32Array(0), shape: [-1] } }), 'E_SHAPE', /non-negative integers/);
    expectError(() => encodeSafetensors({ w: { data: new Float32Array(0), shape: [1.5] } }), 'E_SHAPE', /non-negative integers/);
  });
  it('rejects data that is not a Float32Array (E_DTYPE)', () => {
    expectError(() => encodeSafetensors({ w: { data: new Float64Array(2) as unknown as Float32Array, shape: [2] } }), 'E_DTYPE', /Float32Array/);
  });
  it('rejects metadata values that are not strings (E_ARGUMENT)', () => {
    expectError(() => encodeSafetensors({}, { epoch: 3 as unknown as string }), 'E_ARGUMENT', /metadata\["epoch"\]: expected a string, found a number/);
  });
  it('rejects a Map instead of an object of tensors (E_ARGUMENT)', () => {
    expectError(() => encodeSafetensors(new Map([['w', tensor([1], [1])]]) as unknown as Record<string, Tensor>), 'E_ARGUMENT', /found a Map/);
  });
  it('rejects the reserved name "__metadata__" for a tensor (E_ARGUMENT)', () => {
    expectError(() => encodeSafetensors({ __metadata__: tensor([1], [1]) }), 'E_ARGUMENT', /reserved/);
  });
});

describe('decodeSafetensors rejects corrupt and hostile files with E_MODEL_FILE', () => {
  const valid = encodeSafetensors({ a: tensor([1, 2, 3], [3]), b: tensor([4, 5], [2]) }, { k: 'v' });
  const validHeaderLen = Number(new DataView(valid.buffer).getBigUint64(0, true));
  const bad = (bytes: Uint8Array, mentions: RegExp, options?: { maxHeaderBytes?: number }) =>
    expectError(() => decodeSafetensors(bytes, options), 'E_MODEL_FILE', mentions);

  it('an empty file', () => bad(new Uint8Array(0), /file is 0 bytes; expected at least 8/));
  it('a 7-byte file', () => bad(new Uint8Array(7), /file is 7 bytes; expected at least 8/));
  it('a header length of 0', () => bad(lengthOnly(0n, 8), /header length is 0/));
  it('a truncated header', () => bad(valid.subarray(0, 8 + validHeaderLen - 5), /header length \d+ bytes is larger than the \d+ bytes after the length field/));
  it('truncated data', () => bad(valid.subarray(0, valid.length - 4), /tensor "b" data_offsets \[12, 20\] are out of range; expected 0 <= begin <= end <= 16/));
  it('a header length larger than the file', () => bad(lengthOnly(1000n, 100), /header length 1000 bytes is larger than the 100 bytes/));

  // Work proportional to these lengths could not finish within the test's timeout, and a buffer of them could
  // not be allocated (a RangeError, not E_MODEL_FILE); what is checked here is that no smaller one is either.
  it('a header length of 2^62, without allocating it', () => {
    const cases: [Uint8Array, RegExp, { maxHeaderBytes: number }?][] = [
      [lengthOnly(2n ** 62n, 16), /header length 4611686018427387904 bytes exceeds maxHeaderBytes/],
      [lengthOnly(2n ** 64n - 1n, 16), /header length 18446744073709551615 bytes exceeds maxHeaderBytes/],
      [lengthOnly(2n ** 52n, 16), /header length 4503599627370496 bytes is larger than the 16 bytes/, { maxHeaderBytes: Number.MAX_SAFE_INTEGER }],
    ];
    for (const [bytes, mentions, options] of cases) {
      // Measured around each call: a garbage collection between calls could free what an earlier one allocated.
      const before = process.memoryUsage().arrayBuffers;
      bad(bytes, mentions, options);
      expect(process.memoryUsage().arrayBuffers - before, `bytes of ArrayBuffers allocated (${mentions.source})`).toBeLessThan(1 << 20);
    }
  });

  it('a header over the maxHeaderBytes option', () => bad(valid, /exceeds maxHeaderBytes \(16\)/, { maxHeaderBytes: 16 }));
  it('a header that is not UTF-8', () => {
    const bytes = rawFile('{"a?":1}');
    bytes[11] = 0xff; // the '?'
    bad(bytes, /not valid UTF-8/);
  });
  it('a header that is not JSON', () => bad(rawFile('{"a": {"dtype": "F32",'), /not valid JSON/));
  it('a header with a byte-order mark', () => bad(rawFile('\ufeff{}'), /not valid JSON/));
  it('a header that is a JSON array', () => bad(rawFile('[1, 2]'), /header is an array; expected a JSON object/));
  it('a header that is JSON null', () => bad(rawFile('null'), /header is null; expected a JSON object/));
  it('a tensor entry that is not an object', () => bad(fileOf({ a: 3 }), /tensor "a" is a number; expected an object/));
  it('a missing data_offsets', () => bad(fileOf({ a: { dtype: 'F32', shape: [1] } }, 4), /tensor "a" is missing data_offsets/));
  it('a missing dtype', () => bad(fileOf({ a: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor "a" is missing dtype/));
  it('an extra field in an entry', () => bad(fileOf({ a: { ...entry('F32', [1], 0, 4), extra: 1 } }, 4), /unexpected field "extra"/));
  it('an unknown dtype string', () => bad(fileOf({ a: entry('F33', [1], 0, 4) }, 4), /unknown dtype "F33" for tensor "a"/));
  it('a dtype that is not a string', () => bad(fileOf({ a: entry(4 as unknown as string, [1], 0, 4) }, 4), /dtype is a number; expected a string/));
  it('a valid but unsupported dtype', () => {
    bad(fileOf({ ids: entry('I32', [1], 0, 4) }, 4), /unsupported dtype I32 for tensor "ids"/);
    bad(fileOf({ mask: entry('BOOL', [4], 0, 4) }, 4), /unsupported dtype BOOL for tensor "mask"/);
    bad(fileOf({ q: entry('I8', [4], 0, 4) }, 4), /unsupported dtype I8 for tensor "q"/);
  });
  it('a shape that is not an array of non-negative integers', () => {
    bad(fileOf({ a: entry('F32', [-1], 0, 0) }), /shape is \[-1\]; expected an array of non-negative integers/);
    bad(fileOf({ a: entry('F32', [1.5], 0, 6) }, 6), /shape is \[1.5\]/);
    bad(fileOf({ a: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, 8), /shape is "2"/);
    bad(fileOf({ a: entry('F32', [2 ** 53], 0, 0) }), /shape is \[9007199254740992\]/);
  });
  it('data_offsets that are not two non-negative integers', () => {
    bad(fileOf({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, 8), /data_offsets is \[0,4,8\]; expected \[begin, end\]/);
    bad(fileOf({ a: entry('F32', [1], -4, 0) }, 4), /data_offsets is \[-4,0\]/);
    bad(fileOf({ a: { dtype: 'F32', shape: [1], data_offsets: '0-4' } }, 4), /data_offsets is "0-4"/);
  });
  it('data_offsets out of range', () => {
    bad(fileOf({ a: entry('F32', [2], 0, 8) }, 4), /data_offsets \[0, 8\] are out of range; expected 0 <= begin <= end <= 4/);
    bad(fileOf({ a: entry('F32', [0], 8, 4) }, 8), /data_offsets \[8, 4\] are out of range/);
  });
  it('data_offsets that disagree with the shape', () => {
    bad(fileOf({ a: entry('F32', [3], 0, 8) }, 8), /tensor "a" has 8 bytes of data; expected 12 for F32 of shape \[3\]/);
    bad(fileOf({ a: entry('F16', [3], 0, 12) }, 12), /has 12 bytes of data; expected 6 for F16/);
    // A product that overflows float64 integers must not wrap around into a match.
    bad(fileOf({ a: entry('F32', [2 ** 40, 2 ** 40], 0, 0) }), /has 0 bytes of data; expected 4835703278458516698824704/);
  });
  it('overlapping tensors', () => {
    bad(fileOf({ a: entry('F32', [2], 0, 8), b: entry('F32', [1], 4, 8) }, 8), /tensor "b" \[4, 8\] overlaps tensor "a" \[0, 8\]/);
    bad(fileOf({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 0, 8) }, 8), /overlaps/);
    bad(fileOf({ a: entry('F32', [2], 0, 8), z: entry('F32', [0], 4, 4) }, 8), /tensor "z" \[4, 4\] overlaps/);
  });
  it('a gap between tensors', () => bad(fileOf({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }, 12), /gap in the data section: bytes \[4, 8\) belong to no tensor/));
  it('a gap before the first tensor', () => bad(fileOf({ a: entry('F32', [1], 4, 8) }, 8), /bytes \[0, 4\) belong to no tensor/));
  it('trailing bytes after the last tensor', () => bad(fileOf({ a: entry('F32', [1], 0, 4) }, 12), /bytes \[4, 12\) after the last tensor/));
  it('metadata with a number value', () => bad(fileOf({ __metadata__: { epoch: 3 } }), /metadata value for "epoch" is a number; expected a string/));
  it('metadata that is not an object', () => bad(fileOf({ __metadata__: ['a'] }), /"__metadata__" is an array; expected an object of strings/));
  it('a duplicate key', () => {
    const e = JSON.stringify(entry('F32', [1], 0, 4));
    bad(rawFile(`{"a":${e},"a":${e}}`, 4), /the key "a" more than once/);
    bad(rawFile(`{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, 4), /the key "dtype" more than once/);
    bad(rawFile(`{"__metadata__":{"k":"1","\\u006b":"2"}}`), /the key "k" more than once/);
  });
  it('a non-Uint8Array argument is an argument error, not a file error', () => {
    expectError(() => decodeSafetensors([1, 2, 3] as unknown as Uint8Array), 'E_ARGUMENT', /expected a Uint8Array/);
    expectError(() => decodeSafetensors(valid, { maxHeaderBytes: -1 }), 'E_ARGUMENT', /maxHeaderBytes/);
  });
  it('accepts an empty file body: no tensors, no metadata', () => {
    expect(decodeSafetensors(rawFile('{}'))).toEqual({ tensors: {}, metadata: {} });
    expect(decodeSafetensors(rawFile('{}', 0, false))).toEqual({ tensors: {}, metadata: {} }); // unpadded is fine
  });
});

describe('decoding F16, BF16 and F64', () => {
  it('widens F16 exactly: normals, subnormals, +-0, +-Inf, NaN', () => {
    const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x3555, 0x7e00];
    const expected = [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, 0.333251953125, NaN];
    const { tensors } = decodeSafetensors(fileOf({ h: entry('F16', [halves.length], 0, 2 * halves.length) }, u16le(halves)));
    expect(Array.from(tensors.h!.data)).toEqual(expected); // toEqual tells -0 from 0 and matches NaN
    expect(bitsOf(tensors.h!.data)[10]).toBe(0x7fc00000);
  });

  it('converts every one of the 65536 half-precision values to its exact value', () => {
    for (let h = 0; h < 0x10000; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      const value = exp === 0x1f ? (mant ? NaN : sign * Infinity)
        : exp === 0 ? sign * mant * 2 ** -24
        : sign * (1 + mant / 1024) * 2 ** (exp - 15);
      const got = new Float32Array(new Uint32Array([halfToFloatBits(h)]).buffer)[0]!;
      if (!Object.is(got, value)) expect(`half 0x${h.toString(16)} -> ${got}`).toBe(`half 0x${h.toString(16)} -> ${value}`);
    }
  });

  it('widens BF16 exactly (it is the top half of a float32)', () => {
    const b = [0x3f80, 0xc049, 0x0001, 0x7f80, 0xff80, 0x8000, 0x7f7f, 0x7fc1];
    const { tensors } = decodeSafetensors(fileOf({ b: entry('BF16', [2, 4], 0, 16) }, u16le(b)));
    expect(tensors.b!.shape).toEqual([2, 4]);
    expect(Array.from(bitsOf(tensors.b!.data))).toEqual(b.map((x) => (x << 16) >>> 0));
    expect(Array.from(tensors.b!.data).slice(0, 6)).toEqual([1, -3.140625, 2 ** -133, Infinity, -Infinity, -0]);
  });

  it('rounds F64 to the nearest float32 (ties to even), also at an unaligned offset', () => {
    const values = [1 / 3, 1 + 2 ** -24, 1 + 3 * 2 ** -24, 1e300, 1e-50, -0, -Math.PI];
    // A 1-element F16 first puts the F64 data at offset 2 of the data section.
    const data = new Uint8Array(2 + 8 * values.length);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3c00, true);
    values.forEach((v, i) => view.setFloat64(2 + 8 * i, v, true));
    const header = { pad: entry('F16', [1], 0, 2), d: entry('F64', [values.length], 2, data.length) };
    const { tensors } = decodeSafetensors(fileOf(header, data));
    expect(Array.from(tensors.pad!.data)).toEqual([1]);
    expect(Array.from(tensors.d!.data)).toEqual([Math.fround(1 / 3), 1, 1 + 2 ** -22, Infinity, 0, -0, Math.fround(-Math.PI)]);
  });

  it('reads a mixed-dtype file written from PyTorch by tools/check-safetensors.py', () => {
    const bytes = readFileSync(join(FIXTURES, 'torch-mixed.safetensors'));
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'torch-mixed.expected.json'), 'utf8')) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; f32_bits: number[] }>;
    };
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual(expected.metadata);
    expect(Object.keys(tensors)).toEqual(Object.keys(expected.tensors));
    for (const [name, e] of Object.entries(expected.tensors)) {
      expect(tensors[name]!.shape, name).toEqual(e.shape);
      expect(Array.from(bitsOf(tensors[name]!.data)), name).toEqual(e.f32_bits);
    }
    expect(new Set(Object.values(expected.tensors).map((e) => e.dtype))).toEqual(new Set(['F32', 'F16', 'F64', 'BF16']));
  });

  const hasTorch = existsSync('/usr/bin/python3')
    && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { timeout: 60_000 }).status === 0;
  it.skipIf(!hasTorch)('writes files that PyTorch reads back bit for bit (tools/check-safetensors.py --expect)', () => {
    const dir = freshDir();
    const input = {
      'rnn.weight_ih_l0': tensor(fromBits([0x3f800000, 0x80000000, 0x00000001, 0x7f7fffff, 0xff800000, 0x3eaaaaab]), [2, 3]),
      'rnn.bias_ih_l0': tensor([0.25, -0.5], [2]),
      scalar: tensor([3], []),
      empty: tensor([], [0, 3]),
    };
    const metadata = { format: 'pt', source: 'rnnkit test' };
    writeFileSync(join(dir, 'm.safetensors'), encodeSafetensors(input, metadata));
    const tensors = Object.fromEntries(Object.entries(input).map(([k, t]) =>
      [k, { dtype: 'F32', shape: t.shape, f32_bits: Array.from(bitsOf(t.data)) }]));
    writeFileSync(join(dir, 'm.json'), JSON.stringify({ metadata, tensors }));
    const run = spawnSync('/usr/bin/python3', ['tools/check-safetensors.py', join(dir, 'm.safetensors'), '--expect', join(dir, 'm.json')],
      { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    expect(run.stdout + run.stderr).toMatch(/OK\s*$/);
    expect(run.status).toBe(0);
  });
});

describe('writeFileAtomic and writeFileAtomicSync', () => {
  const variants = [
    ['writeFileAtomic', (p: string, b: Uint8Array) => writeFileAtomic(p, b)],
    ['writeFileAtomicSync', async (p: string, b: Uint8Array) => writeFileAtomicSync(p, b)],
  ] as const;

  for (const [label, write] of variants) {
    describe(label, () => {
      it('creates a new file with the bytes', async () => {
        const dir = freshDir();
        await write(join(dir, 'model.safetensors'), new Uint8Array([1, 2, 3]));
        expect(Array.from(readFileSync(join(dir, 'model.safetensors')))).toEqual([1, 2, 3]);
        expect(readdirSync(dir)).toEqual(['model.safetensors']);
      });

      it('replaces an existing file and keeps its permissions', async () => {
        const dir = freshDir();
        const target = join(dir, 'model.safetensors');
        writeFileSync(target, 'old contents that are longer than the new ones');
        chmodSync(target, 0o640);
        await write(target, new Uint8Array([9, 8, 7]));
        expect(Array.from(readFileSync(target))).toEqual([9, 8, 7]);
        expect(statSync(target).mode & 0o777).toBe(0o640);
        expect(readdirSync(dir)).toEqual(['model.safetensors']);
      });

      it('fails with E_IO when the directory does not exist', async () => {
        const dir = freshDir();
        writeFileSync(join(dir, 'keep'), 'keep');
        const target = join(dir, 'missing', 'model.safetensors');
        await expectRejection(write(target, new Uint8Array(4)), 'E_IO', /cannot write .*missing\/model\.safetensors: .*no such file or directory \(ENOENT\)/);
        expect(readdirSync(dir)).toEqual(['keep']);
        expect(readFileSync(join(dir, 'keep'), 'utf8')).toBe('keep');
      });

      it('fails with E_IO when a parent of the path is a file', async () => {
        const dir = freshDir();
        writeFileSync(join(dir, 'file'), 'previous');
        await expectRejection(write(join(dir, 'file', 'model.safetensors'), new Uint8Array(4)), 'E_IO', /not a directory \(ENOTDIR\)/);
        expect(readdirSync(dir)).toEqual(['file']);
        expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('previous');
      });

      it('fails with E_IO when the target is a directory, leaving it and no temporary file', async () => {
        const dir = freshDir();
        mkdirSync(join(dir, 'model.safetensors'));
        writeFileSync(join(dir, 'model.safetensors', 'inside'), 'x');
        await expectRejection(write(join(dir, 'model.safetensors'), new Uint8Array(4)), 'E_IO', /renaming the temporary file over the target failed/);
        expect(readdirSync(dir)).toEqual(['model.safetensors']);
        expect(readdirSync(join(dir, 'model.safetensors'))).toEqual(['inside']);
      });

      it('leaves the previous file byte-identical and no temporary file when the write fails midway', async () => {
        const dir = freshDir();
        const target = join(dir, 'model.safetensors');
        const previous = encodeSafetensors({ w: tensor([1, 2, 3], [3]) });
        writeFileSync(target, previous);
        inject.failFsync = true;
        const err = await expectRejection(write(target, new Uint8Array(1000).fill(7)), 'E_IO',
          /cannot write .*model\.safetensors: syncing the temporary file failed: input\/output error \(EIO\)/);
        expect((err.cause as { code?: string }).code).toBe('EIO');
        inject.failFsync = false;
        expect(new Uint8Array(readFileSync(target))).toEqual(previous);
        expect(readdirSync(dir)).toEqual(['model.safetensors']);
      });

      it('rejects a path that is not a string or bytes that are not a Uint8Array (E_ARGUMENT)', async () => {
        await expectRejection(write('' as string, new Uint8Array(1)), 'E_ARGUMENT', /path/);
        await expectRejection(write(join(freshDir(), 'x'), 'text' as unknown as Uint8Array), 'E_ARGUMENT', /bytes: expected a Uint8Array/);
      });
    });
  }
});

describe('readFileLimited and readFileLimitedSync', () => {
  const variants = [
    ['readFileLimited', (p: string, max: number) => readFileLimited(p, max)],
    ['readFileLimitedSync', async (p: string, max: number) => readFileLimitedSync(p, max)],
  ] as const;

  for (const [label, read] of variants) {
    describe(label, () => {
      it('reads a file into a fresh Uint8Array', async () => {
        const dir = freshDir();
        writeFileSync(join(dir, 'f'), new Uint8Array([5, 6, 7]));
        const bytes = await read(join(dir, 'f'), 3);
        expect(bytes).toBeInstanceOf(Uint8Array);
        expect(bytes.byteOffset).toBe(0);
        expect(bytes.buffer.byteLength).toBe(3);
        expect(Array.from(bytes)).toEqual([5, 6, 7]);
        expect(Array.from(await read(join(dir, 'f'), 1000))).toEqual([5, 6, 7]);
      });
      it('reads an empty file', async () => {
        const dir = freshDir();
        writeFileSync(join(dir, 'f'), '');
        expect((await read(join(dir, 'f'), 0)).length).toBe(0);
      });
      it('refuses a file larger than maxBytes (E_MODEL_FILE)', async () => {
        const dir = freshDir();
        writeFileSync(join(dir, 'big'), new Uint8Array(1001));
        await expectRejection(read(join(dir, 'big'), 1000), 'E_MODEL_FILE', /big: file is 1001 bytes; expected at most 1000/);
      });
      it('refuses a directory (E_MODEL_FILE)', async () => {
        await expectRejection(read(freshDir(), 1000), 'E_MODEL_FILE', /expected a regular file, found a directory/);
      });
      it('says "no such file" for a missing path (E_IO)', async () => {
        await expectRejection(read(join(freshDir(), 'absent.safetensors'), 1000), 'E_IO', /cannot read .*absent\.safetensors: no such file/);
      });
      it('rejects a negative or fractional maxBytes (E_ARGUMENT)', async () => {
        await expectRejection(read('x', -1), 'E_ARGUMENT', /maxBytes/);
        await expectRejection(read('x', 1.5), 'E_ARGUMENT', /maxBytes/);
      });
    });
  }

  it('saves and loads a model file end to end', async () => {
    const path = join(freshDir(), 'lstm.safetensors');
    const input = { weight_ih_l0: tensor(Float32Array.from({ length: 32 }, (_, i) => i / 7), [8, 4]) };
    await writeFileAtomic(path, encodeSafetensors(input, { kind: 'lstm' }));
    const { tensors, metadata } = decodeSafetensors(await readFileLimited(path, 1 << 20));
    expectBitExact(tensors.weight_ih_l0, input.weight_ih_l0);
    expect(metadata).toEqual({ kind: 'lstm' });
  });
});
