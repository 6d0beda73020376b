// A component that writes to wasi:cli/stdout, built at test time (no fixture prints).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import wabtInit from 'wabt';
import { repoRoot } from './fixtures.js';

/**
 * A component that prints through wasi:cli/stdout (no fixture does): format-key writes
 * `text` (ASCII, at most 8 KiB) `times` times with output-stream.blocking-write-and-flush,
 * then returns "logger". Its WIT declares only the parts of wasi:io and wasi:cli it uses.
 * The default prints one line; 12,800 times 4 KiB of "x" is 50 MiB without a newline.
 */
export async function stdoutLoggerComponent(text = 'hello from the guest\n', times = 1): Promise<Uint8Array> {
  const witSource =
    (await readFile(join(repoRoot, 'wit/format-plugin.wit'), 'utf8')) +
    `
world stdout-logger {
  import wasi:cli/stdout@0.2.0;
  export handler;
}

package wasi:io@0.2.0 {
  interface error {
    resource error;
  }
  interface streams {
    use error.{error};
    variant stream-error { last-operation-failed(error), closed }
    resource output-stream {
      blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
    }
  }
}

package wasi:cli@0.2.0 {
  interface stdout {
    use wasi:io/streams@0.2.0.{output-stream};
    get-stdout: func() -> output-stream;
  }
}
`;
  const handler = 'artifact-keeper:format/handler@1.0.0';
  const wat = `(module
    (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get_stdout (result i32)))
    (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
    (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop (param i32)))
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 16384))
    (data (i32.const 16) "logger")
    (data (i32.const 8192) "${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}")
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $bump))
      (global.set $bump (i32.add (global.get $bump) (local.get 3)))
      (local.get $p))
    (func (export "${handler}#format-key") (result i32)
      (local $out i32) (local $left i32)
      (local.set $out (call $get_stdout))
      (local.set $left (i32.const ${times}))
      (loop $again
        (call $write (local.get $out) (i32.const 8192) (i32.const ${text.length}) (i32.const 2048))
        (local.set $left (i32.sub (local.get $left) (i32.const 1)))
        (br_if $again (local.get $left)))
      (call $drop (local.get $out))
      (i32.store (i32.const 1024) (i32.const 16))
      (i32.store (i32.const 1028) (i32.const 6))
      (i32.const 1024))
    (func (export "${handler}#parse-metadata") (param i32 i32 i32 i32) (result i32) unreachable)
    (func (export "${handler}#validate") (param i32 i32 i32 i32) (result i32)
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i32.const 1024))
    (func (export "${handler}#generate-index") (param i32 i32) (result i32)
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i32.store8 (i32.const 1028) (i32.const 0))
      (i32.const 1024)))`;
  const wabt = await wabtInit();
  const module = wabt.parseWat('stdout-logger.wat', wat);
  try {
    const binary = module.toBinary({}).buffer;
    return await componentNew(await componentEmbed({ binary, witSource, world: 'stdout-logger' }), []);
  } finally {
    module.destroy();
  }
}
