// The source map a TypeScript plugin's component carries: appended by the build, found by the
// transpile step, invisible to everything else that reads the component.
import { expect } from 'chai';
import { componentWit } from '@bytecodealliance/jco-transpile/wasm-tools';
import { appendSourceMap, readSourceMap } from '../../protocol/source-map-section.js';
import { checkComponent } from '../../supervisor/runtime/component.js';
import { fixtureWasm } from '../support/fixtures.js';

describe('the source map section of a component', () => {
  const map = JSON.stringify({ version: 3, sources: ['src/index.ts'], names: [], mappings: 'AAAA' });

  it('reads back what was appended, and nothing from a component without one', async () => {
    const component = await fixtureWasm('good');
    expect(readSourceMap(component)).to.equal(undefined);
    const withMap = appendSourceMap(component, map);
    expect(new TextDecoder().decode(readSourceMap(withMap))).to.equal(map);
    // A map of more than 127 bytes needs a multi-byte section size.
    const large = JSON.stringify({ version: 3, sources: ['x'.repeat(100_000)], names: [], mappings: '' });
    expect(new TextDecoder().decode(readSourceMap(appendSourceMap(component, large)))).to.equal(large);
  });

  it('leaves the component what it was: same interface, accepted by the install checks', async () => {
    const component = await fixtureWasm('good');
    const withMap = appendSourceMap(component, map);
    expect(await componentWit(withMap)).to.equal(await componentWit(component));
    expect(await checkComponent(withMap, { memoryLimitBytes: 64 * 1024 * 1024, requireRequestHandler: false })).to.deep.equal([]);
  });
});
