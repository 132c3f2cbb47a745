// Presses the built component through the clickrules press pipeline (`clickrules press --json`
// prints the press record), with the Lambda's limits and checks. Build first: `npm run build`. The CLICKRULES variable
// names the clickrules binary when it is not on PATH.

import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const clickrules = process.env.CLICKRULES || 'clickrules';
const wasm = fileURLToPath(new URL('../dist/{{crate}}.wasm', import.meta.url));

function press(...args) {
  const run = spawnSync(clickrules, ['press', '--guest', wasm, '--json', ...args], {
    encoding: 'utf8',
  });
  assert.equal(run.error, undefined, `cannot run ${clickrules}: ${run.error}`);
  assert.equal(run.status, 0, `the press failed:\n${run.stdout}${run.stderr}`);
  return JSON.parse(run.stdout);
}

test('every press backs up us-west-1', () => {
  for (const click of ['single', 'double', 'long']) {
    const record = press('--click', click, '--battery-mv', '1400');
    assert.deepEqual(record.decision.actions, [{ kind: 'snapshot', region: 'us-west-1' }]);
  }
});

test('the region setting wins', () => {
  const record = press('--click', 'double', '--config', 'region=eu-west-1');
  assert.deepEqual(record.decision.actions, [{ kind: 'snapshot', region: 'eu-west-1' }]);
});
