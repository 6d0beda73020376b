/**
 * Throughput of the binary framing against vscode-jsonrpc's stock stream transport.
 *
 * Both carry the same workload through a real child process (this file, started with
 * `--child <transport>`): 32 `echo` requests in flight, each with a random payload that the
 * child sends back. With binary frames the payload is a Uint8Array at both ends; with the
 * stock transport it travels as base64, encoded and decoded at each end so that both sides
 * still hold bytes.
 *
 * The two transports take turns in short rounds and each figure is the median of its
 * rounds, so that load from other processes on the machine hits both alike.
 *
 * Prints one JSON line per figure: `value` is the binary framing, `baseline` the stock
 * transport. MB/s counts request payload bytes (10^6) per second; each is echoed back, so
 * the pipes carry twice that.
 *
 * Usage: npm run bench -- framing
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { BinaryMessageReader, BinaryMessageWriter } from '../protocol/framing.js';

type Transport = 'binary' | 'stock';

const IN_FLIGHT = 32;
const WARMUP_MS = 300;
const ROUND_MS = 700;
const ROUNDS = 3;

const PAYLOAD_SIZES = { '1KiB': 1024, '64KiB': 64 * 1024, '1MiB': 1024 * 1024 };

function connect(transport: Transport, input: Readable, output: Writable): MessageConnection {
  if (transport === 'binary') {
    return createMessageConnection(new BinaryMessageReader(input), new BinaryMessageWriter(output));
  }
  return createMessageConnection(new StreamMessageReader(input), new StreamMessageWriter(output));
}

function runChild(transport: Transport): void {
  const connection = connect(transport, process.stdin, process.stdout);
  if (transport === 'binary') {
    connection.onRequest('echo', (params: { data: Uint8Array }) => params);
  } else {
    connection.onRequest('echo', ({ data }: { data: string }) => {
      const bytes = Buffer.from(data, 'base64');
      return { data: bytes.toString('base64') };
    });
  }
  connection.onClose(() => process.exit(0));
  connection.listen();
}

interface Child {
  echo(payload: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

function startChild(transport: Transport): Child {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', transport], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const connection = connect(transport, child.stdout, child.stdin);
  connection.listen();
  const echo =
    transport === 'binary'
      ? async (payload: Uint8Array) => (await connection.sendRequest<{ data: Uint8Array }>('echo', { data: payload })).data
      : async (payload: Uint8Array) => {
          const base64 = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64');
          const reply = await connection.sendRequest<{ data: string }>('echo', { data: base64 });
          return Buffer.from(reply.data, 'base64');
        };
  return {
    echo,
    async close() {
      const exited = once(child, 'exit');
      connection.dispose();
      child.stdin.end();
      await exited;
    },
  };
}

/** Keeps IN_FLIGHT calls going for `durationMs`; returns completed calls per second. */
async function callsPerSecond(child: Child, payload: Uint8Array, durationMs: number): Promise<number> {
  const started = performance.now();
  const deadline = started + durationMs;
  let completed = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const echoed = await child.echo(payload);
      if (echoed.byteLength !== payload.byteLength) throw new Error('echo returned a different payload length');
      completed++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, caller));
  return completed / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function report(metric: string, value: number, baseline: number, unit: string): void {
  const round = (n: number) => Math.round(n * 10) / 10;
  const line = { bench: 'framing', metric, value: round(value), unit, baseline: round(baseline) };
  console.log(JSON.stringify({ ...line, ratio: Math.round((value / baseline) * 100) / 100 }));
}

export async function run(): Promise<void> {
  const children: Record<Transport, Child> = { binary: startChild('binary'), stock: startChild('stock') };
  const medians = new Map<string, Record<Transport, number>>();
  for (const [size, length] of Object.entries(PAYLOAD_SIZES)) {
    const payload = randomFillSync(new Uint8Array(length));
    const rounds: Record<Transport, number[]> = { binary: [], stock: [] };
    for (const transport of ['binary', 'stock'] as const) await callsPerSecond(children[transport], payload, WARMUP_MS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const transport of ['binary', 'stock'] as const) {
        rounds[transport].push(await callsPerSecond(children[transport], payload, ROUND_MS));
      }
    }
    medians.set(size, { binary: median(rounds.binary), stock: median(rounds.stock) });
  }
  await Promise.all([children.binary.close(), children.stock.close()]);

  const small = medians.get('1KiB')!;
  const medium = medians.get('64KiB')!;
  const large = medians.get('1MiB')!;
  const megabytesPerSecond = (calls: number) => (calls * PAYLOAD_SIZES['1MiB']) / 1e6;
  report('calls_per_s_1KiB', small.binary, small.stock, 'calls/s');
  report('calls_per_s_64KiB', medium.binary, medium.stock, 'calls/s');
  report('MB_per_s_1MiB', megabytesPerSecond(large.binary), megabytesPerSecond(large.stock), 'MB/s');
}

// The same file is the echo child the benchmark starts (see startChild).
if (process.argv[2] === '--child') runChild(process.argv[3] as Transport);
