/**
 * plugin.toml: parsing, validation against the contract's table (docs: shared contract
 * plugin.md), and the resource limits a manifest asks for.
 *
 * Validation never stops at the first problem: a plugin author gets every wrong field in one
 * answer, each named as `section.key`. Keys this server does not know are accepted and
 * reported as warnings, so manifests written for newer servers still install.
 */
import semver from 'semver';
import { parse, TomlError } from 'smol-toml';
import type { LimitSettings } from '../../config.js';
import type { CapabilitySet, ResourceLimits } from '../../store/store.js';
import type { ValidationProblem } from '../errors.js';

export interface PluginManifest {
  plugin: {
    name: string;
    version: string;
    /** The format's display name when the manifest gives none. */
    display_name: string;
    description: string | null;
    author: string | null;
    license: string | null;
    homepage: string | null;
    /** Relative path of the component inside the package, when the author names it. */
    wasm: string | null;
    /** Recorded, not enforced. */
    min_keeper_version: string | null;
  };
  format: {
    key: string;
    display_name: string;
    description: string | null;
    extensions: string[];
    content_types: string[];
  };
  capabilities: CapabilitySet;
  /** The first form of limits. */
  requirements: { min_memory_mb: number | null; max_memory_mb: number | null; timeout_secs: number | null };
  /** The second form of limits; `max_fuel` is recorded but not enforced. */
  resources: { max_memory_bytes: number | null; max_execution_ms: number | null; max_fuel: number | null };
  runtime: { instances: number | null };
}

export interface ManifestCheck {
  /** Null when there is any problem. */
  manifest: PluginManifest | null;
  problems: ValidationProblem[];
  warnings: string[];
  /**
   * `[plugin].wasm` when it is a string, even if other fields are wrong: the package reader
   * still searches for the component, so its problems are reported together with these.
   */
  declaredWasm: string | null;
}

const MiB = 1024 * 1024;
export const MEMORY_MB_RANGE = { min: 1, max: 1024 } as const;
export const TIMEOUT_SECS_RANGE = { min: 1, max: 300 } as const;
/** The configuration's own bound for instances (PLUGINS_MAX_INSTANCES is at most 16). */
export const INSTANCES_RANGE = { min: 1, max: 16 } as const;

const NAME_PATTERN = /^[a-z][a-z0-9-]{2,99}$/;
const FORMAT_KEY_PATTERN = /^[a-z][a-z0-9-]{1,49}$/;

/** Parses and validates plugin.toml's text. */
export function checkManifest(text: string): ManifestCheck {
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    return {
      manifest: null,
      problems: [{ field: 'plugin.toml', message: `not valid TOML: ${tomlErrorSummary(error)}` }],
      warnings: [],
      declaredWasm: null,
    };
  }

  const problems: ValidationProblem[] = [];
  const warnings: string[] = [];
  const section = (name: string) => new SectionReader(document, name, problems);

  const plugin = section('plugin');
  const name = plugin.string('name', { required: true });
  if (name !== null && !NAME_PATTERN.test(name)) {
    plugin.problem('name', `"${name}" is not a valid plugin name: use 3 to 100 lowercase letters, digits and "-", starting with a letter`);
  }
  const version = plugin.string('version', { required: true });
  if (version !== null && !isSemver(version)) {
    plugin.problem('version', `"${version}" is not a semantic version (x.y.z, optionally -prerelease and +build)`);
  }
  const homepage = plugin.string('homepage');
  if (homepage !== null && !isWebUrl(homepage)) {
    plugin.problem('homepage', `"${homepage}" is not an http or https URL`);
  }
  const pluginTable = {
    name,
    version,
    display_name: plugin.string('display_name'),
    description: plugin.string('description'),
    author: plugin.string('author'),
    license: plugin.string('license'),
    homepage,
    wasm: plugin.string('wasm'),
    min_keeper_version: plugin.string('min_keeper_version'),
  };

  const format = section('format');
  const key = format.string('key', { required: true });
  if (key !== null && !FORMAT_KEY_PATTERN.test(key)) {
    format.problem('key', `"${key}" is not a valid format key: use 2 to 50 lowercase letters, digits and "-", starting with a letter`);
  }
  // A core key is the install's question (409 without `replace_core`), not the manifest's.
  const formatDisplayName = format.string('display_name', { required: true });
  if (formatDisplayName !== null && formatDisplayName.trim() === '') format.problem('display_name', 'must not be empty');
  const formatTable = {
    key,
    display_name: formatDisplayName,
    description: format.string('description'),
    extensions: format.stringArray('extensions'),
    content_types: format.stringArray('content_types'),
  };

  const capabilities = section('capabilities');
  const capabilitySet: CapabilitySet = {
    parse_metadata: capabilities.boolean('parse_metadata', true),
    validate_artifact: capabilities.boolean('validate_artifact', true),
    generate_index: capabilities.boolean('generate_index', false),
    handle_request: capabilities.boolean('handle_request', false),
  };

  const requirements = section('requirements');
  const requirementsTable = {
    min_memory_mb: requirements.integer('min_memory_mb', MEMORY_MB_RANGE.min, MEMORY_MB_RANGE.max),
    max_memory_mb: requirements.integer('max_memory_mb', MEMORY_MB_RANGE.min, MEMORY_MB_RANGE.max),
    timeout_secs: requirements.integer('timeout_secs', TIMEOUT_SECS_RANGE.min, TIMEOUT_SECS_RANGE.max),
  };
  const { min_memory_mb: minMemory, max_memory_mb: maxMemory } = requirementsTable;
  if (minMemory !== null && maxMemory !== null && minMemory > maxMemory) {
    requirements.problem('min_memory_mb', `${minMemory} is more than max_memory_mb (${maxMemory})`);
  }

  const resources = section('resources');
  const resourcesTable = {
    // Sub-unit values round up (500 ms → 1 s), so the ranges are those of the other form.
    max_memory_bytes: resources.integer('max_memory_bytes', 1, MEMORY_MB_RANGE.max * MiB),
    max_execution_ms: resources.integer('max_execution_ms', 1, TIMEOUT_SECS_RANGE.max * 1000),
    max_fuel: resources.integer('max_fuel', 1, Number.MAX_SAFE_INTEGER),
  };
  if (resourcesTable.max_fuel !== null) {
    warnings.push('resources.max_fuel is recorded but not enforced: this server bounds each call by time (timeout_secs)');
  }

  const runtime = section('runtime');
  const runtimeTable = { instances: runtime.integer('instances', INSTANCES_RANGE.min, INSTANCES_RANGE.max) };

  const sections = [plugin, format, capabilities, requirements, resources, runtime];
  const sectionNames = new Set(sections.map((reader) => reader.name));
  const unknownKeys = [
    ...Object.keys(document).filter((topKey) => !sectionNames.has(topKey)),
    ...sections.flatMap((reader) => reader.unknownKeys()),
  ];
  for (const unknown of unknownKeys) warnings.push(`unknown manifest key "${unknown}" was ignored`);

  const declaredWasm = pluginTable.wasm;
  if (problems.length > 0) return { manifest: null, problems, warnings, declaredWasm };
  const manifest: PluginManifest = {
    // The required strings are non-null here: a missing one is a problem, handled above.
    // Without its own display name, a plugin is shown by its format's (as Artifact Keeper does).
    plugin: { ...pluginTable, name: name!, version: version!, display_name: pluginTable.display_name ?? formatDisplayName! },
    format: { ...formatTable, key: key!, display_name: formatDisplayName! },
    capabilities: capabilitySet,
    requirements: requirementsTable,
    resources: resourcesTable,
    runtime: runtimeTable,
  };
  return { manifest, problems, warnings, declaredWasm };
}

/**
 * The limits a plugin runs with: what its manifest asks for (either form), else the server's
 * defaults, never above the server's caps. Each adjustment is explained in a warning.
 */
export function resolveLimits(
  manifest: PluginManifest,
  defaults: LimitSettings,
  caps: LimitSettings,
): { limits: ResourceLimits; warnings: string[] } {
  const warnings: string[] = [];
  const { requirements, resources, runtime } = manifest;

  const memoryFromBytes = resources.max_memory_bytes === null ? null : Math.ceil(resources.max_memory_bytes / MiB);
  const askedMemory = preferRequirements('memory', requirements.max_memory_mb, memoryFromBytes, 'MB', warnings);
  const minMemory = requirements.min_memory_mb;
  const memory = capped('memory', askedMemory ?? Math.max(defaults.memoryMb, minMemory ?? 0), caps.memoryMb, 'MB', warnings);
  if (minMemory !== null && memory < minMemory) {
    warnings.push(`memory: the plugin needs at least ${minMemory} MB (requirements.min_memory_mb) but gets ${memory} MB`);
  }

  const timeoutFromMs = resources.max_execution_ms === null ? null : Math.ceil(resources.max_execution_ms / 1000);
  const askedTimeout = preferRequirements('timeout', requirements.timeout_secs, timeoutFromMs, 's', warnings);
  const timeout = capped('timeout', askedTimeout ?? defaults.timeoutSecs, caps.timeoutSecs, 's', warnings);

  const instances = capped('instances', runtime.instances ?? defaults.instances, caps.instances, '', warnings);

  return { limits: { memory_mb: memory, timeout_secs: timeout, instances }, warnings };
}

/** [requirements] wins when both forms name a limit; a disagreement is worth a warning. */
function preferRequirements(
  limit: string,
  fromRequirements: number | null,
  fromResources: number | null,
  unit: string,
  warnings: string[],
): number | null {
  if (fromRequirements !== null && fromResources !== null && fromRequirements !== fromResources) {
    const [asked, other] = [fromRequirements, fromResources].map((value) => `${value}${unitText(unit)}`);
    warnings.push(`${limit}: [requirements] asks for ${asked} and [resources] for ${other}; [requirements] applies`);
  }
  return fromRequirements ?? fromResources;
}

function capped(limit: string, asked: number, cap: number, unit: string, warnings: string[]): number {
  if (asked <= cap) return asked;
  const [wanted, most] = [asked, cap].map((value) => `${value}${unitText(unit)}`);
  warnings.push(`${limit}: the plugin asks for ${wanted}; this server allows at most ${most}, which applies`);
  return cap;
}

const unitText = (unit: string) => (unit === '' ? '' : ` ${unit}`);

/** Reads one `[section]` of the document, recording problems and unknown keys as it goes. */
class SectionReader {
  private readonly table: Record<string, unknown>;
  private readonly read = new Set<string>();

  constructor(
    document: Record<string, unknown>,
    readonly name: string,
    private readonly problems: ValidationProblem[],
  ) {
    const value = document[name];
    if (value === undefined || isTable(value)) {
      this.table = value ?? {};
    } else {
      this.problem(null, `must be a table ([${name}]), not ${describe(value)}`);
      this.table = {};
    }
  }

  problem(key: string | null, message: string): void {
    this.problems.push({ field: key === null ? this.name : `${this.name}.${key}`, message });
  }

  string(key: string, { required = false } = {}): string | null {
    const value = this.take(key);
    if (value === undefined) {
      if (required) this.problem(key, 'is required');
      return null;
    }
    if (typeof value !== 'string') {
      this.problem(key, `must be a string, not ${describe(value)}`);
      return null;
    }
    return value;
  }

  stringArray(key: string): string[] {
    const value = this.take(key);
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      this.problem(key, `must be an array of strings, not ${describe(value)}`);
      return [];
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.take(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(key, `must be true or false, not ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  integer(key: string, min: number, max: number): number | null {
    const value = this.take(key);
    if (value === undefined) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(key, `must be a whole number from ${min} to ${max}, not ${describe(value)}`);
      return null;
    }
    return value;
  }

  private take(key: string): unknown {
    this.read.add(key);
    return this.table[key];
  }

  /** The table's keys nobody asked for; call once every known key has been read. */
  unknownKeys(): string[] {
    return Object.keys(this.table)
      .filter((key) => !this.read.has(key))
      .map((key) => `${this.name}.${key}`);
  }
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (isTable(value)) return 'a table';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object' && value !== null) return `the date ${String(value)}`;
  return `${typeof value === 'boolean' ? 'the boolean' : 'the number'} ${String(value)}`;
}

function isSemver(version: string): boolean {
  // semver.parse also takes "v1.2.3" and surrounding spaces; the contract's form does not.
  return /^\d/.test(version) && version.trim() === version && semver.parse(version) !== null;
}

function isWebUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** "line 3, column 7: invalid value": the first line of smol-toml's message, with the position. */
function tomlErrorSummary(error: TomlError): string {
  const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
  return `line ${error.line}, column ${error.column}: ${reason}`;
}
