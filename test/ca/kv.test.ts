import { MemoryCaKv } from '../../src/ca/kv.js';
import { describeCaKvConformance } from './kv-conformance.js';

describeCaKvConformance('memory', () => new MemoryCaKv(), () => 'test:');
