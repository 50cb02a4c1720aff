/**
 * VM templates: parsing OpenNebula-style templates and JSON bodies into a
 * validated VmSpec, and compiling it for the matcher.
 *
 * - `parseTemplate(text, { file? })`: OpenNebula syntax (`KEY = value`,
 *   `PCI = [ VENDOR = "10de", CLASS = "0300" ]`, `#` comments). Keys are
 *   case-insensitive and stored upper-case.
 * - `parseJsonSpec(body)`: the same attributes in camelCase
 *   (`{ name, pci: [{ vendor, shortAddress, selector }], pciMatch, schedPolicy }`);
 *   unknown keys are kept under their UPPER_SNAKE name, so a body and the
 *   equivalent template yield the same VmSpec.
 * - `compileSpec(spec)`: adds `matchesDevice(device)` to every PCI request.
 * - `requestLabel(req)`: `10de::0300`, `short 01:00.0`, `selector`.
 *
 * Both parsers throw `ValidationError` naming the attribute: `PCI[1].VENDOR`
 * with line and column for templates, the JSON path (`pci[1].vendor`) for
 * bodies. Choices worth knowing:
 * - NAME is optional; a missing NAME gives `name: ''`, and the caller names
 *   the VM (OpenNebula uses `one-<id>`).
 * - A PCI request needs SHORT_ADDRESS alone, or at least one of
 *   VENDOR/DEVICE/CLASS (never both, as in OpenNebula), or a SELECTOR; a
 *   SELECTOR may also narrow ids or an address. An empty value counts as not
 *   given, as in OpenNebula.
 * - SELECTOR is CEL over `device` (the DeviceReport fields; ints as CEL ints,
 *   nullable fields as dyn). Write CEL strings with single quotes inside a
 *   template: `SELECTOR = "device.driver == 'vfio-pci'"`. A selector that
 *   fails at run time on a device (e.g. on a null field) does not match it.
 */
export { parseTemplate, type ParseTemplateOptions } from './parse-template.js';
export { parseJsonSpec } from './json-spec.js';
export { compileSpec, requestLabel } from './compile-spec.js';
