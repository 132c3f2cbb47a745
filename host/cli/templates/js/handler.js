// {{name}}: a clickrules guest. It starts as the default behaviour: every press backs up
// us-west-1 (or the deployment's `region` setting). Change `handle` to decide otherwise.
//
// The contract as JavaScript values: `click` is { serialNumber, clickType ('single' | 'double'
// | 'long'), batteryMv (number or undefined), receivedAtMs (BigInt) }; return a list of
// { tag: 'snapshot', val: region } | { tag: 'notify', val: { subject, message } }
// | { tag: 'ignore', val: reason }, or throw { payload: 'why' } to refuse the press.

import { config, log } from 'clickrules:handler/host@0.1.0';

// The region backed up when the deployment sets no `region`.
const DEFAULT_REGION = 'us-west-1';

export function handle(click) {
  const region = config('region') ?? DEFAULT_REGION;
  log('debug', `${click.clickType} press from ${click.serialNumber}`);
  return [{ tag: 'snapshot', val: region }];
}
