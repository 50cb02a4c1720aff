/**
 * A VM's request for PCI devices, as parsed from an OpenNebula-style template
 * or a JSON body, and its compiled form that the matcher consumes.
 */
import type { DeviceReport } from '../common/index.js';

export type PlacementPolicy = 'pack' | 'spread';
export type MatchAttribute = 'NUMA_NODE' | 'PCIE_ROOT';

export interface PciRequest {
  /** Position among the VM's PCI requests, in template order. */
  index: number;
  /** 4 lowercase hex digits each, when given. */
  vendor?: string;
  device?: string;
  class?: string;
  /** lspci-style short address; exclusive with vendor/device/class. */
  shortAddress?: string;
  /** CEL source over `device`, evaluated per candidate device. */
  selector?: string;
  /** `NIC` for a PCI element that acts as a network interface. */
  type?: string;
  /** Every attribute as written (upper-case keys), unknown ones included. */
  attributes: Record<string, string>;
}

export interface VmSpec {
  name: string;
  pci: PciRequest[];
  /** VM-level PCI_MATCH: all devices share each of these attributes. */
  pciMatch: MatchAttribute[];
  /** Per-VM SCHED_POLICY; the server default applies when absent. */
  policy?: PlacementPolicy;
  /** Every VM-level attribute as written, unknown ones included (vectors as objects). */
  attributes: Record<string, unknown>;
}

/** A PCI request with its selector compiled once, before looping over hosts. */
export interface CompiledPciRequest extends PciRequest {
  matchesDevice(device: DeviceReport): boolean;
}

export interface CompiledVmSpec extends Omit<VmSpec, 'pci'> {
  pci: CompiledPciRequest[];
}
