import { expect } from 'chai';
import wabtInit from 'wabt';
import { capMemories, capTables, MAX_TABLE_ELEMENTS, readMemories, WasmFormatError, WASM_PAGE_BYTES } from '../../protocol/wasm-memory.js';

type Features = Parameters<Awaited<ReturnType<typeof wabtInit>>['parseWat']>[2];

const wabt = await wabtInit();

function wat(source: string, features: Features = {}): Uint8Array {
  const module = wabt.parseWat('test.wat', source, features);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** A module whose memory tries to grow by `pages` and reports memory.grow's result (-1 = refused). */
const growable = (memory: string) =>
  wat(`(module
    ${memory}
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "pages") (result i32) (memory.size)))`);

interface GrowExports {
  grow(pages: number): number;
  pages(): number;
}

async function instantiate(bytes: Uint8Array, imports: WebAssembly.Imports = {}): Promise<GrowExports> {
  const instance = await WebAssembly.instantiate(compile(bytes), imports);
  return instance.exports as unknown as GrowExports;
}

/** wabt and the rewriter hand out Uint8Array<ArrayBufferLike>; WebAssembly's typings want an ArrayBuffer view. */
function compile(bytes: Uint8Array): WebAssembly.Module {
  return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
}

describe('wasm-memory', () => {
  it('reads a memory without a maximum and caps it so memory.grow fails past the cap', async () => {
    const bytes = growable('(memory 2)');
    expect(readMemories(bytes)).to.deep.equal([
      { index: 0, import: null, initialPages: 2, maximumPages: null, shared: false, memory64: false },
    ]);

    const capped = capMemories(bytes, 16);
    expect(readMemories(capped)[0]).to.include({ initialPages: 2, maximumPages: 16 });
    const guest = await instantiate(capped);
    expect(guest.grow(14)).to.equal(2, 'growing up to the cap succeeds');
    expect(guest.grow(1)).to.equal(-1, 'one page past the cap is refused inside the guest');
    expect(guest.pages()).to.equal(16);
  });

  it('lowers a larger maximum and keeps a smaller one', () => {
    expect(readMemories(capMemories(growable('(memory 1 100)'), 16))[0]!.maximumPages).to.equal(16);
    expect(readMemories(capMemories(growable('(memory 1 4)'), 16))[0]!.maximumPages).to.equal(4);
  });

  it('handles page counts that need multi-byte LEB128 and keeps the module valid', async () => {
    const capped = capMemories(growable('(memory 300)'), 1024);
    expect(readMemories(capped)[0]).to.include({ initialPages: 300, maximumPages: 1024 });
    const guest = await instantiate(capped);
    expect(guest.pages()).to.equal(300);
  });

  it('caps an imported memory, so it only links against a memory that is capped as well', async () => {
    const bytes = wat(`(module
      (import "env" "log" (func $log (param i32)))
      (import "env" "table" (table 1 funcref))
      (import "env" "base" (global i32))
      (import "env" "mem" (memory 1))
      (data (i32.const 0) "\\2a")
      (func (export "first") (result i32) (i32.load8_u (i32.const 0))))`);
    expect(readMemories(bytes)).to.deep.equal([
      { index: 0, import: { module: 'env', name: 'mem' }, initialPages: 1, maximumPages: null, shared: false, memory64: false },
    ]);

    const capped = capMemories(bytes, 16);
    expect(readMemories(capped)[0]).to.include({ initialPages: 1, maximumPages: 16 });
    const env = (memory: WebAssembly.Memory) => ({
      env: { log: () => undefined, table: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }), base: 0, mem: memory },
    });
    let uncappedLink: unknown;
    try {
      await WebAssembly.instantiate(compile(capped), env(new WebAssembly.Memory({ initial: 1 })));
    } catch (error) {
      uncappedLink = error;
    }
    expect(uncappedLink).to.be.instanceOf(WebAssembly.LinkError);

    const instance = await WebAssembly.instantiate(compile(capped), env(new WebAssembly.Memory({ initial: 1, maximum: 16 })));
    expect((instance.exports as { first(): number }).first()).to.equal(42, 'the other imports and the data segment survived');
  });

  it('reads and caps a shared memory', () => {
    const bytes = wat('(module (memory 1 10 shared))', { threads: true });
    expect(readMemories(bytes)[0]).to.include({ shared: true, maximumPages: 10 });
    expect(readMemories(capMemories(bytes, 4))[0]).to.include({ shared: true, initialPages: 1, maximumPages: 4 });
  });

  it('reads and caps a memory64 memory (its limits are u64)', () => {
    const bytes = wat('(module (memory i64 3))', { memory64: true });
    expect(readMemories(bytes)[0]).to.include({ memory64: true, initialPages: 3, maximumPages: null });
    expect(readMemories(capMemories(bytes, 1024))[0]).to.include({ memory64: true, initialPages: 3, maximumPages: 1024 });
  });

  it('returns a module without memory unchanged', () => {
    const bytes = wat('(module (func (export "f") (result i32) (i32.const 1)))');
    expect(readMemories(bytes)).to.deep.equal([]);
    expect(capMemories(bytes, 16)).to.equal(bytes);
  });

  it('refuses to cap a memory whose initial size already exceeds the cap', () => {
    expect(() => capMemories(growable(`(memory ${(128 * 1024 * 1024) / WASM_PAGE_BYTES})`), 1024)).to.throw(
      RangeError,
      'memory 0 starts with 2048 pages, more than the cap of 1024 pages',
    );
  });

  it('rejects bytes that are not a core module', () => {
    expect(() => readMemories(new TextEncoder().encode('#!/bin/sh\necho hi\n'))).to.throw(WasmFormatError);
    const component = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    expect(() => readMemories(component)).to.throw(WasmFormatError, 'not a core WebAssembly module');
  });

  it('reports a truncated section', () => {
    const bytes = growable('(memory 1)');
    expect(() => readMemories(bytes.subarray(0, bytes.length - 3))).to.throw(WasmFormatError, 'runs past the end');
  });

  describe('tables', () => {
    /** A module whose table tries to grow by n elements and reports table.grow's result. */
    const growableTable = (table: string, imports = '') =>
      wat(`(module
        ${imports}
        ${table}
        (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
        (func (export "size") (result i32) (table.size $t)))`);

    it('caps a table without a maximum so table.grow past the cap fails in the guest', async () => {
      const module = growableTable('(table $t 1 funcref)');
      const uncapped = (await WebAssembly.instantiate(compile(module))).exports as unknown as { grow(n: number): number };
      expect(uncapped.grow(MAX_TABLE_ELEMENTS * 2)).to.equal(1);
      const capped = (await WebAssembly.instantiate(compile(capTables(module)))).exports as unknown as { grow(n: number): number; size(): number };
      expect(capped.grow(MAX_TABLE_ELEMENTS)).to.equal(-1);
      expect(capped.grow(MAX_TABLE_ELEMENTS - 1)).to.equal(1);
      expect(capped.size()).to.equal(MAX_TABLE_ELEMENTS);
      expect(capped.grow(1)).to.equal(-1);
    });

    it('keeps a smaller maximum, and a table starting above the cap keeps its size but cannot grow', async () => {
      const small = growableTable('(table $t 1 20 funcref)');
      expect(capTables(small)).to.equal(small, 'nothing to change: the same bytes');
      const large = (await WebAssembly.instantiate(compile(capTables(growableTable('(table $t 20000 funcref)'))))).exports as unknown as {
        grow(n: number): number;
        size(): number;
      };
      expect(large.size()).to.equal(20_000);
      expect(large.grow(1)).to.equal(-1);
    });

    it('caps an imported table, so it links only against a table capped as well', async () => {
      const module = capTables(growableTable('', '(import "env" "t" (table $t 1 funcref))'));
      const uncappedTable = new WebAssembly.Table({ element: 'anyfunc', initial: 1 });
      expect(() => new WebAssembly.Instance(compile(module), { env: { t: uncappedTable } })).to.throw(WebAssembly.LinkError);
      const cappedTable = new WebAssembly.Table({ element: 'anyfunc', initial: 1, maximum: 100 });
      const instance = new WebAssembly.Instance(compile(module), { env: { t: cappedTable } });
      expect((instance.exports as unknown as { grow(n: number): number }).grow(200)).to.equal(-1);
    });

    it('leaves memories alone and memories leave tables alone', () => {
      const module = wat('(module (memory 1) (table 1 funcref))');
      expect(readMemories(capTables(module))).to.deep.equal(readMemories(module));
      expect(capTables(capMemories(module, 4))).to.deep.equal(capMemories(capTables(module), 4));
    });
  });
});
