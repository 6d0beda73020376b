import { expect } from 'chai';
import { sampleFormat } from './doubles.js';
import { form, startHarness, type Harness } from './harness.js';

describe('http: format-handler routes', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => h.reset());

  describe('aliases', () => {
    const requests: [string, string, unknown?][] = [
      ['GET', '?handler_type=wasm&enabled=false'],
      ['GET', '/unity'],
      ['POST', '/unity/enable'],
      ['POST', '/unity/disable'],
      ['POST', '/unity/test', { path: 'a/b.unitypackage', content: 'hello' }],
      ['GET', '?enabled=maybe'],
    ];
    for (const [method, path, body] of requests) {
      it(`${method} /api/v1/formats${path} and /api/format-handlers${path} answer alike`, async () => {
        const v1 = await h.call(method, `/api/v1/formats${path}`, { body });
        const v1Calls = [...h.formats.calls];
        h.formats.reset();
        const alias = await h.call(method, `/api/format-handlers${path}`, { body });
        expect(alias.status).to.equal(v1.status);
        expect(alias.text).to.equal(v1.text);
        expect(h.formats.calls).to.deep.equal(v1Calls);
      });
    }
  });

  describe('GET /', () => {
    it('lists with no filter', async () => {
      const answer = await h.call('GET', '/api/v1/formats');
      expect(answer.json).to.deep.equal({ items: [sampleFormat()], total: 1 });
      expect(h.formats.calls).to.deep.equal([{ method: 'list', args: [{ handler_type: undefined, enabled: undefined }] }]);
    });

    it('passes handler_type and enabled on', async () => {
      await h.call('GET', '/api/v1/formats?handler_type=core&enabled=true');
      expect(h.formats.calls[0]!.args).to.deep.equal([{ handler_type: 'core', enabled: true }]);
    });

    for (const [query, field] of [
      ['handler_type=plugin', 'handler_type'],
      ['enabled=yes', 'enabled'],
      ['enabled=1', 'enabled'],
    ] as const) {
      it(`?${query} → 400 naming ${field}`, async () => {
        const answer = await h.call('GET', `/api/v1/formats?${query}`);
        expect(answer.status).to.equal(400);
        expect(answer.json.validation_errors[0].field).to.equal(field);
        expect(h.formats.calls).to.be.empty;
      });
    }
  });

  it('enable and disable answer with the handler', async () => {
    expect((await h.call('POST', '/api/v1/formats/npm/enable')).json).to.deep.equal(sampleFormat('npm'));
    expect((await h.call('POST', '/api/v1/formats/npm/disable')).json.is_enabled).to.equal(false);
    expect(h.formats.calls.map((call) => [call.method, call.args])).to.deep.equal([
      ['enable', ['npm']],
      ['disable', ['npm']],
    ]);
  });

  describe('POST /:format_key/test', () => {
    it('JSON text content → its UTF-8 bytes; 200 with the result', async () => {
      const answer = await h.call('POST', '/api/v1/formats/unity/test', { body: { path: 'pkgs/a.unitypackage', content: 'héllo' } });
      expect(answer.status).to.equal(200);
      expect(answer.json.success).to.equal(true);
      expect(answer.json.format_key).to.equal('unity');
      expect(h.formats.calls).to.deep.equal([{ method: 'test', args: ['unity', { path: 'pkgs/a.unitypackage', content: Buffer.from('héllo') }] }]);
    });

    it('JSON base64 content → decoded (line breaks ignored)', async () => {
      const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
      const encoded = bytes.toString('base64').replace(/(.{4})/, '$1\n');
      await h.call('POST', '/api/v1/formats/unity/test', { body: { path: 'a.bin', content: encoded, base64: true } });
      expect(h.formats.calls[0]!.args[1]).to.deep.equal({ path: 'a.bin', content: bytes });
    });

    it('empty content is an artifact too', async () => {
      expect((await h.call('POST', '/api/v1/formats/unity/test', { body: { path: 'empty', content: '' } })).status).to.equal(200);
    });

    it('a failed test → 422 with the same result body', async () => {
      h.formats.testSucceeds = false;
      const answer = await h.call('POST', '/api/v1/formats/unity/test', { body: { path: 'a', content: 'x' } });
      expect(answer.status).to.equal(422);
      expect(answer.json.success).to.equal(false);
      expect(answer.json.validation_result).to.deep.equal({ valid: false, errors: ['not a unitypackage'] });
      expect(answer.json.error).to.equal('not a unitypackage');
    });

    const bad: [string, unknown, string][] = [
      ['no path', { content: 'x' }, 'path'],
      ['no content', { path: 'a' }, 'content'],
      ['content not a string', { path: 'a', content: [1, 2] }, 'content'],
      ['base64 not a boolean', { path: 'a', content: 'eA==', base64: 'yes' }, 'base64'],
      ['invalid base64', { path: 'a', content: 'not base64!', base64: true }, 'content'],
      ['an unknown field', { path: 'a', content: 'x', encoding: 'utf8' }, 'encoding'],
    ];
    for (const [what, body, field] of bad) {
      it(`JSON with ${what} → 400 naming ${field}`, async () => {
        const answer = await h.call('POST', '/api/v1/formats/unity/test', { body });
        expect(answer.status).to.equal(400);
        expect(answer.json.validation_errors.map((problem: { field: string }) => problem.field)).to.include(field);
        expect(h.formats.calls).to.be.empty;
      });
    }

    it('multipart file + path', async () => {
      const bytes = Buffer.from('PK\u0003\u0004 an artifact');
      const answer = await h.call('POST', '/api/v1/formats/unity/test', { body: form('file', bytes, 'upload.bin', { path: 'pkgs/real-name.unitypackage' }) });
      expect(answer.status).to.equal(200);
      expect(h.formats.calls[0]!.args).to.deep.equal(['unity', { path: 'pkgs/real-name.unitypackage', content: bytes }]);
      expect(await h.leftoverUploads()).to.deep.equal([]);
    });

    it("multipart without path → the file's own name", async () => {
      await h.call('POST', '/api/v1/formats/unity/test', { body: form('file', Buffer.from('x'), 'thing.unitypackage') });
      expect(h.formats.calls[0]!.args).to.deep.equal(['unity', { path: 'thing.unitypackage', content: Buffer.from('x') }]);
    });

    it('multipart without a file → 400 no_file', async () => {
      const data = new FormData();
      data.append('path', 'a');
      const answer = await h.call('POST', '/api/v1/formats/unity/test', { body: data });
      expect(answer.status).to.equal(400);
      expect(answer.json.error).to.equal('no_file');
    });

    it('no body → 400', async () => {
      const answer = await h.call('POST', '/api/v1/formats/unity/test');
      expect(answer.status).to.equal(400);
      expect(answer.json.validation_errors[0].field).to.equal('body');
    });
  });
});
