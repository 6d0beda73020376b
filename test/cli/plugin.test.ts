// The author's whole loop on one scaffolded plugin, through the real bin: new → build (one
// componentize-js run, ~10-20 s) → test, and keygen → sign → pack checked by the server's
// own install code with signatures required.
import { expect } from 'chai';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkComponent, inspectComponent } from '../../supervisor/runtime/component.js';
import { ServiceError } from '../../supervisor/services/errors.js';
import { fetchPackage, resolveLimits } from '../../supervisor/services/install/index.js';
import { expectRejection } from '../support/assertions.js';
import { makeZip } from '../support/zips.js';
import { fetchOptions, tempFolder } from '../services/install/helpers.js';
import { type CliResult, pluginKeeper } from './helpers.js';

describe('plugin-keeper build, test, sign and pack on a scaffolded plugin', function () {
  this.timeout(180_000);
  let root: string;
  let remove: () => Promise<void>;
  let pluginDir: string;
  let build: CliResult;

  before(async () => {
    ({ dir: root, remove } = await tempFolder('plugin'));
    const created = await pluginKeeper(['new', 'acme-format', '--v2', '--dir', root]);
    expect(created.exitCode, created.stderr).to.equal(0);
    pluginDir = path.join(root, 'acme-format');
    build = await pluginKeeper(['build', pluginDir]);
  });
  after(() => remove());

  it('build writes plugin.wasm for the v2 world, showing its steps with elapsed times', async () => {
    expect(build.exitCode, build.stderr).to.equal(0);
    expect(build.stdout).to.equal(path.join(pluginDir, 'plugin.wasm'));
    expect(build.stderr).to.match(/^\[\s*\d+(\.\d)? (ms|s)\] .*componentize-js/m);
    const inspection = await inspectComponent(await readFile(path.join(pluginDir, 'plugin.wasm')));
    expect(inspection.kind).to.equal('component');
    expect(inspection).to.include({ exportsHandler: true, exportsRequestHandler: true });
  });

  describe('test', () => {
    it('runs validate, parse-metadata and generate-index, with each call\'s time and memory', async () => {
      const result = await pluginKeeper(['test', pluginDir, path.join(pluginDir, 'test/sample.json'), '--path', 'left-pad/1.3.0.json']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const lines = result.stdout.split('\n');
      for (const call of ['validate', 'parse-metadata', 'generate-index']) {
        const line = lines.find((candidate) => candidate.startsWith(`${call} `));
        expect(line, call).to.match(/ ok +[\d.]+ (ms|s) +rss [\d.]+ MiB, wasm memory [\d.]+ MiB$/);
      }
      expect(result.stdout).to.include('"path":"left-pad/1.3.0.json","version":"1.3.0","contentType":"application/json","sizeBytes":43');
      const index = '[{"path":"left-pad/1.3.0.json","version":"1.3.0","size":43}]';
      expect(result.stdout).to.include(`index.json (${index.length} bytes)\n    ${index}`);
      expect(result.stdout).to.include('limits: 64 MB, 5 s per call');
      expect(result.stdout).to.match(/^sandbox: scrubbed environment/m);
      expect(result.stderr).to.match(/\] starting it in the sandbox/);
    });

    it('prints the same as one JSON document with --json', async () => {
      const result = await pluginKeeper(['test', pluginDir, path.join(pluginDir, 'test/sample.json'), '--json']);
      expect(result.exitCode, result.stderr).to.equal(0);
      const report = JSON.parse(result.stdout);
      expect(report.ok).to.equal(true);
      expect(report.plugin).to.include({ name: 'acme-format', format_key: 'acme-format', wasm: 'plugin.wasm' });
      expect(report.limits).to.deep.equal({ memory_mb: 64, timeout_secs: 5, instances: 1 });
      expect(report.calls.map((call: { call: string }) => call.call)).to.deep.equal(['validate', 'parse-metadata', 'generate-index']);
      for (const call of report.calls) {
        expect(call.ok).to.equal(true);
        expect(call.ms).to.be.a('number').above(0);
        expect(call.memory.rss_bytes).to.be.above(1024 * 1024);
        expect(call.memory.wasm_memory_bytes).to.be.above(0);
      }
      expect(report.calls[1].result).to.deep.include({ path: 'sample.json', version: '1.3.0', sizeBytes: 43 });
      expect(report.calls[2].result).to.deep.equal([
        { path: 'index.json', size_bytes: 52, text: '[{"path":"sample.json","version":"1.3.0","size":43}]' },
      ]);
    });

    it('exits 1 with the handler\'s own message when the artifact is invalid', async () => {
      const artifact = path.join(root, 'no-version.json');
      await writeFile(artifact, '{"name": "left-pad"}');
      const result = await pluginKeeper(['test', pluginDir, artifact]);
      expect(result.exitCode).to.equal(1);
      expect(result.stdout).to.match(/^validate +FAILED /m);
      expect(result.stdout).to.include('artifact_invalid: missing version (a string, x.y.z)');
      expect(result.stdout).not.to.match(/^parse-metadata/m);

      const json = JSON.parse((await pluginKeeper(['test', pluginDir, artifact, '--json'])).stdout);
      expect(json.ok).to.equal(false);
      expect(json.calls).to.have.length(1);
      expect(json.calls[0].error).to.deep.equal({ code: 'artifact_invalid', message: 'missing version (a string, x.y.z)' });
    });

    it('refuses, as an install would, a plugin whose manifest is wrong', async () => {
      const broken = path.join(root, 'broken');
      await cp(pluginDir, broken, { recursive: true });
      const manifest = await readFile(path.join(broken, 'plugin.toml'), 'utf8');
      await writeFile(path.join(broken, 'plugin.toml'), manifest.replace('key = "acme-format"', 'key = "Acme"'));
      const result = await pluginKeeper(['test', broken, path.join(broken, 'test/sample.json')]);
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include('the server would refuse');
      expect(result.stderr).to.include('format.key: "Acme" is not a valid format key');
    });
  });

  describe('keygen, sign and pack', () => {
    let signedDir: string;
    let publicKey: string;
    let keyFile: string;
    let zipFile: string;
    const signedServer = () => ({ PLUGINS_REQUIRE_SIGNED: 'true', PLUGINS_TRUSTED_PUBKEY: publicKey });

    before(async () => {
      signedDir = path.join(root, 'signed');
      await cp(pluginDir, signedDir, { recursive: true });
      keyFile = path.join(root, 'keys', 'author.key');
      const keygen = await pluginKeeper(['keygen', '--out', path.join(root, 'keys', 'author')]);
      expect(keygen.exitCode, keygen.stderr).to.equal(0);
      publicKey = keygen.stdout;
    });

    it('pack refuses an unsigned plugin when the environment requires signatures', async () => {
      const result = await pluginKeeper(['pack', signedDir], { env: signedServer() });
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include('plugin.wasm.sig: this server only installs signed plugins');
    });

    it('sign and pack make a ZIP the server installs with signatures required', async () => {
      const signed = await pluginKeeper(['sign', signedDir, '--key', keyFile]);
      expect(signed.exitCode, signed.stderr).to.equal(0);
      expect(signed.stdout).to.equal(path.join(signedDir, 'plugin.wasm.sig'));

      zipFile = path.join(root, 'acme.zip');
      const packed = await pluginKeeper(['pack', signedDir, '--out', zipFile], { env: signedServer() });
      expect(packed.exitCode, packed.stderr).to.equal(0);
      expect(packed.stdout).to.equal(zipFile);
      expect(packed.stderr).to.include('plugin.toml, plugin.wasm, plugin.wasm.sig');
      expect(packed.stderr).to.include('signature verified');

      // The server's install path: fetch and validate the ZIP, then the component checks.
      const workDir = path.join(root, 'server');
      const pkg = await fetchPackage(
        { kind: 'zip', file: zipFile },
        fetchOptions(workDir, { requireSigned: true, trustedPublicKeys: [Buffer.from(publicKey, 'base64')] }),
      );
      try {
        expect(pkg.signature).to.equal('verified');
        expect(pkg.manifest.plugin.name).to.equal('acme-format');
        expect(pkg.wasm).to.deep.equal(new Uint8Array(await readFile(path.join(pluginDir, 'plugin.wasm'))));
        const { limits } = resolveLimits(pkg.manifest, { memoryMb: 64, timeoutSecs: 5, instances: 1 }, { memoryMb: 512, timeoutSecs: 60, instances: 4 });
        expect(await checkComponent(pkg.wasm, { memoryLimitBytes: limits.memory_mb * 1024 * 1024, requireRequestHandler: true })).to.deep.equal([]);
      } finally {
        await pkg.cleanup();
      }
    });

    it('the server refuses the signed ZIP once its component is tampered with', async () => {
      const wasm = await readFile(path.join(signedDir, 'plugin.wasm'));
      wasm[wasm.length >> 1] ^= 0xff;
      const tampered = path.join(root, 'tampered.zip');
      await writeFile(
        tampered,
        makeZip([
          { name: 'plugin.toml', data: await readFile(path.join(signedDir, 'plugin.toml')) },
          { name: 'plugin.wasm', data: wasm },
          { name: 'plugin.wasm.sig', data: await readFile(path.join(signedDir, 'plugin.wasm.sig')) },
        ]),
      );
      const error = await expectRejection(
        fetchPackage(
          { kind: 'zip', file: tampered },
          fetchOptions(path.join(root, 'server'), { requireSigned: true, trustedPublicKeys: [Buffer.from(publicKey, 'base64')] }),
        ),
        ServiceError,
      );
      expect(error.status).to.equal(422);
      expect(error.extra.validation_errors).to.deep.equal([
        { field: 'plugin.wasm.sig', message: 'plugin.wasm.sig does not match the .wasm under any of the 1 trusted public key(s)' },
      ]);
    });

    it('pack refuses a plugin signed by a key the environment does not trust', async () => {
      const other = await pluginKeeper(['keygen', '--out', path.join(root, 'keys', 'other')]);
      expect(other.exitCode, other.stderr).to.equal(0);
      const result = await pluginKeeper(['pack', signedDir, '--out', path.join(root, 'other.zip')], {
        env: { PLUGINS_REQUIRE_SIGNED: 'true', PLUGINS_TRUSTED_PUBKEY: other.stdout },
      });
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include('plugin.wasm.sig does not match the .wasm');
    });

    it('pack replaces only a regular file: --out naming a folder (or a device) is refused and left alone', async () => {
      const folder = path.join(root, 'not-a-zip');
      await mkdir(folder);
      const result = await pluginKeeper(['pack', signedDir, '--out', folder], { env: signedServer() });
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include(`${folder} exists and is not a regular file`);
      expect((await stat(folder)).isDirectory()).to.equal(true);
      expect(await readdir(path.dirname(folder))).to.not.include.members([`not-a-zip.${process.pid}.tmp`]);
    });
  });
});
