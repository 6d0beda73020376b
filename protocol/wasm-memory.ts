/**
 * Reading and rewriting the linear memories and tables of a core WebAssembly module, at the
 * binary level.
 *
 * Two ends need this: the supervisor refuses a component whose initial memory already exceeds
 * the plugin's limit, and the plugin host caps every memory (defined or imported) with a
 * maximum so that `memory.grow` past the limit fails inside the guest instead of growing the
 * host process. Tables get the same treatment: `table.grow` costs host memory outside any
 * linear memory (a plugin growing a table reached 575 MB of RSS under a 64 MB limit). Only the
 * import section (2), the table section (4) and the memory section (5) are re-encoded; every
 * other byte is copied unchanged.
 */

/** Bytes in one WebAssembly page (memories without the custom-page-sizes proposal). */
export const WASM_PAGE_BYTES = 65536;

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const CORE_MODULE_VERSION = [0x01, 0x00, 0x00, 0x00];
const PREAMBLE_BYTES = 8;

const SECTION_IMPORT = 2;
const SECTION_TABLE = 4;
const SECTION_MEMORY = 5;

/** How many elements a table may grow to, unless it starts larger (then it cannot grow). */
export const MAX_TABLE_ELEMENTS = 10_000;

const IMPORT_KIND_FUNC = 0x00;
const IMPORT_KIND_TABLE = 0x01;
const IMPORT_KIND_MEMORY = 0x02;
const IMPORT_KIND_GLOBAL = 0x03;
const IMPORT_KIND_TAG = 0x04;

const LIMITS_HAS_MAX = 0x01;
const LIMITS_SHARED = 0x02;
const LIMITS_64 = 0x04;
const LIMITS_CUSTOM_PAGE_SIZE = 0x08;

/** Thrown for bytes that are not a core module this code can read. */
export class WasmFormatError extends Error {
  override name = 'WasmFormatError';
}

export interface MemoryDescriptor {
  /** Index in the module's memory index space (imports first, as WebAssembly numbers them). */
  index: number;
  /** Where an imported memory comes from; `null` for a memory the module defines. */
  import: { module: string; name: string } | null;
  initialPages: number;
  /** `null` when the memory declares no maximum. */
  maximumPages: number | null;
  shared: boolean;
  memory64: boolean;
}

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the first content byte (after id and size). */
  contentStart: number;
  /** Offset just past the section. */
  end: number;
}

/** A cursor over a byte array that decodes the binary format's primitive encodings. */
export class WasmReader {
  constructor(
    readonly bytes: Uint8Array,
    public offset = 0,
  ) {}

  get atEnd(): boolean {
    return this.offset >= this.bytes.length;
  }

  byte(): number {
    if (this.offset >= this.bytes.length) throw new WasmFormatError(`unexpected end of binary at offset ${this.offset}`);
    return this.bytes[this.offset++]!;
  }

  /**
   * Unsigned LEB128. Limits of memory64 are u64, so up to 10 bytes are accepted; the value
   * must still fit a JavaScript number exactly (no real page count comes near 2^53).
   */
  unsigned(): number {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (result > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new WasmFormatError(`integer ${result} at offset ${this.offset} is too large`);
        }
        return Number(result);
      }
      shift += 7n;
    }
    throw new WasmFormatError(`LEB128 integer longer than 10 bytes at offset ${this.offset}`);
  }

  /** Signed LEB128 whose value is not needed (e.g. an s33 heap type): only its length. */
  skipSigned(): void {
    for (let i = 0; i < 10; i++) {
      if ((this.byte() & 0x80) === 0) return;
    }
    throw new WasmFormatError(`LEB128 integer longer than 10 bytes at offset ${this.offset}`);
  }

  name(): string {
    const length = this.unsigned();
    const end = this.offset + length;
    if (end > this.bytes.length) throw new WasmFormatError(`name runs past the end of the binary at offset ${this.offset}`);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.offset, end));
    this.offset = end;
    return text;
  }
}

export function encodeUnsigned(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot LEB128-encode ${value}`);
  const out: number[] = [];
  let rest = BigInt(value);
  do {
    let b = Number(rest & 0x7fn);
    rest >>= 7n;
    if (rest !== 0n) b |= 0x80;
    out.push(b);
  } while (rest !== 0n);
  return out;
}

/** Whether `bytes` start with the WebAssembly magic and are long enough for a preamble. */
export function hasWasmMagic(bytes: Uint8Array): boolean {
  return bytes.length >= PREAMBLE_BYTES && MAGIC.every((b, i) => bytes[i] === b);
}

export function isCoreModule(bytes: Uint8Array): boolean {
  return hasWasmMagic(bytes) && CORE_MODULE_VERSION.every((b, i) => bytes[4 + i] === b);
}

/**
 * The sections of a binary, core module or component alike (both frame sections as an id
 * byte and a u32 size). `from` is where the first section starts, after the preamble.
 */
export function readSections(bytes: Uint8Array, from = PREAMBLE_BYTES, to = bytes.length): Section[] {
  const sections: Section[] = [];
  const reader = new WasmReader(bytes, from);
  while (reader.offset < to) {
    const start = reader.offset;
    const id = reader.byte();
    const size = reader.unsigned();
    const contentStart = reader.offset;
    const end = contentStart + size;
    if (end > to) throw new WasmFormatError(`section ${id} at offset ${start} runs past the end of the binary`);
    sections.push({ id, start, contentStart, end });
    reader.offset = end;
  }
  return sections;
}

/** The limits of one memory type and where they sit in the binary. */
interface MemoryType {
  flags: number;
  initialPages: number;
  maximumPages: number | null;
  start: number;
  end: number;
}

function readMemoryType(reader: WasmReader): MemoryType {
  const start = reader.offset;
  const flags = reader.byte();
  if (flags & LIMITS_CUSTOM_PAGE_SIZE) {
    // Pages other than 64 KiB would make every page count here wrong; no toolchain in use emits them.
    throw new WasmFormatError(`memory at offset ${start} uses custom page sizes, which are not supported`);
  }
  if (flags & ~(LIMITS_HAS_MAX | LIMITS_SHARED | LIMITS_64)) {
    throw new WasmFormatError(`memory at offset ${start} has unknown limit flags 0x${flags.toString(16)}`);
  }
  const initialPages = reader.unsigned();
  const maximumPages = flags & LIMITS_HAS_MAX ? reader.unsigned() : null;
  return { flags, initialPages, maximumPages, start, end: reader.offset };
}

/** A table type's limits (after its element type) and where they sit in the binary. */
interface TableLimits {
  flags: number;
  initial: number;
  maximum: number | null;
  start: number;
  end: number;
}

/** Table limits share the memory encoding (64-bit tables set the same flag). */
function readTableLimits(reader: WasmReader): TableLimits {
  const start = reader.offset;
  const flags = reader.byte();
  if (flags & ~(LIMITS_HAS_MAX | LIMITS_64)) {
    throw new WasmFormatError(`table at offset ${start} has unknown limit flags 0x${flags.toString(16)}`);
  }
  const initial = reader.unsigned();
  const maximum = flags & LIMITS_HAS_MAX ? reader.unsigned() : null;
  return { flags, initial, maximum, start, end: reader.offset };
}

/** A value or reference type: one byte, or (GC proposal) a nullable/non-null ref prefix and a heap type. */
function skipValueType(reader: WasmReader): void {
  const code = reader.byte();
  if (code === 0x63 || code === 0x64) reader.skipSigned();
}

interface LocatedMemory {
  descriptor: MemoryDescriptor;
  type: MemoryType;
}

/** Every memory and every table of a module, imported ones first (index order). */
function locateLimits(bytes: Uint8Array): { memories: LocatedMemory[]; tables: TableLimits[] } {
  if (!isCoreModule(bytes)) throw new WasmFormatError('not a core WebAssembly module (bad magic or version)');
  const found: LocatedMemory[] = [];
  const tables: TableLimits[] = [];
  for (const section of readSections(bytes)) {
    if (section.id === SECTION_IMPORT) {
      const reader = new WasmReader(bytes, section.contentStart);
      const count = reader.unsigned();
      for (let i = 0; i < count; i++) {
        const module = reader.name();
        const name = reader.name();
        const kind = reader.byte();
        switch (kind) {
          case IMPORT_KIND_FUNC:
            reader.unsigned();
            break;
          case IMPORT_KIND_TABLE:
            skipValueType(reader);
            tables.push(readTableLimits(reader));
            break;
          case IMPORT_KIND_MEMORY: {
            const type = readMemoryType(reader);
            found.push({ descriptor: describe(found.length, { module, name }, type), type });
            break;
          }
          case IMPORT_KIND_GLOBAL:
            skipValueType(reader);
            reader.byte(); // mutability
            break;
          case IMPORT_KIND_TAG:
            reader.byte(); // attribute, always 0
            reader.unsigned();
            break;
          default:
            throw new WasmFormatError(`import "${module}" "${name}" has unknown kind 0x${kind.toString(16)}`);
        }
      }
    } else if (section.id === SECTION_TABLE) {
      const reader = new WasmReader(bytes, section.contentStart);
      const count = reader.unsigned();
      for (let i = 0; i < count; i++) {
        if (bytes[reader.offset] === 0x40) {
          // Function references: a table with an initializer expression, which would have to be
          // decoded to find the next table. No toolchain in use emits it; refuse rather than leave it uncapped.
          throw new WasmFormatError(`table ${tables.length} at offset ${reader.offset} has an initializer expression, which is not supported`);
        }
        skipValueType(reader);
        tables.push(readTableLimits(reader));
      }
    } else if (section.id === SECTION_MEMORY) {
      const reader = new WasmReader(bytes, section.contentStart);
      const count = reader.unsigned();
      for (let i = 0; i < count; i++) {
        const type = readMemoryType(reader);
        found.push({ descriptor: describe(found.length, null, type), type });
      }
    }
  }
  return { memories: found, tables };
}

function describe(index: number, imported: MemoryDescriptor['import'], type: MemoryType): MemoryDescriptor {
  return {
    index,
    import: imported,
    initialPages: type.initialPages,
    maximumPages: type.maximumPages,
    shared: (type.flags & LIMITS_SHARED) !== 0,
    memory64: (type.flags & LIMITS_64) !== 0,
  };
}

/** Every memory of a core module, imported ones first (memory index order). */
export function readMemories(module: Uint8Array): MemoryDescriptor[] {
  return locateLimits(module).memories.map((m) => m.descriptor);
}

/**
 * Returns a copy of `module` in which every memory, defined or imported, has a maximum of at
 * most `maximumPages`: a memory without a maximum gets one, a larger maximum is lowered, a
 * smaller one is kept. Imported memories must be capped too, or an import declaring no
 * maximum would still link against (and let the guest grow) an uncapped memory elsewhere.
 *
 * Throws a RangeError when a memory's initial size already exceeds the cap, because such a
 * module cannot be made valid by capping.
 */
export function capMemories(module: Uint8Array, maximumPages: number): Uint8Array {
  if (!Number.isSafeInteger(maximumPages) || maximumPages < 0) {
    throw new RangeError(`maximum page count must be a non-negative integer, got ${maximumPages}`);
  }
  const { memories } = locateLimits(module);
  for (const { descriptor } of memories) {
    if (descriptor.initialPages > maximumPages) {
      const where = descriptor.import
        ? `imported memory "${descriptor.import.module}" "${descriptor.import.name}"`
        : `memory ${descriptor.index}`;
      throw new RangeError(
        `${where} starts with ${descriptor.initialPages} pages, more than the cap of ${maximumPages} pages`,
      );
    }
  }
  if (memories.length === 0) return module;

  // Each memory type is replaced in place; sections containing one are re-framed with their new size.
  const replacements = new Map<number, Replacement>();
  for (const { type } of memories) {
    const maximum = type.maximumPages === null ? maximumPages : Math.min(type.maximumPages, maximumPages);
    replacements.set(type.start, {
      end: type.end,
      bytes: [type.flags | LIMITS_HAS_MAX, ...encodeUnsigned(type.initialPages), ...encodeUnsigned(maximum)],
    });
  }
  return replaceLimits(module, replacements);
}

/**
 * Returns a copy of `module` in which every table, defined or imported, may grow to at most
 * `maximumElements` elements, or not at all when it starts larger: a table without a maximum
 * gets one, a larger maximum is lowered (never below the table's initial size).
 */
export function capTables(module: Uint8Array, maximumElements = MAX_TABLE_ELEMENTS): Uint8Array {
  if (!Number.isSafeInteger(maximumElements) || maximumElements < 0) {
    throw new RangeError(`maximum element count must be a non-negative integer, got ${maximumElements}`);
  }
  const replacements = new Map<number, Replacement>();
  for (const table of locateLimits(module).tables) {
    const cap = Math.max(table.initial, maximumElements);
    const maximum = table.maximum === null ? cap : Math.min(table.maximum, cap);
    if (maximum === table.maximum) continue;
    replacements.set(table.start, {
      end: table.end,
      bytes: [table.flags | LIMITS_HAS_MAX, ...encodeUnsigned(table.initial), ...encodeUnsigned(maximum)],
    });
  }
  return replaceLimits(module, replacements);
}

/** New bytes for the limits found at a start offset, up to `end`. */
interface Replacement {
  end: number;
  bytes: number[];
}

/** A copy of `module` with each replacement applied and the sections holding one re-framed. */
function replaceLimits(module: Uint8Array, replacements: Map<number, Replacement>): Uint8Array {
  if (replacements.size === 0) return module;
  const parts: Uint8Array[] = [module.subarray(0, PREAMBLE_BYTES)];
  for (const section of readSections(module)) {
    const inside = [...replacements].filter(([s]) => s >= section.contentStart && s < section.end).sort(([a], [b]) => a - b);
    if (inside.length === 0) {
      parts.push(module.subarray(section.start, section.end));
      continue;
    }
    const content: Uint8Array[] = [];
    let cursor = section.contentStart;
    for (const [start, replacement] of inside) {
      content.push(module.subarray(cursor, start), Uint8Array.from(replacement.bytes));
      cursor = replacement.end;
    }
    content.push(module.subarray(cursor, section.end));
    const contentLength = content.reduce((n, c) => n + c.length, 0);
    parts.push(Uint8Array.from([section.id, ...encodeUnsigned(contentLength)]), ...content);
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
