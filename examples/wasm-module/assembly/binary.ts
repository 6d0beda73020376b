// What is checked in a WebAssembly binary (core module or component): the preamble, then
// each section's id and size, which must fit in the file (the sizes are unsigned LEB128).
// A custom section's name must fit in its section, and a core module has each known
// section at most once. What is inside the sections is not checked.

/** Returns what is wrong with the binary, or null when its structure holds. */
export function checkBinary(data: usize, length: u32): string | null {
  if (length < 4 || load<u32>(data) != 0x6d736100) {
    return 'not a WebAssembly binary: it does not start with the magic bytes 00 61 73 6d ("\\0asm")';
  }
  if (length < 8) return 'the WebAssembly preamble is cut off: the file has ' + length.toString() + ' of its 8 bytes';
  const version = load<u32>(data, 4);
  const component = version == 0x0001000d;
  if (!component && version != 1) {
    return 'unknown WebAssembly version 0x' + version.toString(16) + ': neither a core module (1) nor a component (0x1000d)';
  }

  const reader = new Reader(data, length);
  reader.position = 8;
  let seen: u32 = 0; // core section ids met so far, as bits
  while (reader.position < length) {
    const start = reader.position;
    const id = reader.byte();
    const size = reader.leb();
    if (size < 0) return 'the section header at byte ' + start.toString() + (size == TRUNCATED ? ' is cut off' : ' has a malformed size');
    const name = sectionName(component, id);
    if (name == null) return 'byte ' + start.toString() + ' starts a section with id ' + id.toString() + ', which a WebAssembly ' + (component ? 'component' : 'module') + ' does not have';
    const remaining = length - reader.position;
    if (<u64>size > <u64>remaining) {
      return 'the ' + name + ' section at byte ' + start.toString() + ' claims ' + size.toString() + ' bytes, but only ' + remaining.toString() + ' follow';
    }
    const end = reader.position + <u32>size;
    if (id == 0) {
      const nameLength = reader.leb();
      if (nameLength < 0 || <u64>reader.position + <u64>nameLength > <u64>end) {
        return 'the custom section at byte ' + start.toString() + ' has a name longer than the section';
      }
    } else if (!component) {
      if (seen & (1 << id)) return 'the ' + name + ' section appears twice, the second time at byte ' + start.toString();
      seen |= 1 << id;
    }
    reader.position = end;
  }
  return null;
}

const TRUNCATED: i64 = -1;
const MALFORMED: i64 = -2;

class Reader {
  position: u32 = 0;

  constructor(private data: usize, private length: u32) {}

  byte(): u8 {
    return load<u8>(this.data + this.position++);
  }

  /** An unsigned LEB128 u32, or TRUNCATED / MALFORMED. */
  leb(): i64 {
    let result: u64 = 0;
    for (let shift: u64 = 0; shift < 35; shift += 7) {
      if (this.position >= this.length) return TRUNCATED;
      const byte = this.byte();
      result |= (<u64>(byte & 0x7f)) << shift;
      if ((byte & 0x80) == 0) return result > 0xffffffff ? MALFORMED : <i64>result;
    }
    return MALFORMED;
  }
}

/** The section's name, or null for an id the binary's kind does not define. */
function sectionName(component: bool, id: u8): string | null {
  if (id == 0) return 'custom';
  if (component) {
    switch (id) {
      case 1: return 'core module';
      case 2: return 'core instance';
      case 3: return 'core type';
      case 4: return 'component';
      case 5: return 'instance';
      case 6: return 'alias';
      case 7: return 'type';
      case 8: return 'canon';
      case 9: return 'start';
      case 10: return 'import';
      case 11: return 'export';
      case 12: return 'value';
    }
    return null;
  }
  switch (id) {
    case 1: return 'type';
    case 2: return 'import';
    case 3: return 'function';
    case 4: return 'table';
    case 5: return 'memory';
    case 6: return 'global';
    case 7: return 'export';
    case 8: return 'start';
    case 9: return 'element';
    case 10: return 'code';
    case 11: return 'data';
    case 12: return 'data count';
    case 13: return 'tag';
  }
  return null;
}
