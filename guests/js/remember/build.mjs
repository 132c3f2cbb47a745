// Builds the guest component with componentize-js's library API. (The `jco componentize` CLI
// fails when the WIT or source lies outside its working folder, as ours does.)
//
//   node build.mjs [--wit DIR] [--out FILE]
//
// Defaults: the repository's wit/v0.2.0/ (this guest implements contract 0.2.0) and
// dist/remember.wasm beside this file.
//
// package.json lists @bytecodealliance/preview2-shim itself: componentize-js 0.23 imports it
// without declaring it, so a clean `npm ci` would otherwise leave it out.

import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    wit: { type: 'string', default: resolve(here, '../../../wit/v0.2.0') },
    out: { type: 'string', default: resolve(here, 'dist/remember.wasm') },
  },
});

const { component } = await componentize({
  sourcePath: resolve(here, 'src/remember.js'),
  witPath: resolve(values.wit),
  worldName: 'click-handler',
  // No outbound HTTP and no incoming-request handler: a guest only decides. stdio stays so an
  // uncaught exception reaches the decision record; clocks and random stay because the JS
  // engine reads them, and the host serves them without reaching outside.
  disableFeatures: ['http', 'fetch-event'],
});

await mkdir(dirname(resolve(values.out)), { recursive: true });
await writeFile(resolve(values.out), component);
console.log(`wrote ${resolve(values.out)} (${(component.length / 1048576).toFixed(1)} MiB)`);
