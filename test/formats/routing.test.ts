// The routing table's operations, over stand-in handlers (no process behind them): what
// serves a key after each, and what each hands back to drain.
import { expect } from 'chai';
import type { FormatHandler, PluginHandler } from '../../supervisor/formats/handler.js';
import { RoutingTable } from '../../supervisor/formats/routing.js';
import { FormatUnavailable } from '../../supervisor/formats/errors.js';

function handler(formatKey: string, version = '1.0.0'): PluginHandler {
  return { formatKey, version, handlerType: 'wasm' } as unknown as PluginHandler;
}

describe('routing table', () => {
  it('serves a plugin\'s key while it is enabled; the handler stays when it is disabled', () => {
    const routing = new RoutingTable();
    const v1 = handler('demo');
    expect(routing.activate('p1', v1, true)).to.equal(undefined);
    expect(routing.require('demo')).to.equal(v1);
    routing.setEnabled('demo', false);
    expect(routing.get('demo')).to.equal(undefined);
    expect(() => routing.require('demo')).to.throw(FormatUnavailable, '"demo"');
    expect(routing.plugin('p1')).to.equal(v1);
    routing.setEnabled('demo', true);
    expect(routing.require('demo')).to.equal(v1);
  });

  it('replace keeps the key enabled or disabled and returns the old version to drain', () => {
    const routing = new RoutingTable();
    const [v1, v2, v3] = [handler('demo', '1'), handler('demo', '2'), handler('demo', '3')];
    routing.activate('p1', v1, true);
    expect(routing.replace('p1', v2)).to.equal(v1);
    expect(routing.require('demo')).to.equal(v2);
    routing.setEnabled('demo', false);
    expect(routing.replace('p1', v3)).to.equal(v2);
    expect(routing.get('demo')).to.equal(undefined);
    expect(routing.plugin('p1')).to.equal(v3);
    // Activating sets the flag anew.
    expect(routing.activate('p1', v1, true)).to.equal(v3);
    expect(routing.require('demo')).to.equal(v1);
  });

  it('retire takes a plugin out and returns it; retireAll takes every plugin, never a core handler', () => {
    const routing = new RoutingTable();
    const core = { formatKey: 'maven', handlerType: 'core' } as unknown as FormatHandler;
    routing.addCore(core, true);
    const [a, b] = [handler('a'), handler('b')];
    routing.activate('pa', a, true);
    routing.activate('pb', b, false);
    expect(routing.plugins().map(([id]) => id).sort()).to.deep.equal(['pa', 'pb']);
    expect(routing.retire('pa')).to.equal(a);
    expect(routing.retire('pa')).to.equal(undefined);
    expect(routing.get('a')).to.equal(undefined);
    expect(routing.retireAll()).to.deep.equal([b]);
    expect(routing.plugins()).to.deep.equal([]);
    expect(routing.require('maven')).to.equal(core);
    routing.setEnabled('maven', false);
    expect(routing.get('maven')).to.equal(undefined);
    routing.setEnabled('nothing', true);
    expect(routing.get('nothing')).to.equal(undefined);
  });
});
