// The host's reading of a TypeScript plugin's uncaught-error line, with and without a usable
// source map, and with lines a plugin forged or broke.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SourceMapGenerator } from 'source-map-js';
import { GUARD_SOURCE, parseUncaught, StackMapper, UNCAUGHT_MARKER } from '../../plugin-host/uncaught.js';
import { SOURCE_MAP_FILE } from '../../protocol/source-map-section.js';

describe('uncaught errors of TypeScript plugins (plugin host)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'uncaught-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const line = (fields: unknown) => `${UNCAUGHT_MARKER}${JSON.stringify(fields)}\n`;

  it('reads only whole marker lines: ordinary output and damaged JSON are not reports', () => {
    expect(parseUncaught('TypeError: x\n')).to.equal(undefined);
    expect(parseUncaught(`${UNCAUGHT_MARKER}{"name": "TypeError", "mess [line cut at 8192 bytes]\n`)).to.equal(undefined);
    expect(parseUncaught(line({ name: 'TypeError', message: 'x is null', stack: 'f@/b/plugin.js:1:2' }))).to.deep.equal({
      name: 'TypeError',
      message: 'x is null',
      stack: 'f@/b/plugin.js:1:2',
    });
    // Fields of the wrong type are dropped, not trusted.
    expect(parseUncaught(line({ name: 7, message: { a: 1 } }))).to.deep.equal({ name: 'Error', message: '', stack: '' });
  });

  it('maps frames to the author\'s sources and stops at the build\'s wrapper', async () => {
    const map = new SourceMapGenerator({ file: 'plugin.js' });
    map.addMapping({ generated: { line: 10, column: 4 }, original: { line: 29, column: 2 }, source: 'src/index.ts' });
    map.addMapping({ generated: { line: 20, column: 0 }, original: { line: 3, column: 0 }, source: GUARD_SOURCE });
    await writeFile(path.join(dir, SOURCE_MAP_FILE), map.toString());
    const mapped = new StackMapper(dir).map({
      name: 'TypeError',
      message: 'x is null',
      stack: 'versionOf@/tmp/x/plugin.js:10:5\nnot a frame\nguarded@/tmp/x/plugin.js:20:1\nexport$validate@/tmp/x/initializer.js:5:5\n',
    });
    expect(mapped.frames).to.deep.equal(['    at versionOf (src/index.ts:29:3)', '    at not a frame']);
  });

  it('leaves frames as the bundle\'s positions without a map, or with a broken one', async () => {
    const report = { name: 'Error', message: 'm', stack: '@/tmp/x/plugin.js:1:1' };
    expect(new StackMapper(dir).map(report).frames).to.deep.equal(['    at <top level> (/tmp/x/plugin.js:1:1)']);
    await writeFile(path.join(dir, SOURCE_MAP_FILE), '{"version": 3, "mappings": ');
    expect(new StackMapper(dir).map(report).frames).to.deep.equal(['    at <top level> (/tmp/x/plugin.js:1:1)']);
  });

  it('bounds what a forged report can make the error say', () => {
    const report = parseUncaught(line({ name: 'N'.repeat(10_000), message: 'm'.repeat(10_000), stack: `f@${'p'.repeat(1000)}:1:1\n`.repeat(100) }))!;
    const mapped = new StackMapper(dir).map(report);
    expect(mapped.name.length).to.be.at.most(300);
    expect(mapped.message.length).to.be.at.most(2000);
    expect(mapped.frames).to.have.length(30);
    for (const frame of mapped.frames) expect(frame.length).to.be.at.most(300);
  });
});
