// The remember example (contract 0.2.0) in JavaScript: each button keeps its own state. It
// must decide exactly as guests/remember/src/lib.rs does: tests/tests/remember.rs runs all
// three languages against one table.
//
// DOUBLE toggles the button's maintenance mode and says so. SINGLE backs up `region` (default
// us-west-1) at most once per `cooldown_seconds` (default 600); while maintenance is on it only
// notifies. LONG backs up at once and starts a new cooldown.
//
// The contract 0.2.0 exports `handle` through the `handler` interface, so the module exports a
// `handler` object; state is the `clickrules:handler/state@0.2.0` import. `result<_, string>`
// from `set` throws its error, which fails the press.

import { config } from 'clickrules:handler/host@0.2.0';
import { get, set } from 'clickrules:handler/state@0.2.0';

const DEFAULT_REGION = 'us-west-1';
const DEFAULT_COOLDOWN_SECONDS = 600;

export const handler = {
  handle(click) {
    const serial = click.serialNumber;
    const maintenance = get('maintenance') === 'on';
    switch (click.clickType) {
      case 'double': {
        const now = maintenance ? 'off' : 'on';
        set('maintenance', now, undefined);
        return [
          notify(
            `Button ${serial}: maintenance ${now}`,
            `A double press turned maintenance ${now} for button ${serial}.`,
          ),
        ];
      }
      case 'single': {
        if (maintenance) {
          return [
            notify(
              `Button ${serial} pressed during maintenance`,
              `No backup was started: button ${serial} is in maintenance mode.`,
            ),
          ];
        }
        const last = get('last_backup_ms');
        if (last !== undefined && last !== null) {
          if (!/^[0-9]+$/.test(last)) {
            throw { payload: `state last_backup_ms ${JSON.stringify(last)}: invalid digit found in string` };
          }
          const cooldown = cooldownSeconds();
          const end = BigInt(last) + BigInt(cooldown) * 1000n;
          const received = BigInt(click.receivedAtMs);
          const left = end > received ? (end - received) / 1000n : 0n;
          return [
            {
              tag: 'ignore',
              val: `cooling down: the last backup from this button was less than ${cooldown} s ago (${left} s left)`,
            },
          ];
        }
        return backup(click);
      }
      case 'long':
        return backup(click);
      case 'triple':
        return [{ tag: 'ignore', val: 'triple press: no rule' }];
      default:
        throw { payload: `unknown click type ${click.clickType}` };
    }
  },
};

function backup(click) {
  set('last_backup_ms', String(click.receivedAtMs), cooldownSeconds());
  const region = config('region');
  return [{ tag: 'snapshot', val: region === undefined || region === null ? DEFAULT_REGION : region }];
}

function cooldownSeconds() {
  const raw = config('cooldown_seconds');
  if (raw === undefined || raw === null) {
    return DEFAULT_COOLDOWN_SECONDS;
  }
  const trimmed = raw.trim();
  const value = /^\+?[0-9]+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!(value > 0 && value <= 4294967295)) {
    throw {
      payload: `setting cooldown_seconds must be a whole number of seconds above 0, got ${JSON.stringify(raw)}`,
    };
  }
  return value;
}

function notify(subject, message) {
  return { tag: 'notify', val: { subject, message } };
}
