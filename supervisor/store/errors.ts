/**
 * The store's own errors, the same whichever engine raised them, so that services can act
 * on them (a duplicate name is a 409, an unreachable database a 503) without knowing
 * SQLite's or PostgreSQL's error codes.
 */

/** An insert or update would have given two rows the same value of a unique column. */
export class UniqueViolation extends Error {
  constructor(
    readonly table: string,
    /** The unique column, e.g. `name` or `format_key` (comma-separated for a composite key). */
    readonly column: string,
    options?: ErrorOptions,
  ) {
    super(`${table}.${column} must be unique: another row already has this value`, options);
    this.name = 'UniqueViolation';
  }
}

/** The database cannot be reached or opened: nothing the caller sent is at fault. */
export class DatabaseUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseUnavailable';
  }
}
