// Builds dist/{{crate}}.wasm from src/handler.js with componentize-js's library API. (The
// `jco componentize` CLI has failed here on paths outside its working folder.)
//
// `node build.mjs` always builds; the tests call `buildIfStale()`, which builds only when a
// source is newer than the component.

import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const wasm = resolve(here, 'dist/{{crate}}.wasm');
const sources = ['src', 'wit', 'build.mjs', 'package.json', 'package-lock.json'];

export async function build() {
  // Loaded here, not at the top: importing this file to check freshness stays cheap.
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const { component } = await componentize({
    sourcePath: resolve(here, 'src/handler.js'),
    witPath: resolve(here, 'wit'),
    worldName: 'click-handler',
    // A guest only decides: no outbound HTTP, no incoming-request handler.
    disableFeatures: ['http', 'fetch-event'],
  });
  await mkdir(dirname(wasm), { recursive: true });
  await writeFile(wasm, component);
  console.log(`wrote ${wasm} (${(component.length / 1048576).toFixed(1)} MiB)`);
}

async function newest(path) {
  let info;
  try {
    info = await stat(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of await readdir(path)) {
    latest = Math.max(latest, await newest(join(path, entry)));
  }
  return latest;
}

export async function buildIfStale() {
  const built = await newest(wasm);
  const source = Math.max(...(await Promise.all(sources.map((s) => newest(resolve(here, s))))));
  if (built === 0 || source > built) await build();
  return wasm;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await build();
}
