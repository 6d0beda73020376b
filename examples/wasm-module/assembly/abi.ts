// The canonical ABI of the component model, the few pieces this plugin needs, by hand:
// AssemblyScript has no bindings generator for components. (wasm32: pointers and lengths
// are u32; a string is a pointer to UTF-8 bytes and their length.)
//
// Memory: the stub runtime's bump allocator serves both the host, which copies arguments in
// through cabi_realloc, and this code (strings, arrays, results). Once the host has copied
// a result out it calls the export's post-return function, which empties the whole heap.
// So nothing allocated may outlive a call: no objects in globals, only constants.

/** Results that do not fit in one return value are written here; the export returns its address. */
export const RETURN_AREA: usize = memory.data(64, 8);

/**
 * The host asks for memory here to copy arguments in (`oldPtr` 0). The stub allocator
 * aligns every block to 16 bytes, more than any type here needs.
 */
export function cabi_realloc(oldPtr: usize, oldSize: usize, align: usize, newSize: usize): usize {
  return oldPtr == 0 ? heap.alloc(newSize) : heap.realloc(oldPtr, newSize);
}

/** Every export's post-return function: the host has its copy of the result. */
export function postReturn(_returnArea: usize): void {
  heap.reset();
}

/** A string argument. */
export function liftString(ptr: usize, len: usize): string {
  return String.UTF8.decodeUnsafe(ptr, len);
}

/** Stores a string value (pointer to UTF-8, length) at `at`. */
export function storeString(at: usize, text: string): void {
  storeBytes(at, String.UTF8.encode(text));
}

/** Stores a list<u8> value (pointer, length) at `at`. */
export function storeBytes(at: usize, bytes: ArrayBuffer): void {
  store<usize>(at, changetype<usize>(bytes));
  store<u32>(at, bytes.byteLength, 4);
}

/** Stores an option<string> (discriminant, then the string 4 bytes on) at `at`. */
export function storeOptionString(at: usize, text: string | null): void {
  if (text == null) {
    store<u8>(at, 0);
  } else {
    store<u8>(at, 1);
    storeString(at + 4, text);
  }
}

/**
 * Writes `err(message)` of a result whose payload starts `payloadOffset` bytes into the
 * return area (the payload's alignment decides it) and returns the area.
 */
export function returnErr(message: string, payloadOffset: usize): usize {
  store<u8>(RETURN_AREA, 1);
  storeString(RETURN_AREA + payloadOffset, message);
  return RETURN_AREA;
}
