// The by-click guest in JavaScript: SINGLE backs up the primary region, DOUBLE a second region,
// LONG notifies; a battery below `low_battery_mv` adds a warning so the button is replaced
// before it dies. It must decide exactly as guests/by-click/src/lib.rs does: the shared
// behaviour table in tests/tests/behaviour.rs runs both.
//
// Settings (all optional): `region` (default us-west-1), `second_region` (default us-east-1),
// `low_battery_mv` (default 1500).
//
// componentize-js maps the contract onto plain values: enums are their WIT names as strings,
// `option<u32>` is a number or undefined, a variant is `{ tag, val }`, and `result<_, string>`
// is a returned value or a thrown `{ payload }`.

import { config, log } from 'clickrules:handler/host@0.1.0';

const DEFAULT_REGION = 'us-west-1';
const DEFAULT_SECOND_REGION = 'us-east-1';
// Below this the AAA cells of an IoT button are close to the device's cut-off.
const DEFAULT_LOW_BATTERY_MV = 1500;
const U32_MAX = 4294967295;

export function handle(click) {
  const serial = click.serialNumber;
  // Guest stdout goes into the press's decision record.
  console.log(`by-click: ${click.clickType} press from ${serial}`);
  const actions = [];
  switch (click.clickType) {
    case 'single':
      actions.push({ tag: 'snapshot', val: setting('region', DEFAULT_REGION) });
      break;
    case 'double':
      actions.push({ tag: 'snapshot', val: setting('second_region', DEFAULT_SECOND_REGION) });
      break;
    case 'long':
      actions.push({
        tag: 'notify',
        val: {
          subject: `Button ${serial} held`,
          message: `Button ${serial} was held (LONG press). No backup was started.`,
        },
      });
      break;
    default:
      throw { payload: `unknown click type ${click.clickType}` };
  }

  const threshold = lowBatteryThreshold();
  const mv = click.batteryMv;
  if (mv !== undefined && mv !== null && mv < threshold) {
    log('warn', `battery at ${mv} mV, below ${threshold} mV`);
    actions.push({
      tag: 'notify',
      val: {
        subject: `Button ${serial} battery low`,
        message: `Button ${serial} reports ${mv} mV, below the ${threshold} mV threshold. Replace it soon.`,
      },
    });
  }
  return actions;
}

function setting(key, fallback) {
  // An empty string is a value, as in the Rust guest: only an unset key falls back.
  const value = config(key);
  return value === undefined || value === null ? fallback : value;
}

// Parses the setting the way Rust's `raw.trim().parse::<u32>()` does: Unicode white space
// trimmed, an optional `+`, ASCII digits only, at most u32::MAX. `Number()` and `parseInt`
// accept far more ("1e3", "0x10", "12abc"), which would make the guests disagree.
function lowBatteryThreshold() {
  const raw = config('low_battery_mv');
  if (raw === undefined || raw === null) {
    return DEFAULT_LOW_BATTERY_MV;
  }
  const digits = trimRustWhitespace(raw).replace(/^\+/, '');
  const value = /^[0-9]+$/.test(digits) ? Number(digits.replace(/^0+(?=.)/, '')) : NaN;
  if (!(value <= U32_MAX)) {
    throw {
      payload: `setting low_battery_mv must be a whole number of millivolts, got ${rustDebug(raw)}`,
    };
  }
  return value;
}

// Rust's `char::is_whitespace` (the Unicode White_Space property). JavaScript's `trim` differs:
// it also strips U+FEFF and keeps U+0085.
const RUST_WHITESPACE =
  '[\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]';
const TRIM = new RegExp(`^${RUST_WHITESPACE}+|${RUST_WHITESPACE}+$`, 'g');

function trimRustWhitespace(s) {
  return s.replace(TRIM, '');
}

// The string as Rust's `{:?}` prints it in the error message: quoted, with quotes, backslashes
// and control characters escaped.
function rustDebug(s) {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\0') out += '\\0';
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}
