// A stand-in for the host interface in unit tests (the engine provides the real one): `config`
// reads `settings`, `log` appends to `logs`.

export const settings = new Map();
export const logs = [];

export function config(key) {
  return settings.get(key);
}

export function log(level, message) {
  logs.push({ level, message });
}
