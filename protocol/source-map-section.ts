/**
 * A plugin component's source map, carried inside the component as a custom section, so it
 * travels wherever plugin.wasm goes (a ZIP, a Git install, a signature covers it) and a
 * stack from the bundled JavaScript can be told in the author's TypeScript lines.
 *
 * The build (cli/plugin-build.ts) appends it; the transpile step (supervisor/runtime/
 * transpile-worker.ts) writes it beside the transpiled module; the plugin host maps an
 * uncaught error's stack with it (plugin-host/uncaught.ts).
 */
import { encodeUnsigned, readSections, WasmReader } from './wasm-memory.js';

export const SOURCE_MAP_SECTION = 'plugin-keeper:source-map';
/** The file name of the map in the transpiled component's folder. */
export const SOURCE_MAP_FILE = 'source-map.json';
/** A larger map is not kept: mapping is a courtesy, not worth unbounded memory. */
export const MAX_SOURCE_MAP_BYTES = 4 * 1024 * 1024;

const CUSTOM_SECTION_ID = 0;

/** The component with `map` (source map JSON) appended as a custom section. */
export function appendSourceMap(component: Uint8Array, map: string): Uint8Array {
  const encoder = new TextEncoder();
  const name = encoder.encode(SOURCE_MAP_SECTION);
  const payload = encoder.encode(map);
  const content = [...encodeUnsigned(name.byteLength), ...name];
  const header = Uint8Array.from([CUSTOM_SECTION_ID, ...encodeUnsigned(content.length + payload.byteLength), ...content]);
  const out = new Uint8Array(component.byteLength + header.byteLength + payload.byteLength);
  out.set(component, 0);
  out.set(header, component.byteLength);
  out.set(payload, component.byteLength + header.byteLength);
  return out;
}

/** The source map a component carries (the bytes of its JSON), or undefined. */
export function readSourceMap(component: Uint8Array): Uint8Array | undefined {
  // Top-level sections only: the section the build appends is the component's last.
  for (const section of readSections(component).reverse()) {
    if (section.id !== CUSTOM_SECTION_ID) continue;
    const reader = new WasmReader(component, section.contentStart);
    if (reader.name() === SOURCE_MAP_SECTION) return component.subarray(reader.offset, section.end);
  }
  return undefined;
}
