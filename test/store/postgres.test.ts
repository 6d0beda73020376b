import { expect } from 'chai';
import { positional } from '../../supervisor/store/postgres.js';

describe('positional placeholders for pg', () => {
  it('numbers each ? in order', () => {
    expect(positional('SELECT * FROM t WHERE a = ? AND b = ? LIMIT ?')).to.equal('SELECT * FROM t WHERE a = $1 AND b = $2 LIMIT $3');
  });

  it('leaves a ? inside a string literal or a quoted identifier alone', () => {
    expect(positional(`SELECT '?', 'it''s ?', "odd?name" FROM t WHERE a = ?`)).to.equal(
      `SELECT '?', 'it''s ?', "odd?name" FROM t WHERE a = $1`,
    );
  });
});
