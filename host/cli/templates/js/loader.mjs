// Module hook for unit tests: the contract's imports resolve to support/host.mjs.

const host = new URL('./host.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier.startsWith('clickrules:handler/host@')) {
    return { url: host, shortCircuit: true };
  }
  return next(specifier, context);
}
