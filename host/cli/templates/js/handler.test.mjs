// Unit tests of src/handler.js in plain Node, without building: the host interface it imports
// (`clickrules:handler/host@0.1.0`, which only the engine provides) is replaced by
// support/host.mjs, whose settings a test sets. cases.test.mjs tests the built component.

import { register } from 'node:module';
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { logs, settings } from '../support/host.mjs';

// Node's loader accepts only file:, data: and node: URLs; the hook maps the contract's scheme
// to the stand-in before handler.js is imported.
register('../support/loader.mjs', import.meta.url);
const { handle } = await import('../src/handler.js');

const click = { serialNumber: 'G030TESTKIT00001', clickType: 'single', receivedAtMs: 0n };

test('a press backs up us-west-1', () => {
  settings.clear();
  assert.deepEqual(handle(click), [{ tag: 'snapshot', val: 'us-west-1' }]);
  assert.equal(logs.at(-1).level, 'debug');
});

test('the region setting wins', () => {
  settings.set('region', 'eu-west-1');
  assert.deepEqual(handle(click), [{ tag: 'snapshot', val: 'eu-west-1' }]);
});
