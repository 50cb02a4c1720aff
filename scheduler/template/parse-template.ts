/**
 * OpenNebula template text → VmSpec: syntax in template-parser.ts, meaning
 * and validation in build-spec.ts (shared with JSON bodies).
 */
import type { VmSpec } from '../spec.js';
import { buildVmSpec } from './build-spec.js';
import { parseRawTemplate } from './template-parser.js';

export interface ParseTemplateOptions {
  /** File name to put in error locations (e.g. the CLI's argument). */
  file?: string;
}

export function parseTemplate(text: string, options: ParseTemplateOptions = {}): VmSpec {
  return buildVmSpec(parseRawTemplate(text, options.file));
}
