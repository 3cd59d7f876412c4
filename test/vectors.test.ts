// Every PyTorch vector (tools/make-vectors.py) on every backend.
import { describe } from 'vitest';
import { BACKENDS } from './helpers.js';
import { defineVectorTests } from './vector-suite.js';

describe.each(BACKENDS)('PyTorch vectors on the %s backend', (backend) => defineVectorTests(backend));
