/**
 * AMD GPU families with the reset bug: after a VM stops, the GPU does not
 * come back from a standard reset, and the host may need a reboot unless the
 * out-of-tree `vendor-reset` module handles the reset.
 *
 * Source of the ids: vendor-reset's device table (github.com/gnif/vendor-reset,
 * src/device-db.h), which takes them from the kernel's amdgpu driver
 * (drivers/gpu/drm/amd/amdgpu/amdgpu_drv.c, pciidlist). Only the discrete
 * families named by the common VFIO guides are listed: Polaris 10/11/12,
 * Vega 10/20, Navi 10/12/14. vendor-reset also knows Navi 23 (73ff), the
 * Instinct MI100 (738c) and some APU iGPUs; those are left out here.
 * Exact ids rather than ranges: the ranges (e.g. 67c0-67df) hold unused ids
 * and miss Polaris 10's 6fdf.
 */

const FAMILIES: ReadonlyArray<readonly [family: string, ids: readonly string[]]> = [
  ['Polaris 10', ['67c0', '67c1', '67c2', '67c4', '67c7', '67c8', '67c9', '67ca', '67cc', '67cf', '67d0', '67df', '6fdf']],
  ['Polaris 11', ['67e0', '67e1', '67e3', '67e7', '67e8', '67e9', '67eb', '67ef', '67ff']],
  ['Polaris 12', ['6980', '6981', '6985', '6986', '6987', '6995', '6997', '699f']],
  ['Vega 10', ['6860', '6861', '6862', '6863', '6864', '6867', '6868', '6869', '686a', '686b', '686c', '686d', '686e', '686f', '687f']],
  ['Vega 20', ['66a0', '66a1', '66a2', '66a3', '66a4', '66a7', '66af']],
  ['Navi 10', ['7310', '7312', '7318', '7319', '731a', '731b', '731e', '731f']],
  ['Navi 12', ['7360', '7362']],
  ['Navi 14', ['7340', '7341', '7347', '734f']],
];

export const AMD_VENDOR_ID = '1002';

const BY_DEVICE = new Map<string, string>(FAMILIES.flatMap(([family, ids]) => ids.map((id) => [id, family] as const)));

/** The reset-bug family of an AMD GPU (`Polaris 10`), or null. Ids are compared case-insensitively. */
export function amdResetBugFamily(vendor: string, device: string): string | null {
  if (vendor.toLowerCase() !== AMD_VENDOR_ID) return null;
  return BY_DEVICE.get(device.toLowerCase()) ?? null;
}
