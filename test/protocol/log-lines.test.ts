import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { forwardLines, LINE_CUT_MARKER, LineCutter, MAX_LOG_LINE_BYTES } from '../../protocol/log-lines.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('log lines cut at 8 KiB', () => {
  it('passes lines on whole, across chunks, and keeps a UTF-8 character split between writes', () => {
    const lines: string[] = [];
    const cutter = new LineCutter((line) => lines.push(line));
    const euro = bytes('€');
    cutter.write(bytes('one\ntw'));
    cutter.write(Buffer.concat([bytes('o '), euro.subarray(0, 1)]));
    cutter.write(Buffer.concat([euro.subarray(1), bytes('\n\nthree')]));
    expect(lines).to.deep.equal(['one', 'two €', '']);
    cutter.flush();
    expect(lines).to.deep.equal(['one', 'two €', '', 'three']);
  });

  it('cuts a long line at the limit with the marker and drops the rest of it, until its newline', () => {
    const lines: string[] = [];
    const cutter = new LineCutter((line) => lines.push(line));
    cutter.write(bytes('a'.repeat(MAX_LOG_LINE_BYTES - 1)));
    cutter.write(bytes('bcd'));
    cutter.write(bytes('e'.repeat(100_000)));
    cutter.write(bytes('f\nnext\n'));
    expect(lines).to.deep.equal(['a'.repeat(MAX_LOG_LINE_BYTES - 1) + 'b' + LINE_CUT_MARKER, 'next']);
  });

  it('a line of exactly the limit is not cut', () => {
    const lines: string[] = [];
    const cutter = new LineCutter((line) => lines.push(line));
    cutter.write(bytes('z'.repeat(MAX_LOG_LINE_BYTES) + '\n'));
    expect(lines).to.deep.equal(['z'.repeat(MAX_LOG_LINE_BYTES)]);
  });

  it('forwards 50 MiB without a newline as one cut line, in bounded memory', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    forwardLines(stream, (line) => lines.push(line));
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 800; i++) {
      stream.write(chunk);
      if (i % 50 === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      }
    }
    stream.end('\nafter\n');
    await new Promise((resolve) => stream.on('end', resolve));
    expect(lines).to.deep.equal(['x'.repeat(MAX_LOG_LINE_BYTES) + LINE_CUT_MARKER, 'after']);
    expect(heapPeak - heapBefore, 'heap growth (bytes)').to.be.below(16 * 1024 * 1024);
  });

  it('passes on the unfinished line when the stream ends', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    forwardLines(stream, (line) => lines.push(line));
    stream.end('no newline');
    await new Promise((resolve) => stream.on('end', resolve));
    expect(lines).to.deep.equal(['no newline']);
  });
});
