// The puppet fixture plugin (test/fixtures/puppet: format `puppet`, returns whatever the
// test tells it to) and what its refusals look like.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../support/fixtures.js';
import { pluginFolder, type Answer, type E2E } from './harness.js';

export function expectInvalidResponse(answer: Answer, field: RegExp): void {
  // Only the start of what came back: before the checks, a 6-million-character version did.
  expect(answer.status, answer.text.slice(0, 300)).to.equal(502);
  expect(answer.json.error, answer.text.slice(0, 300)).to.equal('plugin_invalid_response');
  expect(answer.json.message).to.match(field);
  expect(answer.json.message.length, 'a short message, whatever the plugin sent').to.be.below(400);
}

/** Installs the puppet fixture plugin (format `puppet`). */
export async function installPuppet(e2e: E2E): Promise<void> {
  const toml = await readFile(path.join(repoRoot, 'test/fixtures/puppet/plugin.toml'), 'utf8');
  const installed = await e2e.call('POST', '/api/v1/plugins/install/local', { body: { path: await pluginFolder(e2e.localRoot, 'puppet', toml, 'puppet') } });
  expect(installed.status, installed.text).to.equal(201);
}
