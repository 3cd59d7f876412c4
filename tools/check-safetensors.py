#!/usr/bin/env -S /usr/bin/python3
"""Read (and write) safetensors files with only the standard library and torch.

Run with Debian's interpreter (python3-torch is only visible to it). There is no
`safetensors` Python package here: this script follows the format itself, which
is what shows that files written by rnnkit are readable from PyTorch.

    /usr/bin/python3 tools/check-safetensors.py FILE                  # list names, dtypes, shapes, metadata
    /usr/bin/python3 tools/check-safetensors.py FILE --compare sd.pt  # and compare with a saved state dict
    /usr/bin/python3 tools/check-safetensors.py FILE --expect x.json  # and compare float32 bits with a JSON
    /usr/bin/python3 tools/check-safetensors.py --write-fixture OUT.safetensors [--expected-json OUT.json]

The format: an unsigned little-endian 64-bit header length N, N bytes of UTF-8
JSON mapping names to {"dtype", "shape", "data_offsets": [begin, end)} (offsets
relative to the data section right after the header) plus an optional
"__metadata__" object of strings, then the little-endian row-major data.

Expected-values JSON (written by --write-fixture, read by --expect and by
test/safetensors.test.ts): {"metadata": {...}, "tensors": {name: {"dtype",
"shape", "f32_bits": [uint32, ...]}}}, where f32_bits are the IEEE float32 bit
patterns of the values converted to float32 (F64 rounded to nearest, F16/BF16
widened exactly). Bits, not decimals, so -0, NaN and Inf compare exactly.

Exit status: 0 when the file is valid (and matches), 1 otherwise.
"""
import argparse
import json
import math
import struct
import sys

import torch

DTYPES = {
    'F64': (torch.float64, 8), 'F32': (torch.float32, 4), 'F16': (torch.float16, 2),
    'BF16': (torch.bfloat16, 2), 'I64': (torch.int64, 8), 'I32': (torch.int32, 4),
    'I16': (torch.int16, 2), 'I8': (torch.int8, 1), 'U8': (torch.uint8, 1), 'BOOL': (torch.bool, 1),
}
NAMES = {dt: name for name, (dt, _) in DTYPES.items()}


class FormatError(Exception):
    pass


def read_safetensors(path):
    """(tensors: dict name -> torch.Tensor in file order, metadata: dict) with the format's checks."""
    with open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError(f'file is {len(raw)} bytes; expected at least 8')
    (n,) = struct.unpack('<Q', raw[:8])
    if n == 0 or n > len(raw) - 8:
        raise FormatError(f'header length {n} does not fit the {len(raw) - 8} bytes after the length field')
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    if not isinstance(header, dict):
        raise FormatError('header is not a JSON object')
    data = raw[8 + n:]
    metadata = header.pop('__metadata__', {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError('__metadata__ must be an object of strings')
    tensors, spans = {}, []
    for name, info in header.items():
        if set(info) != {'dtype', 'shape', 'data_offsets'}:
            raise FormatError(f'tensor {name!r} has fields {sorted(info)}')
        if info['dtype'] not in DTYPES:
            raise FormatError(f'tensor {name!r}: unsupported dtype {info["dtype"]}')
        dtype, size = DTYPES[info['dtype']]
        shape = info['shape']
        begin, end = info['data_offsets']
        if not 0 <= begin <= end <= len(data) or end - begin != math.prod(shape) * size:
            raise FormatError(f'tensor {name!r}: data_offsets {[begin, end]} do not fit shape {shape} of {info["dtype"]}')
        spans.append((begin, end, name))
        chunk = bytearray(data[begin:end])  # a copy: writable and aligned for torch
        if end == begin:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(chunk, dtype=dtype).reshape(shape)
        tensors[name] = t
    cursor = 0
    for begin, end, name in sorted(spans):
        if begin != cursor:
            raise FormatError(f'tensor {name!r} starts at {begin}; expected {cursor} (gap or overlap)')
        cursor = end
    if cursor != len(data):
        raise FormatError(f'{len(data) - cursor} trailing bytes after the last tensor')
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors (dict name -> torch.Tensor, in order) per the format, header padded with spaces to 8."""
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header['__metadata__'] = dict(metadata)
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        # Raw bytes via a uint8 view (works for bfloat16, which numpy cannot hold).
        b = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(',', ':')).encode('utf-8')
    js += b' ' * (-len(js) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)) + js + b''.join(chunks))


def f32_bits(t):
    """IEEE float32 bit patterns of t converted to float32, row-major, as unsigned ints."""
    return [v & 0xffffffff for v in t.to(torch.float32).reshape(-1).view(torch.int32).tolist()]


def fixture_tensors():
    """A few tensors of each float dtype covering -0, subnormals, Inf, NaN, rounding and an odd-length F16
    tensor before an F64 one, so the F64 data is not 8-byte aligned within the file."""
    inf, nan = float('inf'), float('nan')
    return {
        'f32_matrix': torch.tensor([[1.0, -0.0, 1 / 3], [2.0 ** -149, 3.4028234663852886e38, -1.5e-40]], dtype=torch.float32),
        'f16_odd': torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -24, -(2.0 ** -14), inf, nan], dtype=torch.float16),
        'f64_col': torch.tensor([[math.pi], [1 + 2.0 ** -24], [1 + 3 * 2.0 ** -24], [1e-50], [-1e300]], dtype=torch.float64),
        'bf16_grid': torch.tensor([[3.14159, -0.0], [1e38, -inf]], dtype=torch.bfloat16),
        'f64_scalar': torch.tensor(math.e, dtype=torch.float64),
        'f32_empty': torch.zeros((0, 4), dtype=torch.float32),
        'lstm.weight_ih_l0': torch.linspace(-1, 1, 12, dtype=torch.float32).reshape(4, 3),
    }


def expected_json(tensors, metadata):
    return {
        'metadata': metadata,
        'tensors': {name: {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'f32_bits': f32_bits(t)}
                    for name, t in tensors.items()},
    }


def describe(tensors, metadata):
    for name, t in tensors.items():
        print(f'{name}\t{NAMES.get(t.dtype, t.dtype)}\t{list(t.shape)}')
    for k, v in metadata.items():
        print(f'metadata {k} = {v!r}')


def compare_pt(tensors, pt_path, atol):
    """Compares with a torch.save'd state dict (or module); float32 comparison within atol."""
    ref = torch.load(pt_path, map_location='cpu')
    if hasattr(ref, 'state_dict'):
        ref = ref.state_dict()
    ok = True
    for name in sorted(set(ref) | set(tensors)):
        if name not in tensors or name not in ref:
            print(f'MISMATCH {name}: only in {"the .pt" if name in ref else "the .safetensors"}')
            ok = False
            continue
        a, b = tensors[name].to(torch.float32), ref[name].detach().to(torch.float32)
        if a.shape != b.shape:
            print(f'MISMATCH {name}: shape {list(a.shape)} vs {list(b.shape)}')
            ok = False
        elif not torch.allclose(a, b, atol=atol, rtol=0, equal_nan=True):
            print(f'MISMATCH {name}: max abs difference {(a - b).abs().max().item():.3g} > {atol}')
            ok = False
    return ok


def compare_expected(tensors, metadata, expect_path):
    with open(expect_path) as f:
        exp = json.load(f)
    ok = True
    if exp.get('metadata', {}) != metadata:
        print(f'MISMATCH metadata: {metadata} vs expected {exp.get("metadata")}')
        ok = False
    if list(exp['tensors']) != list(tensors):
        print(f'MISMATCH names: {list(tensors)} vs expected {list(exp["tensors"])}')
        ok = False
    for name, e in exp['tensors'].items():
        t = tensors.get(name)
        if t is None:
            continue
        if list(t.shape) != e['shape'] or NAMES[t.dtype] != e['dtype'] or f32_bits(t) != e['f32_bits']:
            print(f'MISMATCH {name}: {NAMES[t.dtype]} {list(t.shape)} differs from expected {e["dtype"]} {e["shape"]} or its bits')
            ok = False
    return ok


def main():
    if sys.byteorder != 'little':
        sys.exit('check-safetensors.py assumes a little-endian host (the format is little-endian)')
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('file', nargs='?', help='.safetensors file to read')
    p.add_argument('--compare', metavar='PT', help='torch.save state dict to compare with')
    p.add_argument('--atol', type=float, default=0.0, help='absolute tolerance for --compare (default exact)')
    p.add_argument('--expect', metavar='JSON', help='expected-values JSON to compare float32 bits with')
    p.add_argument('--write-fixture', metavar='OUT', help='write the mixed-dtype fixture to OUT')
    p.add_argument('--expected-json', metavar='OUT', help='with --write-fixture: also write its expected values')
    args = p.parse_args()

    if args.write_fixture:
        tensors = fixture_tensors()
        metadata = {'format': 'pt', 'writer': 'tools/check-safetensors.py', 'torch': torch.__version__}
        write_safetensors(args.write_fixture, tensors, metadata)
        back, meta = read_safetensors(args.write_fixture)
        assert meta == metadata and list(back) == list(tensors)
        for name, t in tensors.items():
            assert back[name].dtype == t.dtype and f32_bits(back[name]) == f32_bits(t), name
        if args.expected_json:
            with open(args.expected_json, 'w') as f:
                json.dump(expected_json(tensors, metadata), f, indent=1)
                f.write('\n')
        print(f'wrote {args.write_fixture}' + (f' and {args.expected_json}' if args.expected_json else ''))
        if not args.file:
            return 0

    if not args.file:
        p.error('a file to read, or --write-fixture, is required')
    try:
        tensors, metadata = read_safetensors(args.file)
    except (FormatError, ValueError, KeyError, TypeError) as e:
        print(f'INVALID {args.file}: {e}')
        return 1
    describe(tensors, metadata)
    ok = True
    if args.compare:
        ok = compare_pt(tensors, args.compare, args.atol) and ok
    if args.expect:
        ok = compare_expected(tensors, metadata, args.expect) and ok
    print('OK' if ok else 'FAILED')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
