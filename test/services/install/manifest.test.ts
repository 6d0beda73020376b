import { expect } from 'chai';
import type { LimitSettings } from '../../../supervisor/config.js';
import { checkManifest, type PluginManifest, resolveLimits } from '../../../supervisor/services/install/manifest.js';
import { MINIMAL_MANIFEST } from './helpers.js';

const DEFAULTS: LimitSettings = { memoryMb: 64, timeoutSecs: 5, instances: 1 };
const CAPS: LimitSettings = { memoryMb: 512, timeoutSecs: 60, instances: 4 };

function valid(text: string): { manifest: PluginManifest; warnings: string[] } {
  const check = checkManifest(text);
  expect(check.problems).to.deep.equal([]);
  return { manifest: check.manifest!, warnings: check.warnings };
}

function fieldsOf(text: string): string[] {
  return checkManifest(text).problems.map((problem) => problem.field);
}

describe('install: manifest', () => {
  it("accepts the minimal manifest and fills in the defaults, the plugin's display name being the format's", () => {
    const { manifest, warnings } = valid(MINIMAL_MANIFEST);
    expect(warnings).to.deep.equal([]);
    expect(manifest).to.deep.equal({
      plugin: {
        name: 'demo-format',
        version: '1.0.0',
        display_name: 'Demo',
        description: null,
        author: null,
        license: null,
        homepage: null,
        wasm: null,
        min_keeper_version: null,
      },
      format: { key: 'demo', display_name: 'Demo', description: null, extensions: [], content_types: [] },
      capabilities: { parse_metadata: true, validate_artifact: true, generate_index: false, handle_request: false },
      requirements: { min_memory_mb: null, max_memory_mb: null, timeout_secs: null },
      resources: { max_memory_bytes: null, max_execution_ms: null, max_fuel: null },
      runtime: { instances: null },
    });
  });

  it('reads every documented key of a full manifest', () => {
    const { manifest, warnings } = valid(`
      [plugin]
      name = "unity-assets"
      version = "2.1.0-beta.1+build.7"
      display_name = "Unity assets"
      description = "Unity asset bundles"
      author = "Ada"
      license = "MIT"
      homepage = "https://example.com/unity"
      wasm = "build/unity.wasm"
      min_keeper_version = "1.2.0"

      [format]
      key = "unity"
      display_name = "Unity"
      description = "Asset bundles"
      extensions = [".unitypackage", ".bundle"]
      content_types = ["application/octet-stream"]

      [capabilities]
      parse_metadata = true
      validate_artifact = false
      generate_index = true
      handle_request = true

      [requirements]
      min_memory_mb = 32
      max_memory_mb = 256
      timeout_secs = 30

      [resources]
      max_memory_bytes = 268435456
      max_execution_ms = 30000

      [runtime]
      instances = 2
    `);
    expect(warnings).to.deep.equal([]);
    expect(manifest.plugin).to.include({
      name: 'unity-assets',
      version: '2.1.0-beta.1+build.7',
      wasm: 'build/unity.wasm',
      min_keeper_version: '1.2.0',
    });
    expect(manifest.format.extensions).to.deep.equal(['.unitypackage', '.bundle']);
    expect(manifest.capabilities).to.deep.equal({ parse_metadata: true, validate_artifact: false, generate_index: true, handle_request: true });
    expect(manifest.requirements).to.deep.equal({ min_memory_mb: 32, max_memory_mb: 256, timeout_secs: 30 });
    expect(manifest.resources).to.deep.equal({ max_memory_bytes: 268435456, max_execution_ms: 30000, max_fuel: null });
    expect(manifest.runtime.instances).to.equal(2);
  });

  it('reports every wrong field at once, each with its field name', () => {
    const check = checkManifest(`
      [plugin]
      name = "X"
      version = "1.0"
      homepage = "javascript:alert(1)"
      description = 42

      [format]
      key = "Npm"
      display_name = ""
      extensions = ".x"
      content_types = [1, 2]

      [capabilities]
      parse_metadata = "yes"

      [requirements]
      min_memory_mb = 2048
      timeout_secs = 0.5

      [resources]
      max_execution_ms = -1
      max_memory_bytes = 2147483648

      [runtime]
      instances = 0
    `);
    expect(check.manifest).to.equal(null);
    expect(check.problems.map((problem) => problem.field)).to.have.members([
      'plugin.name',
      'plugin.version',
      'plugin.homepage',
      'plugin.description',
      'format.key',
      'format.display_name',
      'format.extensions',
      'format.content_types',
      'capabilities.parse_metadata',
      'requirements.min_memory_mb',
      'requirements.timeout_secs',
      'resources.max_execution_ms',
      'resources.max_memory_bytes',
      'runtime.instances',
    ]);
    const message = (field: string) => check.problems.find((problem) => problem.field === field)!.message;
    expect(message('plugin.name')).to.match(/"X" is not a valid plugin name/);
    expect(message('plugin.version')).to.match(/not a semantic version/);
    expect(message('format.key')).to.match(/"Npm" is not a valid format key/);
    expect(message('requirements.min_memory_mb')).to.match(/from 1 to 1024, not the number 2048/);
    expect(message('capabilities.parse_metadata')).to.match(/true or false, not the string "yes"/);
  });

  it('requires the name, the version, the format key and its display name', () => {
    expect(fieldsOf('')).to.have.members(['plugin.name', 'plugin.version', 'format.key', 'format.display_name']);
    expect(checkManifest('').problems.every((problem) => problem.message === 'is required')).to.equal(true);
  });

  it('checks names, versions and format keys against the contract', () => {
    const withPlugin = (name: string, version: string, key: string) =>
      fieldsOf(`[plugin]\nname = "${name}"\nversion = "${version}"\n[format]\nkey = "${key}"\ndisplay_name = "D"\n`);
    expect(withPlugin('abc', '0.0.1', 'ab')).to.deep.equal([]);
    expect(withPlugin(`a${'b'.repeat(99)}`, '1.0.0-rc.1', `a${'b'.repeat(49)}`)).to.deep.equal([]);
    expect(withPlugin('ab', '1.0.0', 'ab')).to.deep.equal(['plugin.name']); // too short
    expect(withPlugin(`a${'b'.repeat(100)}`, '1.0.0', 'ab')).to.deep.equal(['plugin.name']); // too long
    expect(withPlugin('1abc', '1.0.0', 'ab')).to.deep.equal(['plugin.name']);
    expect(withPlugin('ab_c', '1.0.0', 'ab')).to.deep.equal(['plugin.name']);
    expect(withPlugin('abc', 'v1.0.0', 'ab')).to.deep.equal(['plugin.version']);
    expect(withPlugin('abc', '1.0.0.0', 'ab')).to.deep.equal(['plugin.version']);
    expect(withPlugin('abc', '1.0.0', 'a')).to.deep.equal(['format.key']);
    expect(withPlugin('abc', '1.0.0', 'Ab')).to.deep.equal(['format.key']);
    expect(withPlugin('abc', '1.0.0', `a${'b'.repeat(50)}`)).to.deep.equal(['format.key']);
  });

  it('takes every core format key: replacing a core handler is the install\'s question (replace_core), not the manifest\'s', () => {
    for (const key of ['maven', 'npm', 'pypi', 'nuget', 'cargo', 'go', 'oci', 'helm', 'debian', 'rpm', 'rubygems', 'conan', 'generic']) {
      const check = checkManifest(MINIMAL_MANIFEST.replace('key = "demo"', `key = "${key}"`));
      expect(check.problems, key).to.deep.equal([]);
      expect(check.manifest!.format.key).to.equal(key);
    }
  });

  it('names the line and column of a TOML syntax error', () => {
    const check = checkManifest('[plugin]\nname = "demo"\nversion = \n');
    expect(check.problems).to.have.length(1);
    expect(check.problems[0]!.field).to.equal('plugin.toml');
    expect(check.problems[0]!.message).to.match(/^not valid TOML: line 3, column \d+: /);
  });

  it('refuses a section that is not a table', () => {
    expect(fieldsOf(`capabilities = true\n${MINIMAL_MANIFEST}`)).to.deep.equal(['capabilities']);
  });

  it('turns unknown keys into warnings, not errors', () => {
    const { warnings } = valid(`${MINIMAL_MANIFEST.replace('[format]', 'color = "blue"\n[format]')}\n[extra]\nthing = 1\n`);
    expect(warnings).to.have.members(['unknown manifest key "plugin.color" was ignored', 'unknown manifest key "extra" was ignored']);
  });

  it('keeps [plugin].wasm for the component search even when other fields are wrong', () => {
    const check = checkManifest('[plugin]\nname = "X"\nwasm = "build/x.wasm"\n');
    expect(check.manifest).to.equal(null);
    expect(check.declaredWasm).to.equal('build/x.wasm');
  });

  it('accepts max_fuel but warns that it is not enforced', () => {
    const { manifest, warnings } = valid(`${MINIMAL_MANIFEST}\n[resources]\nmax_fuel = 1000000\n`);
    expect(manifest.resources.max_fuel).to.equal(1000000);
    expect(warnings.join('\n')).to.match(/max_fuel is recorded but not enforced/);
  });

  it('refuses min_memory_mb above max_memory_mb', () => {
    expect(fieldsOf(`${MINIMAL_MANIFEST}\n[requirements]\nmin_memory_mb = 128\nmax_memory_mb = 64\n`)).to.deep.equal(['requirements.min_memory_mb']);
  });

  describe('resolveLimits', () => {
    const limitsOf = (extra: string) => resolveLimits(valid(`${MINIMAL_MANIFEST}\n${extra}`).manifest, DEFAULTS, CAPS);

    it('uses the server defaults where the manifest says nothing', () => {
      expect(limitsOf('')).to.deep.equal({ limits: { memory_mb: 64, timeout_secs: 5, instances: 1 }, warnings: [] });
    });

    it('reads the [requirements] form', () => {
      const { limits } = limitsOf('[requirements]\nmax_memory_mb = 128\ntimeout_secs = 20\n[runtime]\ninstances = 2\n');
      expect(limits).to.deep.equal({ memory_mb: 128, timeout_secs: 20, instances: 2 });
    });

    it('reads the [resources] form, rounding up to whole MB and seconds', () => {
      const { limits } = limitsOf('[resources]\nmax_memory_bytes = 100000000\nmax_execution_ms = 2500\n');
      expect(limits).to.deep.equal({ memory_mb: 96, timeout_secs: 3, instances: 1 });
    });

    it('raises the default memory to min_memory_mb', () => {
      expect(limitsOf('[requirements]\nmin_memory_mb = 100\n').limits.memory_mb).to.equal(100);
    });

    it('prefers [requirements] when both forms disagree, and says so', () => {
      const { limits, warnings } = limitsOf('[requirements]\nmax_memory_mb = 128\n[resources]\nmax_memory_bytes = 67108864\n');
      expect(limits.memory_mb).to.equal(128);
      expect(warnings).to.deep.equal(['memory: [requirements] asks for 128 MB and [resources] for 64 MB; [requirements] applies']);
    });

    it('bounds what the manifest asks for by the caps, with a warning per capped limit', () => {
      const { limits, warnings } = limitsOf(
        '[requirements]\nmin_memory_mb = 600\nmax_memory_mb = 1024\ntimeout_secs = 300\n[runtime]\ninstances = 16\n',
      );
      expect(limits).to.deep.equal({ memory_mb: 512, timeout_secs: 60, instances: 4 });
      expect(warnings).to.deep.equal([
        'memory: the plugin asks for 1024 MB; this server allows at most 512 MB, which applies',
        'memory: the plugin needs at least 600 MB (requirements.min_memory_mb) but gets 512 MB',
        'timeout: the plugin asks for 300 s; this server allows at most 60 s, which applies',
        'instances: the plugin asks for 16; this server allows at most 4, which applies',
      ]);
    });
  });
});
