/**
 * What the scheduler accepts from a probe: a host name it can show and
 * address, and device reports in the form the probe's scanner writes them.
 *
 * Why: the scheduler stores a snapshot as sent and places VMs on it. A
 * report with an address like `zz` would be offered to VMs and fail only at
 * VFIO attach; two reports of one address made the store fail on its unique
 * index, which the stream reported as UNAVAILABLE ("try again"), so the
 * probe sent the same snapshot again and again. Each rule here says what the
 * scanner emits (probe/device-reader.ts); a report that breaks one is refused
 * as INVALID_ARGUMENT, naming the device, the field and the value.
 */
import { ValidationError, isPciAddress, quoted, shortAddress, type DeviceReport } from '../common/index.js';

/** DNS names, and the `_` some inventories use; as long as a DNS name may be. */
const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const HEX4_OR_EMPTY = /^([0-9a-f]{4})?$/;
const HEX2_OR_EMPTY = /^([0-9a-f]{2})?$/;
/** pci.ids names are under 200 characters; this bounds what one report can make us store and print. */
const MAX_TEXT = 512;
/** Drivers, interfaces, reset methods, region types: short kernel names. */
const MAX_WORD = 64;

/** Throws ValidationError (field `hello.host_name`) unless `name` can be a host's name. */
export function checkHostName(name: string): void {
  if (!HOST_NAME_RE.test(name)) {
    throw new ValidationError(`host name ${quoted(name)} must be 1-253 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit`, {
      field: 'hello.host_name',
    });
  }
}

/** Throws ValidationError naming the first device, field and value that break a rule, or a repeated address. */
export function checkDeviceReports(devices: readonly DeviceReport[]): void {
  const seen = new Set<string>();
  devices.forEach((d, i) => {
    checkDevice(d, `devices[${i}]`);
    if (seen.has(d.address)) throw new ValidationError(`device ${d.address} is reported twice`, { field: `devices[${i}].address` });
    seen.add(d.address);
  });
}

function checkDevice(d: DeviceReport, at: string): void {
  const fail = (field: string, rule: string, value: unknown): never => {
    const shown = typeof value === 'string' ? quoted(value) : String(value);
    const which = isPciAddress(d.address) ? `device ${d.address}: ` : '';
    throw new ValidationError(`${which}${field} must be ${rule}, got ${shown}`, { field: `${at}.${field}` });
  };
  const address = (field: string, value: string | null, nullable: boolean) => {
    if (value === null ? !nullable : !isPciAddress(value)) fail(field, 'a PCI address such as 0000:01:00.0', value);
  };
  const matches = (field: keyof DeviceReport, re: RegExp, rule: string) => {
    if (!re.test(d[field] as string)) fail(field, rule, d[field]);
  };
  const text = (field: string, value: string | null, max: number) => {
    if (value !== null && value.length > max) fail(field, `at most ${max} characters`, value);
  };
  const count = (field: string, value: number | null) => {
    if (value !== null && !(Number.isInteger(value) && value >= 0)) fail(field, 'a whole number or absent', value);
  };

  address('address', d.address, false);
  if (d.shortAddress !== shortAddress(d.address)) fail('shortAddress', `${quoted(shortAddress(d.address))}, the address as lspci prints it`, d.shortAddress);
  for (const f of ['vendor', 'device', 'class', 'subsystemVendor', 'subsystemDevice'] as const) matches(f, HEX4_OR_EMPTY, '4 lowercase hex digits, or empty');
  for (const f of ['progIf', 'revision'] as const) matches(f, HEX2_OR_EMPTY, '2 lowercase hex digits, or empty');
  for (const f of ['vendorName', 'deviceName', 'className', 'subsystemName'] as const) text(f, d[f], MAX_TEXT);
  count('numaNode', d.numaNode);
  count('iommuGroup', d.iommuGroup);
  count('numVfs', d.numVfs);
  count('totalVfs', d.totalVfs);
  d.groupMembers.forEach((m, j) => {
    address(`groupMembers[${j}].address`, m.address, false);
    if (!HEX4_OR_EMPTY.test(m.class)) fail(`groupMembers[${j}].class`, '4 lowercase hex digits, or empty', m.class);
  });
  text('driver', d.driver, MAX_WORD);
  address('physfn', d.physfn, true);
  d.virtfns.forEach((v, j) => address(`virtfns[${j}]`, v, false));
  address('pcieRoot', d.pcieRoot, true);
  d.netInterfaces.forEach((n, j) => text(`netInterfaces[${j}]`, n, MAX_WORD));
  d.resetMethods.forEach((r, j) => text(`resetMethods[${j}]`, r, MAX_WORD));
  d.groupReservedRegions.forEach((r, j) => text(`groupReservedRegions[${j}]`, r, MAX_WORD));
}
