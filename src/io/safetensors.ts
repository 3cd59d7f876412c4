// The safetensors format (Hugging Face), written in float32 and read from F32, F64, F16 and BF16.
//
// Layout: [u64 little-endian header length N][N bytes of UTF-8 JSON][data section]. The JSON maps each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end)} with offsets relative to the start of the
// data section, plus an optional "__metadata__" object of string values. Data is little-endian and
// row-major; tensors cover the data section contiguously, without gaps or overlaps.
//
// The reader treats the file as hostile: every length is checked against the bytes actually present before
// anything is allocated, every field is validated, and the returned tensors own fresh, aligned Float32Arrays
// (never views into the input, whose offsets need not be 4-aligned).
import { RnnkitError } from '../errors.js';
import { numel, shapeStr, tensor, type Tensor } from '../tensor.js';

export interface DecodeSafetensorsOptions {
  /** The largest JSON header accepted, in bytes; default 100 MB (100_000_000). */
  maxHeaderBytes?: number;
}

export interface DecodedSafetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';
const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

/** Element sizes in bytes of the dtypes this reader converts to float32. */
const SUPPORTED: Readonly<Record<string, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

/** Dtypes the format defines that this reader does not convert (they are valid, just not ours). */
const KNOWN_UNSUPPORTED = new Set([
  'BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64', 'C64',
  'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4',
]);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const fileError = (message: string) => new RnnkitError('E_MODEL_FILE', `safetensors: ${message}`);

/** A short description of a JSON value's kind for error messages: "a number", "an array", "null", ... */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'nothing' : `a ${t}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Sets `key` as an own enumerable property, so a name like "__proto__" is stored, not a prototype change. */
function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------- encode

/**
 * Serialises float32 tensors as safetensors bytes: names in the object's key order (JavaScript lists
 * integer-like keys such as "0" first), dtype F32, the header padded with spaces so the data section starts
 * at a multiple of 8 bytes, data little-endian. Values are written bit for bit (NaN, -0 and denormals included).
 */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  if (!isPlainObject(tensors) || tensors instanceof Map) {
    const found = tensors instanceof Map ? 'a Map (use Object.fromEntries)' : kindOf(tensors);
    throw new RnnkitError('E_ARGUMENT', `encodeSafetensors tensors: expected an object of tensors by name, found ${found}`);
  }
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) {
      throw new RnnkitError('E_ARGUMENT', `encodeSafetensors metadata: expected an object of strings, found ${kindOf(metadata)}`);
    }
    const meta: Record<string, string> = {};
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new RnnkitError('E_ARGUMENT', `encodeSafetensors metadata["${key}"]: expected a string, found ${kindOf(value)}`);
      }
      defineEntry(meta, key, value);
    }
    header[METADATA_KEY] = meta;
  }

  const entries: Array<[string, Float32Array]> = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === METADATA_KEY) {
      throw new RnnkitError('E_ARGUMENT', `encodeSafetensors: "${METADATA_KEY}" is reserved for metadata and cannot name a tensor`);
    }
    if (!isPlainObject(t) || !('data' in t) || !('shape' in t)) {
      throw new RnnkitError('E_ARGUMENT', `encodeSafetensors tensors["${name}"]: expected a tensor, found ${kindOf(t)}`);
    }
    const { data, shape } = t as Tensor;
    if (!(data instanceof Float32Array)) {
      throw new RnnkitError('E_DTYPE', `encodeSafetensors tensors["${name}"]: expected Float32Array data`);
    }
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new RnnkitError('E_SHAPE', `encodeSafetensors tensors["${name}"]: expected a shape of non-negative integers, found ${String(shape)}`);
    }
    if (data.length !== numel(shape)) {
      throw new RnnkitError('E_SHAPE', `encodeSafetensors tensors["${name}"]: expected ${numel(shape)} elements for shape ${shapeStr(shape)}, found ${data.length}`);
    }
    const end = offset + data.byteLength;
    defineEntry(header, name, { dtype: 'F32', shape: [...shape], data_offsets: [offset, end] });
    entries.push([name, data]);
    offset = end;
  }

  // JSON.stringify escapes lone surrogates, so the UTF-8 encoding below is lossless.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);

  let pos = 8 + headerLen;
  for (const [, data] of entries) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    } else {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      for (let i = 0; i < bits.length; i++) view.setUint32(pos + 4 * i, bits[i]!, true);
    }
    pos += data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- decode

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses safetensors bytes into float32 tensors and string metadata. F32 is copied bit for bit; F64 is
 * rounded to the nearest float32; F16 and BF16 are widened exactly. Anything malformed, truncated,
 * inconsistent or hostile throws E_MODEL_FILE with a message naming the problem.
 */
export function decodeSafetensors(bytes: Uint8Array, options?: DecodeSafetensorsOptions): DecodedSafetensors {
  if (!(bytes instanceof Uint8Array)) {
    throw new RnnkitError('E_ARGUMENT', `decodeSafetensors bytes: expected a Uint8Array, found ${kindOf(bytes)}`);
  }
  const maxHeaderBytes = options?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 1) {
    throw new RnnkitError('E_ARGUMENT', `decodeSafetensors maxHeaderBytes: expected a positive integer, found ${String(maxHeaderBytes)}`);
  }

  // Sizes first, in BigInt, so that a hostile length (up to 2^64 - 1) is refused before any allocation.
  // A file that is not safetensors at all (a text or JSON file given by mistake) reads as a length made of
  // characters, 2^53 or more, and its ninth byte is not the '{' every safetensors header starts with: when the
  // length is unusable and that byte is not '{', say "not a safetensors file" rather than only the length.
  const headerStarts = bytes.length > 8 && bytes[8] === 0x7b; /* { */
  const sizeError = (message: string) => fileError(headerStarts ? message : `not a safetensors file (${message})`);
  if (bytes.length < 8) {
    throw sizeError(`file is ${bytes.length} bytes; expected at least 8 (the header length field)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLenBig = view.getBigUint64(0, true);
  if (headerLenBig === 0n) throw sizeError('header length is 0; expected a JSON header of at least 2 bytes');
  if (headerLenBig > BigInt(maxHeaderBytes)) {
    throw sizeError(`header length ${headerLenBig} bytes exceeds maxHeaderBytes (${maxHeaderBytes})`);
  }
  if (headerLenBig > BigInt(bytes.length - 8)) {
    throw sizeError(`header length ${headerLenBig} bytes is larger than the ${bytes.length - 8} bytes after the length field${headerStarts ? ' (truncated file?)' : ''}`);
  }
  const headerLen = Number(headerLenBig);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;

  const header = parseHeader(bytes.subarray(8, dataStart));
  const metadata = readMetadata(header[METADATA_KEY]);
  const entries: Entry[] = [];
  for (const name of Object.keys(header)) {
    if (name !== METADATA_KEY) entries.push(readEntry(name, header[name], dataLen));
  }
  checkCoverage(entries, dataLen);

  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const data = convert(bytes, dataStart + e.begin, numel(e.shape), e.dtype);
    defineEntry(tensors, e.name, tensor(data, e.shape));
  }
  return { tensors, metadata };
}

function parseHeader(raw: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, where JSON.parse then rejects it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw fileError('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw fileError(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isPlainObject(parsed)) throw fileError(`header is ${kindOf(parsed)}; expected a JSON object`);
  const dup = findDuplicateKey(text);
  if (dup !== undefined) throw fileError(`header has the key "${dup}" more than once`);
  return parsed;
}

/**
 * The first key that appears twice in one JSON object of `text` (already known to be valid JSON), found by a
 * single scan: JSON.parse would silently keep the last one.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: Array<Set<string> | null> = []; // one entry per open container: a key set for objects, null for arrays
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      const keys = stack[stack.length - 1];
      if (!keys) continue;
      let j = i + 1;
      while (j < text.length && (text[j] === ' ' || text[j] === '\t' || text[j] === '\n' || text[j] === '\r')) j++;
      if (text.charCodeAt(j) !== 0x3a /* : */) continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (keys.has(key)) return key;
      keys.add(key);
    }
  }
  return undefined;
}

function readMetadata(raw: unknown): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (raw === undefined) return metadata;
  if (!isPlainObject(raw)) throw fileError(`"${METADATA_KEY}" is ${kindOf(raw)}; expected an object of strings`);
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw fileError(`metadata value for "${key}" is ${kindOf(value)}; expected a string`);
    defineEntry(metadata, key, value);
  }
  return metadata;
}

function readEntry(name: string, raw: unknown, dataLen: number): Entry {
  const what = `tensor "${name}"`;
  if (!isPlainObject(raw)) throw fileError(`${what} is ${kindOf(raw)}; expected an object with dtype, shape and data_offsets`);
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(raw, field)) throw fileError(`${what} is missing ${field}`);
  }
  for (const field of Object.keys(raw)) {
    if (field !== 'dtype' && field !== 'shape' && field !== 'data_offsets') {
      throw fileError(`${what} has an unexpected field "${field}"; expected only dtype, shape and data_offsets`);
    }
  }

  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw fileError(`${what} dtype is ${kindOf(dtype)}; expected a string`);
  const itemSize = SUPPORTED[dtype];
  if (itemSize === undefined) {
    if (KNOWN_UNSUPPORTED.has(dtype)) throw fileError(`unsupported dtype ${dtype} for tensor "${name}"; expected F32, F64, F16 or BF16`);
    throw fileError(`unknown dtype ${JSON.stringify(dtype)} for tensor "${name}"; expected F32, F64, F16 or BF16`);
  }

  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
    throw fileError(`${what} shape is ${JSON.stringify(shape)}; expected an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || (o as number) < 0)) {
    throw fileError(`${what} data_offsets is ${JSON.stringify(offsets)}; expected [begin, end] as two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLen) {
    throw fileError(`${what} data_offsets [${begin}, ${end}] are out of range; expected 0 <= begin <= end <= ${dataLen} (the data section length)`);
  }
  // BigInt: a shape like [2^40, 2^40] must not overflow into a false match.
  const bytesNeeded = (shape as number[]).reduce((a, d) => a * BigInt(d), BigInt(itemSize));
  if (bytesNeeded !== BigInt(end - begin)) {
    throw fileError(`${what} has ${end - begin} bytes of data; expected ${bytesNeeded} for ${dtype} of shape ${shapeStr(shape as number[])}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** The format requires tensors to tile the data section exactly: in offset order, each starts where the last ended. */
function checkCoverage(entries: readonly Entry[], dataLen: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) {
      throw fileError(`tensor "${e.name}" [${e.begin}, ${e.end}] overlaps tensor "${previous!.name}" [${previous!.begin}, ${previous!.end}]`);
    }
    if (e.begin > cursor) {
      throw fileError(`gap in the data section: bytes [${cursor}, ${e.begin}) belong to no tensor; expected tensors to be contiguous`);
    }
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataLen) {
    throw fileError(`gap in the data section: bytes [${cursor}, ${dataLen}) after the last tensor belong to no tensor`);
  }
}

/** `n` elements of `dtype` at byte `pos` of `bytes` (any alignment), as a fresh Float32Array. */
function convert(bytes: Uint8Array, pos: number, n: number, dtype: string): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer); // same host byte order as `out`, so writing bits is bit-exact
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(bytes.subarray(pos, pos + 4 * n));
      } else {
        const view = new DataView(bytes.buffer, bytes.byteOffset + pos, 4 * n);
        for (let i = 0; i < n; i++) bits[i] = view.getUint32(4 * i, true);
      }
      break;
    case 'F64': {
      const view = new DataView(bytes.buffer, bytes.byteOffset + pos, 8 * n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true); // rounds to nearest, ties to even
      break;
    }
    case 'F16':
      for (let i = 0; i < n; i++) bits[i] = halfToFloatBits(bytes[pos + 2 * i]! | (bytes[pos + 2 * i + 1]! << 8));
      break;
    case 'BF16':
      // bfloat16 is the top half of a float32.
      for (let i = 0; i < n; i++) bits[i] = ((bytes[pos + 2 * i]! | (bytes[pos + 2 * i + 1]! << 8)) << 16) >>> 0;
      break;
    default:
      throw new Error(`unreachable: dtype ${dtype}`);
  }
  return out;
}

/**
 * IEEE 754 binary16 bits -> binary32 bits, exactly (every half is a float). Layout: sign 1, exponent 5
 * (bias 15), mantissa 10; float32 has exponent 8 (bias 127), mantissa 23, so normals move the exponent by
 * 112 and the mantissa by 13 bits. Subnormal halves (value m * 2^-24) become normal floats.
 */
export function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf, NaN (payload kept)
  if (exp === 0) {
    if (mant === 0) return sign >>> 0; // +-0
    exp = 1;
    while ((mant & 0x400) === 0) { mant <<= 1; exp--; }
    mant &= 0x3ff;
  }
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}
