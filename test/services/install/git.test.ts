// Git installs against real repositories served over HTTP on 127.0.0.1 (smart HTTP through
// git http-backend, dumb HTTP as static files, and a server that never answers).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { type DnsLookup, type FetchOptions, fetchPackage } from '../../../supervisor/services/install/index.js';
import { fixtureWasm } from '../../support/fixtures.js';
import { type GitServer, startGitServer, TestRepo } from '../../support/git-server.js';
import { expectEmpty, expectFailure, fetchOptions, MINIMAL_MANIFEST, tempFolder, validationErrors } from './helpers.js';

const run = promisify(execFile);
const manifestVersion = (version: string) => MINIMAL_MANIFEST.replace('version = "1.0.0"', `version = "${version}"`);

describe('install: git', () => {
  let scratch: Awaited<ReturnType<typeof tempFolder>>;
  let workDir: string;
  let smart: GitServer;
  let dumb: GitServer;
  const repos: TestRepo[] = [];
  const commits: Record<'v1' | 'main' | 'beta', string> = { v1: '', main: '', beta: '' };

  before(async () => {
    scratch = await tempFolder('git');
    const projectRoot = path.join(scratch.dir, 'repos');
    const wasm = await fixtureWasm('good');
    const repo = async (name: string) => {
      const created = await TestRepo.create(projectRoot, name);
      repos.push(created);
      return created;
    };

    const demo = await repo('demo');
    commits.v1 = await demo.commit({ 'plugin.toml': manifestVersion('1.0.0'), 'plugin.wasm': wasm });
    await demo.tag('v1.0.0');
    commits.main = await demo.commit({ 'plugin.toml': manifestVersion('1.1.0'), 'plugin.wasm': wasm });
    await demo.switchTo('beta');
    commits.beta = await demo.commit({ 'plugin.toml': manifestVersion('2.0.0-beta.1'), 'plugin.wasm': wasm });

    await (await repo('monorepo')).commit({
      'README.md': 'plugins',
      'plugins/alpha/plugin.toml': MINIMAL_MANIFEST.replace('demo-format', 'alpha-format'),
      'plugins/alpha/plugin.wasm': wasm,
      'plugins/beta/plugin.toml': MINIMAL_MANIFEST.replace('demo-format', 'beta-format'),
      'plugins/beta/plugin.wasm': wasm,
    });
    await (await repo('no-manifest')).commit({ 'plugin.wasm': wasm });
    await (await repo('no-wasm')).commit({ 'plugin.toml': MINIMAL_MANIFEST });
    await (await repo('symlinks')).commit({ 'plugin.toml': { symlink: '/etc/hostname' }, 'plugin.wasm': wasm });

    smart = await startGitServer(projectRoot, 'smart');
    dumb = await startGitServer(projectRoot, 'dumb');
  });

  after(async () => {
    await smart?.close();
    await dumb?.close();
    await Promise.all(repos.map((repo) => repo.remove()));
    await scratch.remove();
  });

  beforeEach(() => {
    workDir = path.join(scratch.dir, `work-${Math.random().toString(16).slice(2)}`);
  });

  const install = (url: string, extra: { ref?: string; path?: string } = {}, overrides: Partial<FetchOptions> = {}) =>
    fetchPackage({ kind: 'git', url, ...extra }, fetchOptions(workDir, overrides));

  /** Installs, checks the version and commit, cleans up, and checks nothing is left. */
  async function expectInstalled(url: string, extra: { ref?: string; path?: string }, version: string, commit: string) {
    const pkg = await install(url, extra);
    try {
      expect(pkg.manifest.plugin.version).to.equal(version);
      expect(pkg.source).to.deep.equal({ type: 'wasm_git', url, ref: extra.ref ?? null, resolvedCommit: commit, path: extra.path ?? null });
    } finally {
      await pkg.cleanup();
    }
    await expectEmpty(workDir);
  }

  describe('over smart HTTP', () => {
    it('installs the default branch', async () => {
      await expectInstalled(`${smart.url}/demo.git`, {}, '1.1.0', commits.main);
    });

    it('installs a tag', async () => {
      await expectInstalled(`${smart.url}/demo.git`, { ref: 'v1.0.0' }, '1.0.0', commits.v1);
    });

    it('installs a branch', async () => {
      await expectInstalled(`${smart.url}/demo.git`, { ref: 'beta' }, '2.0.0-beta.1', commits.beta);
    });

    it('installs a full commit SHA', async () => {
      await expectInstalled(`${smart.url}/demo.git`, { ref: commits.v1 }, '1.0.0', commits.v1);
    });

    it('installs an abbreviated commit SHA, recording the full one', async () => {
      await expectInstalled(`${smart.url}/demo.git`, { ref: commits.v1.slice(0, 10) }, '1.0.0', commits.v1);
    });

    it('installs a plugin from a folder of a monorepo', async () => {
      const pkg = await install(`${smart.url}/monorepo.git`, { path: 'plugins/alpha/' });
      expect(pkg.manifest.plugin.name).to.equal('alpha-format');
      expect(pkg.source.path).to.equal('plugins/alpha');
      await pkg.cleanup();
      await expectEmpty(workDir);
    });
  });

  describe('over dumb HTTP (no shallow clones)', () => {
    it('installs the default branch', async () => {
      await expectInstalled(`${dumb.url}/demo.git`, {}, '1.1.0', commits.main);
    });

    it('installs a tag, a branch and a commit', async () => {
      await expectInstalled(`${dumb.url}/demo.git`, { ref: 'v1.0.0' }, '1.0.0', commits.v1);
      await expectInstalled(`${dumb.url}/demo.git`, { ref: 'beta' }, '2.0.0-beta.1', commits.beta);
      await expectInstalled(`${dumb.url}/demo.git`, { ref: commits.v1 }, '1.0.0', commits.v1);
    });

    it('says which ref is missing', async () => {
      await expectFailure(install(`${dumb.url}/demo.git`, { ref: 'v9' }), 404, 'ref_not_found', /^"v9" is neither a branch, a tag nor a commit of /);
      await expectEmpty(workDir);
    });
  });

  describe('failures, with nothing left behind', () => {
    it('404 for a missing ref, naming it', async () => {
      const url = `${smart.url}/demo.git`;
      const message = new RegExp(`^"no-such-branch" is neither a branch, a tag nor a commit of ${url}$`);
      await expectFailure(install(url, { ref: 'no-such-branch' }), 404, 'ref_not_found', message);
      await expectEmpty(workDir);
    });

    it('404 for a missing repository', async () => {
      const url = `${smart.url}/missing.git`;
      await expectFailure(install(url), 404, 'repository_not_found', new RegExp(`^there is no Git repository at ${url}$`));
      await expectEmpty(workDir);
    });

    it('422 for a repository without plugin.toml', async () => {
      const error = await expectFailure(install(`${smart.url}/no-manifest.git`), 422, 'plugin_validation_failed');
      expect(validationErrors(error)).to.deep.equal([{ field: 'plugin.toml', message: 'the package has no plugin.toml at its root' }]);
      await expectEmpty(workDir);
    });

    it('422 for a repository without a component, naming the places searched', async () => {
      const error = await expectFailure(install(`${smart.url}/no-wasm.git`), 422, 'plugin_validation_failed');
      const [problem] = validationErrors(error);
      expect(problem!.field).to.equal('wasm');
      expect(problem!.message).to.match(/^no .wasm component found; searched plugin.wasm, out\/plugin.wasm, dist\/plugin.wasm, target\//);
      await expectEmpty(workDir);
    });

    it('422 for a monorepo folder that does not exist', async () => {
      const error = await expectFailure(install(`${smart.url}/monorepo.git`, { path: 'plugins/gamma' }), 422, 'plugin_validation_failed');
      expect(validationErrors(error)[0]!.field).to.equal('path');
      expect(error.message).to.match(/^"plugins\/gamma" is not a folder of the repository at commit [0-9a-f]{12}$/);
      await expectEmpty(workDir);
    });

    it('400 for a path leaving the repository', async () => {
      await expectFailure(install(`${smart.url}/monorepo.git`, { path: '../demo.git' }), 400, 'invalid_package_path', /contains a "\.\." segment/);
      await expectFailure(install(`${smart.url}/monorepo.git`, { path: '/etc' }), 400, 'invalid_package_path', /it is absolute/);
      await expectEmpty(workDir);
    });

    it('checks out symbolic links as plain files, so they cannot reach outside the clone', async () => {
      const error = await expectFailure(install(`${smart.url}/symlinks.git`), 422, 'plugin_validation_failed');
      expect(validationErrors(error)[0]!.message).to.match(/^not valid TOML: line 1/);
      await expectEmpty(workDir);
    });

    it('504 when the server never answers', async () => {
      const hanging = await startGitServer(scratch.dir, 'hang');
      try {
        const started = Date.now();
        const url = `${hanging.url}/demo.git`;
        await expectFailure(install(url, {}, { gitTimeoutMs: 1500 }), 504, 'git_timeout', /took longer than 1.5 s, the limit for git installs$/);
        expect(Date.now() - started).to.be.below(5000);
        expect(hanging.requests.length).to.be.greaterThan(0);
        await expectEmpty(workDir);
        // git's http helper, which the deadline cannot reach, gives up on its own soon after.
        expect(await processesMentioning(hanging.url, 5000)).to.deep.equal([]);
      } finally {
        await hanging.close();
      }
    });

    it('400 for a redirect, which is not followed', async () => {
      const { url, server } = await redirectingServer('http://169.254.169.254/latest/meta-data/');
      try {
        await expectFailure(install(`${url}/demo.git`), 400, 'invalid_git_url', /redirects elsewhere; redirects are not followed/);
        await expectEmpty(workDir);
      } finally {
        server.close();
      }
    });

    it('502 when the server fails', async () => {
      const message = /^fetching http:\/\/127.0.0.1:1\/demo.git failed: fatal: unable to access/;
      await expectFailure(install('http://127.0.0.1:1/demo.git'), 502, 'git_fetch_failed', message);
      await expectEmpty(workDir);
    });
  });

  describe('addresses', () => {
    it('connects to the address it checked, not to what git would resolve itself', async () => {
      // "plugins.invalid" resolves nowhere; only the pinned answer gets git to the server.
      const port = new URL(smart.url).port;
      const url = `http://plugins.invalid:${port}/demo.git`;
      const pkg = await install(url, {}, { dnsLookup: async () => ['127.0.0.1'] });
      expect(pkg.source.resolvedCommit).to.equal(commits.main);
      await pkg.cleanup();
    });

    const dns =
      (...addresses: string[]): DnsLookup =>
      async () =>
        addresses;

    for (const address of ['10.0.0.5', '127.0.0.1', '::1', 'fd00::1', '100.64.0.1', '192.168.1.10']) {
      it(`refuses a host resolving to ${address} without PLUGINS_GIT_ALLOW_PRIVATE`, async () => {
        await expectFailure(
          install('https://git.example.com/x/y.git', {}, { gitAllowPrivate: false, dnsLookup: dns(address) }),
          400,
          'git_host_not_allowed',
          new RegExp(
            `^"git.example.com" resolves to ${address}, which is a .*; the server does not clone from there ` +
              '\\(PLUGINS_GIT_ALLOW_PRIVATE=true permits private Git servers\\)$',
          ),
        );
        await expectEmpty(workDir);
      });
    }

    it('refuses a host with one private address among public ones', async () => {
      const mixed = { gitAllowPrivate: false, dnsLookup: dns('93.184.216.34', '10.1.2.3') };
      await expectFailure(install('https://git.example.com/x.git', {}, mixed), 400, 'git_host_not_allowed', /10\.1\.2\.3/);
    });

    it('refuses private IP literals, however they are written', async () => {
      for (const url of ['http://127.0.0.1/x.git', 'http://2130706433/x.git', 'http://[::ffff:10.0.0.1]/x.git', 'http://[::1]:8080/x.git']) {
        await expectFailure(install(url, {}, { gitAllowPrivate: false }), 400, 'git_host_not_allowed', /is a (loopback|private)/);
      }
    });

    it('judges IPv6 forms carrying an IPv4 address by that IPv4 address', async () => {
      const refusals: Array<[string, RegExp]> = [
        ['http://[::127.0.0.1]/x.git', /loopback/], // IPv4-compatible; URL parsing makes it [::7f00:1]
        ['http://[::7f00:1]/x.git', /loopback/],
        ['http://[::10.1.2.3]/x.git', /private/],
        ['http://[::ffff:127.0.0.1]/x.git', /loopback/], // IPv4-mapped
        ['http://[::ffff:0:127.0.0.1]/x.git', /loopback/], // IPv4-translated
        ['http://[64:ff9b::127.0.0.1]/x.git', /loopback/], // NAT64
        ['http://[2002:7f00:1::]/x.git', /loopback/], // 6to4
      ];
      for (const [url, why] of refusals) {
        await expectFailure(install(url, {}, { gitAllowPrivate: false }), 400, 'git_host_not_allowed', why);
      }
      // Link-local stays refused even where private servers are allowed, in any form.
      await expectFailure(install('http://[::169.254.169.254]/x.git', {}, { gitAllowPrivate: true }), 400, 'git_host_not_allowed', /link-local/);
      const resolving = { gitAllowPrivate: false, dnsLookup: dns('::a9fe:a9fe') };
      await expectFailure(install('https://sneaky.example/x.git', {}, resolving), 400, 'git_host_not_allowed', /link-local/);
      await expectEmpty(workDir);
    });

    it('always refuses link-local (cloud metadata), unspecified, multicast and broadcast addresses', async () => {
      const always = { gitAllowPrivate: true };
      await expectFailure(
        install('http://169.254.169.254/latest/meta-data/', {}, always),
        400,
        'git_host_not_allowed',
        /^"169.254.169.254" is a link-local address \(where cloud metadata services answer\); the server does not clone from there$/,
      );
      for (const address of ['169.254.169.254', 'fe80::1']) {
        const resolving = { ...always, dnsLookup: dns(address) };
        await expectFailure(install('https://metadata.example/x.git', {}, resolving), 400, 'git_host_not_allowed', /link-local/);
      }
      await expectFailure(install('http://0.0.0.0/x.git', {}, always), 400, 'git_host_not_allowed', /unspecified/);
      await expectFailure(install('http://[::]/x.git', {}, always), 400, 'git_host_not_allowed', /unspecified/);
      await expectFailure(install('http://224.0.0.1/x.git', {}, always), 400, 'git_host_not_allowed', /multicast/);
      await expectFailure(install('http://255.255.255.255/x.git', {}, always), 400, 'git_host_not_allowed', /broadcast/);
      await expectEmpty(workDir);
    });

    it('400 when the host does not resolve', async () => {
      const failing: DnsLookup = async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
      };
      const message = /^the host "nowhere.example" could not be resolved \(ENOTFOUND\)$/;
      await expectFailure(install('https://nowhere.example/x.git', {}, { dnsLookup: failing }), 400, 'invalid_git_url', message);
    });
  });

  describe('URLs and refs that are refused before anything runs', () => {
    const cases: Array<[string, RegExp]> = [
      ['file:///etc', /^the "file:" scheme is not accepted: it would read the server's own disk; only http:\/\/ and https:\/\/ URLs are$/],
      ['ssh://git@github.com/x/y.git', /^the "ssh:" scheme is not accepted: the server has no SSH keys/],
      ['git://github.com/x/y.git', /^the "git:" scheme is not accepted: the git:\/\/ protocol is neither encrypted nor authenticated/],
      ['ext::sh -c touch% /tmp/pwned', /^git's "ext::" transport runs a command on the server/],
      ['fd::17', /remote-helper syntax/],
      ['-uhttp://x', /^the URL must not start with "-" \(git would read it as an option\)$/],
      ['--upload-pack=touch /tmp/pwned', /must not start with "-"/],
      ['git@github.com:x/y.git', /^"user@host:path" is an SSH address/],
      ['http://user:pw@example.com/x.git', /^the URL carries credentials \(user:password@\): they would be stored with the plugin/],
      ['https://token@example.com/x.git', /carries credentials/],
      ['https://example.com/x y.git', /^the URL must not contain spaces or control characters$/],
      ['https://example.com/x.git\n--upload-pack=x', /spaces or control characters/],
      ['not a url', /spaces or control characters/],
      ['example.com/x.git', /^"example.com\/x.git" is not a URL/],
      ['', /^url is required/],
    ];
    for (const [url, message] of cases) {
      it(`refuses ${JSON.stringify(url)}`, async () => {
        let looked = false;
        const lookup: DnsLookup = async () => {
          looked = true;
          return ['93.184.216.34'];
        };
        await expectFailure(install(url, {}, { dnsLookup: lookup }), 400, 'invalid_git_url', message);
        expect(looked, 'DNS was consulted').to.equal(false);
        await expectEmpty(workDir);
      });
    }

    for (const ref of ['--upload-pack=x', 'main~1', 'HEAD^', 'a..b', 'main@{1}', 'has space', 'x:y', 'refs/heads/', '.hidden', 'a.lock']) {
      it(`refuses the ref ${JSON.stringify(ref)}`, async () => {
        await expectFailure(install(`${smart.url}/demo.git`, { ref }), 400, 'invalid_git_ref', /is not a valid ref/);
        await expectEmpty(workDir);
      });
    }
  });
});

/** Command lines of the processes mentioning `text`, once there are none or `waitMs` has passed. */
async function processesMentioning(text: string, waitMs: number): Promise<string[]> {
  const until = Date.now() + waitMs;
  while (true) {
    const { stdout } = await run('ps', ['-eo', 'args']);
    const matching = stdout.split('\n').filter((line) => line.includes(text));
    if (matching.length === 0 || Date.now() > until) return matching;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function redirectingServer(location: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(301, { Location: location }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
