// The largest artifact a 1.0.0 plugin is given follows what its toolchain was measured to
// need (docs/plugin-guide.md, "Limits"); a 1.1.0 plugin takes what the server takes.
import { expect } from 'chai';
import { componentToolchain } from '../../supervisor/runtime/component.js';
import { ARTIFACT_MEMORY_NEEDS, maxArtifactBytesFor } from '../../supervisor/formats/wasm-handler.js';
import { fixtureWasm } from '../support/fixtures.js';

const MiB = 1024 * 1024;

describe('artifact limits of 1.0.0 plugins', function () {
  this.timeout(120_000);

  it("tells a componentize-js component by its producers section, anything else as 'other'", async () => {
    expect(componentToolchain(await fixtureWasm('js-handler'))).to.equal('componentize-js');
    expect(componentToolchain(await fixtureWasm('good'))).to.equal('other');
    expect(componentToolchain(await fixtureWasm('stream'))).to.equal('other');
    expect(componentToolchain(new Uint8Array([1, 2, 3]))).to.equal('other');
  });

  it('leaves a componentize-js plugin room for its measured copies, any other half its memory', () => {
    // 128 MB: (128 - 10) MiB / 7 = 16.9 MiB; a 20 MB artifact (which took one to 69 MiB) is refused.
    expect(maxArtifactBytesFor('componentize-js', 128)).to.equal(Math.floor((118 * MiB) / 7));
    expect(maxArtifactBytesFor('componentize-js', 128)).to.be.below(20 * MiB);
    expect(maxArtifactBytesFor('componentize-js', 8)).to.equal(0);
    expect(maxArtifactBytesFor('other', 64)).to.equal(32 * MiB);
    expect(ARTIFACT_MEMORY_NEEDS.other.fixedBytes).to.equal(0);
  });
});
