import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { expect } from 'chai';
import { ServiceError } from '../../supervisor/services/errors.js';
import { PLUGIN_ID, samplePlugin } from './doubles.js';
import { ADMIN_TOKEN, MAX_ZIP_BYTES, form, startHarness, type Answer, type Harness } from './harness.js';

const exists = (file: string) => access(file).then(() => true, () => false);

describe('http: plugin routes', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  /** A 400 whose message and validation_errors name `field`. */
  const expect400 = (answer: Answer, field: string) => {
    expect(answer.status, answer.text).to.equal(400);
    expect(answer.json.error).to.equal('bad_request');
    expect(answer.json.message).to.include(field);
    expect(answer.json.validation_errors.map((problem: { field: string }) => problem.field)).to.include(field);
  };

  describe('aliases', () => {
    const requests: [string, string, unknown?][] = [
      ['GET', '?status=active&page=2&per_page=5'],
      ['GET', `/${PLUGIN_ID}`],
      ['POST', '/install/git', { url: 'https://git.example/unity.git', ref: 'v1' }],
      ['POST', '/install/local', { path: '/srv/plugins/unity' }],
      ['POST', `/${PLUGIN_ID}/enable`],
      ['POST', `/${PLUGIN_ID}/disable`],
      ['POST', `/${PLUGIN_ID}/reload`, { ref: 'v2' }],
      ['PUT', `/${PLUGIN_ID}/limits`, { memory_mb: 128 }],
      ['DELETE', `/${PLUGIN_ID}?force=true`],
      ['GET', `/${PLUGIN_ID}/events?severity=error&limit=5`],
      ['GET', `/${PLUGIN_ID}/processes`],
      ['GET', '/not-a-uuid'],
    ];
    for (const [method, path, body] of requests) {
      it(`${method} /api/v1/plugins${path} and /api/plugins${path} answer alike`, async () => {
        const v1 = await h.call(method, `/api/v1/plugins${path}`, { body });
        const v1Calls = [...h.plugins.calls];
        h.plugins.reset();
        const alias = await h.call(method, `/api/plugins${path}`, { body });
        expect(alias.status).to.equal(v1.status);
        expect(alias.text).to.equal(v1.text);
        expect(h.plugins.calls).to.deep.equal(v1Calls);
      });
    }
  });

  describe('GET /', () => {
    it('pages with per_page 20 by default', async () => {
      const answer = await h.call('GET', '/api/v1/plugins');
      expect(answer.status).to.equal(200);
      expect(answer.json).to.deep.equal({ items: [samplePlugin()], total: 1, page: 1, per_page: 20 });
      expect(h.plugins.calls).to.deep.equal([{ method: 'list', args: [{ status: undefined, plugin_type: undefined, page: 1, per_page: 20 }] }]);
    });

    it('passes the filters on', async () => {
      await h.call('GET', '/api/v1/plugins?status=error&plugin_type=format_handler&page=3&per_page=100');
      expect(h.plugins.calls[0]!.args).to.deep.equal([{ status: 'error', plugin_type: 'format_handler', page: 3, per_page: 100 }]);
    });

    it('takes an empty filter for no filter', async () => {
      await h.call('GET', '/api/v1/plugins?status=&page=');
      expect(h.plugins.calls[0]!.args).to.deep.equal([{ status: undefined, plugin_type: undefined, page: 1, per_page: 20 }]);
    });

    const bad: [string, string][] = [
      ['status=enabled', 'status'],
      ['status=ACTIVE', 'status'],
      ['status=active&status=error', 'status'],
      ['plugin_type=repository', 'plugin_type'],
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['page=1.5', 'page'],
      ['page=two', 'page'],
      ['per_page=0', 'per_page'],
      ['per_page=101', 'per_page'],
    ];
    for (const [query, field] of bad) {
      it(`?${query} → 400 naming ${field}`, async () => {
        expect400(await h.call('GET', `/api/v1/plugins?${query}`), field);
        expect(h.plugins.calls).to.be.empty;
      });
    }

    it('reports every bad parameter at once', async () => {
      const answer = await h.call('GET', '/api/v1/plugins?status=x&per_page=1000');
      expect(answer.json.validation_errors.map((problem: { field: string }) => problem.field)).to.deep.equal(['status', 'per_page']);
    });
  });

  describe(':id', () => {
    const routes: [string, string][] = [
      ['GET', ''],
      ['POST', '/enable'],
      ['POST', '/disable'],
      ['POST', '/reload'],
      ['PUT', '/limits'],
      ['DELETE', ''],
      ['GET', '/events'],
      ['GET', '/processes'],
    ];
    for (const [method, suffix] of routes) {
      it(`${method} /:id${suffix} with an id that is not a UUID → 400`, async () => {
        expect400(await h.call(method, `/api/v1/plugins/1234${suffix}`, { body: method === 'PUT' ? { memory_mb: 1 } : undefined }), 'id');
        expect(h.plugins.calls).to.be.empty;
      });
    }

    it('takes a UUID in any case and passes it on lowercase', async () => {
      const answer = await h.call('GET', `/api/v1/plugins/${PLUGIN_ID.toUpperCase()}`);
      expect(answer.status).to.equal(200);
      expect(h.plugins.calls).to.deep.equal([{ method: 'get', args: [PLUGIN_ID] }]);
    });

    it('enable and disable answer with the plugin', async () => {
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/enable`)).json).to.deep.equal(samplePlugin());
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/disable`)).json.status).to.equal('disabled');
    });
  });

  describe('GET /:id/events', () => {
    it('returns up to 50 events by default', async () => {
      const answer = await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/events`);
      expect(answer.status).to.equal(200);
      expect(answer.json.items).to.have.length(1);
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { severity: undefined, limit: 50 }]);
    });

    it('passes severity and limit on', async () => {
      await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/events?severity=warning&limit=100`);
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { severity: 'warning', limit: 100 }]);
    });

    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['severity=fatal', 'severity'],
    ] as const) {
      it(`?${query} → 400`, async () => {
        expect400(await h.call('GET', `/api/v1/plugins/${PLUGIN_ID}/events?${query}`), field);
      });
    }
  });

  describe('PUT /:id/limits', () => {
    it('passes the given limits on', async () => {
      const answer = await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: { memory_mb: 1024, timeout_secs: 1, instances: 16 } });
      expect(answer.status).to.equal(200);
      expect(answer.json.resource_limits).to.deep.equal({ memory_mb: 1024, timeout_secs: 1, instances: 16 });
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { memory_mb: 1024, timeout_secs: 1, instances: 16 }]);
    });

    it('takes a single field', async () => {
      await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: { timeout_secs: 30 } });
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { timeout_secs: 30 }]);
    });

    const bad: [string, unknown, string][] = [
      ['memory_mb 0', { memory_mb: 0 }, 'memory_mb'],
      ['memory_mb 1025', { memory_mb: 1025 }, 'memory_mb'],
      ['timeout_secs 0', { timeout_secs: 0 }, 'timeout_secs'],
      ['timeout_secs 301', { timeout_secs: 301 }, 'timeout_secs'],
      ['instances 0', { instances: 0 }, 'instances'],
      ['instances 17', { instances: 17 }, 'instances'],
      ['a fraction', { memory_mb: 64.5 }, 'memory_mb'],
      ['a numeric string', { memory_mb: '64' }, 'memory_mb'],
      ['an unknown field', { memory: 64 }, 'memory'],
      ['no field', {}, 'body'],
      ['an array', [64], 'body'],
    ];
    for (const [what, body, field] of bad) {
      it(`${what} → 400 with validation_errors`, async () => {
        expect400(await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body }), field);
        expect(h.plugins.calls).to.be.empty;
      });
    }

    it('lists every problem at once', async () => {
      const answer = await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: { memory_mb: 0, timeout_secs: 999, instances: 2 } });
      expect(answer.json.validation_errors).to.deep.equal([
        { field: 'memory_mb', message: 'field "memory_mb" must be a whole number from 1 to 1024, got 0' },
        { field: 'timeout_secs', message: 'field "timeout_secs" must be a whole number from 1 to 300, got 999' },
      ]);
    });

    it('no body → 400', async () => {
      expect400(await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`), 'body');
    });

    it('malformed JSON → 400 invalid_json', async () => {
      const answer = await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: '{"memory_mb": ', headers: { 'content-type': 'application/json' } });
      expect(answer.status).to.equal(400);
      expect(answer.json.error).to.equal('invalid_json');
    });

    it('a JSON body over 1 MiB → 413', async () => {
      const huge = JSON.stringify({ memory_mb: 64, padding: 'x'.repeat(1024 * 1024) });
      const answer = await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: huge, headers: { 'content-type': 'application/json' } });
      expect(answer.status).to.equal(413);
      expect(answer.json.error).to.equal('payload_too_large');
    });

    it('a chunked JSON body (no Content-Length) over 1 MiB → 413 once the limit is passed', async () => {
      const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"memory_mb": 64'));
          else if (sent > 40) controller.close();
          else controller.enqueue(chunk);
          sent += 1;
        },
      });
      const response = await fetch(`${h.base}/api/v1/plugins/${PLUGIN_ID}/limits`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(response.status).to.equal(413);
      expect((await response.json()).error).to.equal('payload_too_large');
      expect(h.plugins.calls).to.be.empty;
    });

    it('another Content-Type → 415', async () => {
      const answer = await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: 'memory_mb=64', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(answer.status).to.equal(415);
      expect(answer.json.error).to.equal('unsupported_media_type');
    });

    it('a body without Content-Type is read as JSON', async () => {
      const answer = await h.call('PUT', `/api/v1/plugins/${PLUGIN_ID}/limits`, { body: Buffer.from('{"instances": 2}') });
      expect(answer.status).to.equal(200);
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { instances: 2 }]);
    });
  });

  describe('DELETE /:id', () => {
    it('204 with an empty body, force false by default', async () => {
      const answer = await h.call('DELETE', `/api/v1/plugins/${PLUGIN_ID}`);
      expect(answer.status).to.equal(204);
      expect(answer.text).to.equal('');
      expect(h.plugins.calls).to.deep.equal([{ method: 'uninstall', args: [PLUGIN_ID, { force: false }] }]);
    });

    it('?force=true forces', async () => {
      expect((await h.call('DELETE', `/api/v1/plugins/${PLUGIN_ID}?force=true`)).status).to.equal(204);
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { force: true }]);
    });

    it('?force=yes → 400', async () => {
      expect400(await h.call('DELETE', `/api/v1/plugins/${PLUGIN_ID}?force=yes`), 'force');
      expect(h.plugins.calls).to.be.empty;
    });
  });

  describe('POST /install/git and /install/local', () => {
    it('git: 201 with the installed plugin', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/git', { body: { url: 'https://git.example/p.git', ref: 'v1.2.0', path: 'plugins/unity' } });
      expect(answer.status).to.equal(201);
      expect(answer.json.message).to.be.a('string');
      expect(answer.json.warnings).to.deep.equal([]);
      expect(h.plugins.calls).to.deep.equal([
        { method: 'install', args: [{ kind: 'git', url: 'https://git.example/p.git', ref: 'v1.2.0', path: 'plugins/unity' }] },
      ]);
    });

    it('git: url alone', async () => {
      await h.call('POST', '/api/v1/plugins/install/git', { body: { url: 'https://git.example/p.git' } });
      expect(h.plugins.calls[0]!.args).to.deep.equal([{ kind: 'git', url: 'https://git.example/p.git', ref: undefined, path: undefined }]);
    });

    const bad: [unknown, string][] = [
      [{}, 'url'],
      [{ url: '' }, 'url'],
      [{ url: 42 }, 'url'],
      [{ url: 'https://git.example/p.git', ref: 1 }, 'ref'],
      [{ url: 'https://git.example/p.git', path: ['a'] }, 'path'],
      [{ url: 'https://git.example/p.git', branch: 'main' }, 'branch'],
      ['"https://git.example/p.git"', 'body'],
    ];
    for (const [body, field] of bad) {
      it(`git: ${JSON.stringify(body)} → 400 naming ${field}`, async () => {
        const answer = await h.call('POST', '/api/v1/plugins/install/git', {
          body,
          headers: typeof body === 'string' ? { 'content-type': 'application/json' } : {},
        });
        expect400(answer, field);
        expect(h.plugins.calls).to.be.empty;
      });
    }

    it('local: 201', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/local', { body: { path: '/srv/plugins/unity' } });
      expect(answer.status).to.equal(201);
      expect(h.plugins.calls[0]!.args).to.deep.equal([{ kind: 'local', path: '/srv/plugins/unity' }]);
    });

    it('replace_core: true is handed to the service; a non-boolean → 400', async () => {
      await h.call('POST', '/api/v1/plugins/install/local', { body: { path: '/srv/plugins/pypi', replace_core: true } });
      await h.call('POST', '/api/v1/plugins/install/git', { body: { url: 'https://git.example/p.git', replace_core: true } });
      await h.call('POST', '/api/v1/plugins/install/local', { body: { path: '/srv/plugins/pypi', replace_core: false } });
      expect(h.plugins.calls.map((call) => call.args)).to.deep.equal([
        [{ kind: 'local', path: '/srv/plugins/pypi', replaceCore: true }],
        [{ kind: 'git', url: 'https://git.example/p.git', ref: undefined, path: undefined, replaceCore: true }],
        [{ kind: 'local', path: '/srv/plugins/pypi' }],
      ]);
      expect400(await h.call('POST', '/api/v1/plugins/install/local', { body: { path: '/srv/p', replace_core: 'yes' } }), 'replace_core');
    });

    it('local: no path → 400', async () => {
      expect400(await h.call('POST', '/api/v1/plugins/install/local', { body: {} }), 'path');
    });
  });

  describe('POST /install/zip', () => {
    for (const field of ['file', 'package', 'zip']) {
      it(`streams field "${field}" to a temporary file the service reads, then deletes it`, async () => {
        const bytes = randomBytes(300 * 1024);
        const answer = await h.call('POST', '/api/v1/plugins/install/zip', { body: form(field, bytes) });
        expect(answer.status, answer.text).to.equal(201);
        expect(h.plugins.uploads).to.have.length(1);
        const seen = h.plugins.uploads[0]!;
        expect(seen.bytes.equals(bytes)).to.equal(true);
        expect(h.plugins.calls).to.deep.equal([{ method: 'install', args: [{ kind: 'zip', file: seen.file }] }]);
        expect(await exists(seen.file)).to.equal(false);
        expect(await h.leftoverUploads()).to.deep.equal([]);
      });
    }

    it('replace_core as a multipart field or a query parameter', async () => {
      expect((await h.call('POST', '/api/v1/plugins/install/zip', { body: form('file', randomBytes(100), 'p.zip', { replace_core: 'true' }) })).status).to.equal(201);
      expect((await h.call('POST', '/api/v1/plugins/install/zip?replace_core=true', { body: form('file', randomBytes(100)) })).status).to.equal(201);
      expect(h.plugins.calls.map((call) => (call.args[0] as { replaceCore?: boolean }).replaceCore)).to.deep.equal([true, true]);
      expect400(await h.call('POST', '/api/v1/plugins/install/zip', { body: form('file', randomBytes(100), 'p.zip', { replace_core: 'yes' }) }), 'replace_core');
      expect400(await h.call('POST', '/api/v1/plugins/install/zip?replace_core=1', { body: form('file', randomBytes(100)) }), 'replace_core');
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it('takes a file of exactly the limit', async () => {
      const bytes = randomBytes(MAX_ZIP_BYTES);
      expect((await h.call('POST', '/api/v1/plugins/install/zip', { body: form('file', bytes) })).status).to.equal(201);
      expect(h.plugins.uploads[0]!.bytes.length).to.equal(MAX_ZIP_BYTES);
    });

    it('deletes the file when the service fails too', async () => {
      h.plugins.failure = new ServiceError(422, 'plugin_validation_failed', 'plugin.toml is missing', { validation_errors: [] });
      const answer = await h.call('POST', '/api/v1/plugins/install/zip', { body: form('file', randomBytes(1000)) });
      expect(answer.status).to.equal(422);
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it('over PLUGINS_MAX_ZIP_MB → 413, the service is not called, nothing is left behind', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/zip', { body: form('file', randomBytes(MAX_ZIP_BYTES + 1)) });
      expect(answer.status).to.equal(413);
      expect(answer.json.error).to.equal('payload_too_large');
      expect(h.plugins.calls).to.be.empty;
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it('far over the limit → 413 all the same', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/zip', { body: form('file', randomBytes(8 * MAX_ZIP_BYTES)) });
      expect(answer.status).to.equal(413);
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it('a client that goes away mid-upload leaves nothing behind', async () => {
      const boundary = 'pk-boundary';
      const request = http.request(`${h.base}/api/v1/plugins/install/zip`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(MAX_ZIP_BYTES) },
      });
      request.on('error', () => undefined);
      request.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.zip"\r\n\r\n`);
      request.write(randomBytes(64 * 1024));
      // Wait until the server has started writing the upload, then hang up.
      while ((await h.leftoverUploads()).length < 2) await delay(5);
      request.destroy();
      for (let tries = 0; (await h.leftoverUploads()).length > 0 && tries < 200; tries++) await delay(10);
      expect(await h.leftoverUploads()).to.deep.equal([]);
      expect(h.plugins.calls).to.be.empty;
    });

    it('a form without the file → 400 no_file', async () => {
      const data = new FormData();
      data.append('note', 'no file here');
      data.append('upload', new Blob([Buffer.from('PK')]), 'p.zip');
      const answer = await h.call('POST', '/api/v1/plugins/install/zip', { body: data });
      expect(answer.status).to.equal(400);
      expect(answer.json.error).to.equal('no_file');
      expect(answer.json.message).to.include('"file"');
      expect(h.plugins.calls).to.be.empty;
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it('no body → 400 no_file', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/zip');
      expect(answer.status).to.equal(400);
      expect(answer.json.error).to.equal('no_file');
    });

    it('a JSON body → 415', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/zip', { body: { file: 'x' } });
      expect(answer.status).to.equal(415);
    });

    it('a broken multipart body → 400 invalid_multipart', async () => {
      const answer = await h.call('POST', '/api/v1/plugins/install/zip', {
        body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK',
        headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      });
      expect(answer.status).to.equal(400);
      expect(answer.json.error).to.equal('invalid_multipart');
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });
  });

  describe('POST /:id/reload', () => {
    it('no body → the same source', async () => {
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/reload`)).status).to.equal(200);
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { kind: 'same' }]);
    });

    it('{} → the same source', async () => {
      await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/reload`, { body: {} });
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { kind: 'same' }]);
    });

    it('{ref} → that git ref', async () => {
      await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/reload`, { body: { ref: 'v2.0.0' } });
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { kind: 'git', ref: 'v2.0.0' }]);
    });

    it('multipart file → the uploaded ZIP, deleted afterwards', async () => {
      const bytes = randomBytes(2048);
      expect((await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/reload`, { body: form('file', bytes) })).status).to.equal(200);
      const seen = h.plugins.uploads[0]!;
      expect(seen.bytes.equals(bytes)).to.equal(true);
      expect(h.plugins.calls[0]!.args).to.deep.equal([PLUGIN_ID, { kind: 'zip', file: seen.file }]);
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it('{ref: 2} → 400', async () => {
      expect400(await h.call('POST', `/api/v1/plugins/${PLUGIN_ID}/reload`, { body: { ref: 2 } }), 'ref');
    });
  });
});
