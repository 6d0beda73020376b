import { expect } from 'chai';
import { checkRelativePath, MAX_PATH_LENGTH } from '../../../supervisor/relative-path.js';

describe('artifact paths', () => {
  it('normalises empty and "." segments', () => {
    expect(checkRelativePath('a/b/c.txt')).to.deep.equal({ path: 'a/b/c.txt' });
    expect(checkRelativePath('./a//b/./c.txt/')).to.deep.equal({ path: 'a/b/c.txt' });
    expect(checkRelativePath('..a/b..c/...')).to.deep.equal({ path: '..a/b..c/...' });
  });

  for (const [raw, problem] of [
    ['', /empty/],
    ['a/../b', /"\.\." segment/],
    ['..', /"\.\." segment/],
    ['/etc/passwd', /absolute/],
    ['a\\b', /backslash/],
    ['a\u0000b', /NUL/],
    ['a\nb', /control/],
    ['C:x', /drive letter/],
    ['./', /names no file/],
    ['x'.repeat(MAX_PATH_LENGTH + 1), /longer than/],
  ] as const) {
    it(`refuses ${JSON.stringify(raw.slice(0, 20))}`, () => {
      const checked = checkRelativePath(raw);
      expect(checked).to.have.property('problem').that.matches(problem);
    });
  }
});
