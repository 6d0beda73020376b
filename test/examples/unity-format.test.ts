// The unity-format example plugin (examples/unity-format) in the real runtime: packages
// made here with node-tar and gzip, the way Unity's own exporter lays them out.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { FormatKey, GenerateIndex, ParseMetadata, Validate } from '../../protocol/methods.js';
import { rejection, startExample, type RunningExample } from './support.js';

const GUID_A = '0123456789abcdef0123456789abcdef';
const GUID_B = 'fedcba9876543210fedcba9876543210';

/** Files of a package by their path in the archive, e.g. `<guid>/pathname`. */
type Entries = Record<string, string | Uint8Array>;

function asset(guid: string, projectPath: string, contents: string | Uint8Array): Entries {
  return {
    // Unity writes the path, then a line "00" on some versions; only the first line counts.
    [`${guid}/pathname`]: `${projectPath}\n00`,
    [`${guid}/asset`]: contents,
    [`${guid}/asset.meta`]: `fileFormatVersion: 2\nguid: ${guid}\n`,
  };
}

describe('example plugin unity-format (TypeScript, real runtime)', function () {
  this.timeout(180_000);
  let plugin: RunningExample;
  let work: string;

  /** An uncompressed tar of `entries`, written by node-tar (directory entries included). */
  async function tarOf(entries: Entries): Promise<Buffer> {
    const dir = await mkdtemp(path.join(work, 'tar-'));
    for (const [name, contents] of Object.entries(entries)) {
      await mkdir(path.join(dir, path.dirname(name)), { recursive: true });
      await writeFile(path.join(dir, name), contents);
    }
    const chunks: Buffer[] = [];
    const folders = [...new Set(Object.keys(entries).map((name) => name.split('/')[0]!))];
    for await (const chunk of createTar({ cwd: dir, portable: true }, folders)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  const unitypackage = async (entries: Entries) => gzipSync(await tarOf(entries));

  const tool = () => ({ ...asset(GUID_A, 'Assets/MyTool/Tool.cs', 'public class Tool {}'), ...asset(GUID_B, 'Assets/MyTool/icon.png', randomBytes(3000)) });

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pk-unity-'));
    plugin = await startExample('unity-format');
    console.log(`      unity-format component: ${plugin.size} bytes`);
  });
  after(async () => {
    await plugin?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('serves format key "unity"', async () => {
    expect(await plugin.pool.call(FormatKey)).to.equal('unity');
  });

  it('accepts a real package and takes its version from the file name', async () => {
    const data = await unitypackage(tool());
    expect(await plugin.pool.call(Validate, { path: 'tools/MyTool-1.2.3.unitypackage', data })).to.equal(null);
    expect(await plugin.pool.call(ParseMetadata, { path: 'tools/MyTool-1.2.3.unitypackage', data })).to.deep.equal({
      path: 'tools/MyTool-1.2.3.unitypackage',
      version: '1.2.3',
      contentType: 'application/gzip',
      sizeBytes: data.byteLength,
      checksumSha256: null,
    });
    // Folders have a pathname but no asset; other version spellings are common too.
    const withFolder = await unitypackage({ [`${GUID_B}/pathname`]: 'Assets/MyTool', ...asset(GUID_A, 'Assets/MyTool/Tool.cs', 'x') });
    expect(await plugin.pool.call(ParseMetadata, { path: 'My Tool_v2.0.1-beta.3.unitypackage', data: withFolder })).to.include({ version: '2.0.1-beta.3' });
  });

  it('checks a package of several megabytes within its time limit', async () => {
    const data = await unitypackage({ ...tool(), ...asset('ffffffffffffffffffffffffffffffff', 'Assets/MyTool/big.bin', randomBytes(8 * 1024 * 1024)) });
    const started = Date.now();
    await plugin.pool.call(Validate, { path: 'MyTool-1.0.0.unitypackage', data });
    console.log(`      validated ${(data.byteLength / 1024 / 1024).toFixed(1)} MB in ${Date.now() - started} ms`);
  });

  describe('rejects, saying precisely why', () => {
    const name = 'MyTool-1.2.3.unitypackage';

    it('a file that is not gzip', async () => {
      expect(await rejection(plugin.pool, name, Buffer.from('PK\u0003\u0004 a zip archive'))).to.equal(
        'not a gzip file: it does not start with the gzip signature 1f 8b',
      );
    });

    it('damaged gzip: cut off, or contents that do not match the trailer', async () => {
      const data = await unitypackage(tool());
      expect(await rejection(plugin.pool, name, data.subarray(0, Math.floor(data.length / 2)))).to.equal(
        'damaged gzip: the compressed data is invalid (unexpected EOF)',
      );
      const badTrailer = Buffer.from(data);
      badTrailer.writeUInt32LE(0xdeadbeef, data.length - 8);
      const crc = crc32(gunzipSync(data)).toString(16).padStart(8, '0');
      expect(await rejection(plugin.pool, name, badTrailer)).to.equal(
        `damaged gzip: the contents' CRC-32 is 0x${crc} but the trailer says 0xdeadbeef`,
      );
    });

    it('gzip around something that is not a tar archive', async () => {
      expect(await rejection(plugin.pool, name, gzipSync(Buffer.alloc(1024, 'x')))).to.equal(
        'not a tar archive: the first header has no valid checksum',
      );
    });

    it('a tar archive without pathname entries', async () => {
      const { [`${GUID_A}/pathname`]: _left, ...withoutPathname } = asset(GUID_A, 'Assets/A.cs', 'x');
      expect(await rejection(plugin.pool, name, await unitypackage(withoutPathname))).to.equal(
        `asset ${GUID_A} has no pathname entry: ${GUID_A}/pathname must say where the asset goes in the project`,
      );
    });

    it('entries outside <guid>/ folders, and asset paths leaving the project', async () => {
      expect(await rejection(plugin.pool, name, await unitypackage({ ...tool(), 'README.txt': 'hello' }))).to.equal(
        'unexpected entry "README.txt": a .unitypackage holds only <guid>/<file> entries, <guid> being 32 hex digits',
      );
      expect(await rejection(plugin.pool, name, await unitypackage(asset(GUID_A, 'Assets/../../.bashrc', 'x')))).to.equal(
        `${GUID_A}/pathname names "Assets/../../.bashrc", which is not a relative path inside the project`,
      );
    });

    it('a file name without a version', async () => {
      const data = await unitypackage(tool());
      expect(await rejection(plugin.pool, 'MyTool.unitypackage', data)).to.equal(
        '"MyTool.unitypackage" has no version in its name: name it <name>-<version>.unitypackage, e.g. MyTool-1.2.3.unitypackage',
      );
      expect(await rejection(plugin.pool, 'MyTool-1.2.3.tar.gz', data)).to.equal('"MyTool-1.2.3.tar.gz" is not a .unitypackage file');
    });
  });

  it('indexes packages by name, versions in order, as index.json', async () => {
    const artifact = (artifactPath: string, version: string, sizeBytes: number) =>
      ({ path: artifactPath, version, contentType: 'application/gzip', sizeBytes, checksumSha256: 'ab'.repeat(32) });
    const index = await plugin.pool.call(GenerateIndex, {
      artifacts: [
        artifact('b/Zeta-1.0.0.unitypackage', '1.0.0', 10),
        artifact('a/MyTool-1.10.0.unitypackage', '1.10.0', 30),
        artifact('a/MyTool-1.2.0.unitypackage', '1.2.0', 20),
        artifact('a/MyTool-1.10.0-beta.unitypackage', '1.10.0-beta', 25),
      ],
    });
    expect(index!.map((file) => file.path)).to.deep.equal(['index.json']);
    const document = JSON.parse(Buffer.from(index![0]!.content).toString('utf8'));
    expect(document.packages.map((entry: { name: string }) => entry.name)).to.deep.equal(['MyTool', 'Zeta']);
    expect(document.packages[0].versions.map((entry: { version: string }) => entry.version)).to.deep.equal(['1.2.0', '1.10.0-beta', '1.10.0']);
    expect(document.packages[0].versions[0]).to.deep.equal({ version: '1.2.0', path: 'a/MyTool-1.2.0.unitypackage', size: 20, sha256: 'ab'.repeat(32) });
  });
});
