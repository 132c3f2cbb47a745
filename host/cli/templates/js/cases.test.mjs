// Runs cases.toml against the component with `clickrules test`, which presses it through the
// clickrules engine with the Lambda's limits and checks. The component is built first when a
// source is newer than it, so `npm test` (or `node --test`) is the only command. CLICKRULES
// names the clickrules binary when it is not on PATH.

import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { buildIfStale } from '../build.mjs';

const clickrules = process.env.CLICKRULES || 'clickrules';
const cases = fileURLToPath(new URL('../cases.toml', import.meta.url));

test('cases.toml', async () => {
  // Before the build, which takes a minute: a missing binary is the likelier mistake.
  const found = spawnSync(clickrules, ['--version'], { encoding: 'utf8' });
  if (found.error) {
    assert.fail(
      `cannot run the clickrules binary (${clickrules}: ${found.error.code ?? found.error}): ` +
        'install it with `cargo install --path host/cli` (from the clickrules checkout), ' +
        'or set CLICKRULES=/path/to/clickrules',
    );
  }
  const wasm = await buildIfStale();
  const run = spawnSync(clickrules, ['test', wasm, cases], { encoding: 'utf8' });
  assert.equal(run.status, 0, `clickrules test failed:\n${run.stdout}${run.stderr}`);
  console.log(run.stdout);
});
