/**
 * rpc: parse-metadata calls/s and latency through the process runtime (a VersionPool of the
 * 'good' fixture, one child, then two) against the same transpiled component loaded in this
 * process.
 *
 * Cases: 1 KiB, 64 KiB and 1 MiB payloads, 1 and 32 calls in flight (closed loop). Both
 * paths are warmed up with every size first, and each case again just before it is
 * measured; then measured for a fixed time, alternating runtime and in-process so
 * both see the same machine state. Targets: 1 KiB x32 >= 50,000 calls/s; 1 MiB >= 0.5 of
 * in-process.
 */
import { loadPlugin } from '../plugin-host/loader.js';
import { ParseMetadata } from '../protocol/methods.js';
import { BenchRuntime, closedLoop, describeError, kib, ms, note, payload, procCpuMs, report, type LoadResult } from './lib.js';

const SIZES = [1024, 64 * 1024, 1024 * 1024];
const CONCURRENCY = [1, 32];
const MEMORY_MB = 64;

export async function run(): Promise<void> {
  const env = await BenchRuntime.create();
  try {
    const component = await env.prepare('good');
    const pool = await env.start('good', { memoryMb: MEMORY_MB, timeoutMs: 10_000, instances: 1 });
    const local = await loadPlugin({
      entry: component.entry,
      memoryLimitBytes: MEMORY_MB * 1024 * 1024,
      log: () => undefined,
    });

    // A fresh child needs ~1-1.5 s of calls before its JIT settles (the first case would
    // otherwise measure a cold child), so warm both paths up once with every size first.
    for (const size of SIZES) {
      const { data } = payload(size);
      const warm = { concurrency: 32, durationMs: ms(size === 1024 ? 1500 : 400) };
      await closedLoop({ ...warm, call: () => pool.call(ParseMetadata, { path: 'warm', data }) });
      await closedLoop({ ...warm, durationMs: ms(200), call: () => local.parseMetadata('warm', { data }) });
    }

    for (const size of SIZES) {
      const { data, sum } = payload(size);
      const viaRuntime = () => pool.call(ParseMetadata, { path: 'bench/artifact.demo', data });
      const inProcess = () => local.parseMetadata('bench/artifact.demo', { data });

      // Both paths must compute the same thing before we time them.
      const [a, b] = await Promise.all([viaRuntime(), inProcess()]);
      if (a.version !== String(sum) || b.version !== String(sum)) {
        throw new Error(`wrong answer at ${kib(size)}: runtime ${a.version}, in-process ${b.version}, expected ${sum}`);
      }

      for (const concurrency of CONCURRENCY) {
        const durationMs = ms(size >= 1024 * 1024 ? 2500 : 2000);
        await closedLoop({ concurrency, durationMs: ms(400), call: viaRuntime });
        const pid = pool.pids()[0];
        const childCpu0 = pid === undefined ? null : procCpuMs(pid);
        const ownCpu0 = process.cpuUsage();
        const rt = await closedLoop({ concurrency, durationMs, call: viaRuntime });
        const ownCpu = process.cpuUsage(ownCpu0);
        const childCpu1 = pid === undefined ? null : procCpuMs(pid);
        // Where the time goes: CPU per call in this (supervisor) process and in the child.
        const perCall = (cpuMs: number) => (cpuMs * 1000) / Math.max(1, rt.completed);
        report({ bench: 'rpc', metric: `supervisor_cpu_per_call_${kib(size)}_c${concurrency}`, value: perCall((ownCpu.user + ownCpu.system) / 1000), unit: 'us' });
        if (childCpu0 !== null && childCpu1 !== null && pool.pids()[0] === pid) {
          report({ bench: 'rpc', metric: `child_cpu_per_call_${kib(size)}_c${concurrency}`, value: perCall(childCpu1 - childCpu0), unit: 'us' });
        }
        await closedLoop({ concurrency, durationMs: ms(300), call: inProcess });
        const ip = await closedLoop({ concurrency, durationMs: ms(1000), call: inProcess });
        reportCase(size, concurrency, rt, ip);
      }
    }
    const [info] = await pool.processes();
    if (info) note(`rpc: child ${info.pid} served ${info.callsTotal} calls, ${info.errorsTotal} errors, ${info.restarts} restarts`);
    await pool.drain();

    // The same 32 calls in flight spread over two children (a plugin's `instances = 2`).
    const pair = await env.start('good', { memoryMb: MEMORY_MB, timeoutMs: 10_000, instances: 2 });
    for (const size of SIZES) {
      const { data } = payload(size);
      const viaPair = () => pair.call(ParseMetadata, { path: 'bench/artifact.demo', data });
      const inProcess = () => local.parseMetadata('bench/artifact.demo', { data });
      await closedLoop({ concurrency: 32, durationMs: ms(size === 1024 ? 1500 : 400), call: viaPair });
      const rt = await closedLoop({ concurrency: 32, durationMs: ms(size >= 1024 * 1024 ? 2500 : 2000), call: viaPair });
      await closedLoop({ concurrency: 32, durationMs: ms(300), call: inProcess });
      const ip = await closedLoop({ concurrency: 32, durationMs: ms(1000), call: inProcess });
      reportCase(size, 32, rt, ip, 2);
    }
  } finally {
    await env.close();
  }
}

function reportCase(size: number, concurrency: number, rt: LoadResult, ip: LoadResult, instances = 1): void {
  const bench = 'rpc';
  const label = `${kib(size)}_c${concurrency}${instances > 1 ? `_${instances}instances` : ''}`;
  if (rt.failed > 0 || ip.failed > 0) {
    note(`rpc ${label}: ${rt.failed} runtime / ${ip.failed} in-process calls failed: ${[...rt.errors, ...ip.errors].map(describeError).join('; ')}`);
  }
  const rtRate = (rt.completed * 1000) / rt.elapsedMs;
  const ipRate = (ip.completed * 1000) / ip.elapsedMs;
  report({ bench, metric: `throughput_${label}`, value: rtRate, unit: 'calls/s', baseline: ipRate });
  if (size >= 64 * 1024) {
    const mb = size / 1e6;
    report({ bench, metric: `bandwidth_${label}`, value: rtRate * mb, unit: 'MB/s', baseline: ipRate * mb });
  }
  report({ bench, metric: `p50_${label}`, value: rt.samples.percentile(50) * 1000, unit: 'us', baseline: ip.samples.percentile(50) * 1000 });
  report({ bench, metric: `p99_${label}`, value: rt.samples.percentile(99) * 1000, unit: 'us', baseline: ip.samples.percentile(99) * 1000 });
  if (rt.failed > 0) report({ bench, metric: `failed_${label}`, value: rt.failed, unit: 'calls' });

  if (size === 1024 && concurrency === 32) {
    note(`rpc target 1KiB x32 (${instances} instance(s)) >= 50000 calls/s: ${rtRate >= 50_000 ? 'MET' : 'MISSED'} (${Math.round(rtRate)})`);
  }
  if (size === 1024 * 1024) {
    const ratio = rtRate / ipRate;
    note(`rpc target 1MiB x${concurrency} (${instances} instance(s)) >= 0.5 of in-process: ${ratio >= 0.5 ? 'MET' : 'MISSED'} (${ratio.toFixed(3)})`);
  }
}
