// Builds dist/{{crate}}.wasm from src/handler.js with componentize-js's library API. (The
// `jco componentize` CLI has failed here on paths outside its working folder.)

import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, 'dist/{{crate}}.wasm');

const { component } = await componentize({
  sourcePath: resolve(here, 'src/handler.js'),
  witPath: resolve(here, 'wit'),
  worldName: 'click-handler',
  // A guest only decides: no outbound HTTP, no incoming-request handler.
  disableFeatures: ['http', 'fetch-event'],
});

await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
console.log(`wrote ${out} (${(component.length / 1048576).toFixed(1)} MiB)`);
