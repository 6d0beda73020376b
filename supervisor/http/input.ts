/**
 * Reading request input precisely. Each problem names the parameter or body field and what
 * was expected; all problems of one input are reported together, as a 400 `bad_request`
 * whose message lists them and whose `validation_errors` holds them as `{field, message}`.
 */
import { badRequest, type ValidationProblem } from '../services/errors.js';

export interface IntegerRange {
  min: number;
  /** None: any safe integer from `min`. */
  max?: number;
}

const describeRange = (range: IntegerRange): string =>
  range.max === undefined ? `a whole number of at least ${range.min}` : `a whole number from ${range.min} to ${range.max}`;

const inRange = (value: number, range: IntegerRange): boolean =>
  Number.isSafeInteger(value) && value >= range.min && (range.max === undefined || value <= range.max);

abstract class Input {
  private readonly problems: ValidationProblem[] = [];

  /** Throws the 400 when anything read so far was wrong. */
  done(): void {
    if (this.problems.length === 0) return;
    throw badRequest(this.problems.map((problem) => problem.message).join('; '), { validation_errors: this.problems });
  }

  /** Records a problem found by the caller, e.g. a required combination of fields. */
  invalid(field: string, message: string): void {
    this.fail(field, message);
  }

  protected fail(field: string, message: string): undefined {
    this.problems.push({ field, message });
    return undefined;
  }
}

type Query = Record<string, string | string[] | undefined>;

/**
 * A query string. An empty value (`?status=`) counts as absent, as forms and UIs send them
 * for "no filter"; a parameter given twice is a problem (which one would be meant?).
 */
export class QueryInput extends Input {
  constructor(private readonly query: Query) {
    super();
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const raw = this.single(name);
    if (raw === undefined) return undefined;
    if ((values as readonly string[]).includes(raw)) return raw as T;
    return this.fail(name, `query parameter "${name}" must be one of ${values.join(', ')}, got "${raw}"`);
  }

  /** Any non-empty value, for filters the service checks. */
  string(name: string): string | undefined {
    return this.single(name);
  }

  integer(name: string, range: IntegerRange, fallback: number): number {
    const raw = this.single(name);
    if (raw === undefined) return fallback;
    const value = /^[+-]?\d+$/.test(raw) ? Number(raw) : NaN;
    if (inRange(value, range)) return value;
    this.fail(name, `query parameter "${name}" must be ${describeRange(range)}, got "${raw}"`);
    return fallback;
  }

  boolean(name: string): boolean | undefined {
    const raw = this.oneOf(name, ['true', 'false'] as const);
    return raw === undefined ? undefined : raw === 'true';
  }

  private single(name: string): string | undefined {
    const raw = this.query[name];
    if (Array.isArray(raw)) return this.fail(name, `query parameter "${name}" must be given once, got ${raw.length} values`);
    return raw === '' ? undefined : raw;
  }
}

/** The fields of a JSON object body; fields it does not know are problems (a typo must not pass silently). */
export class BodyInput extends Input {
  private readonly fields: Record<string, unknown>;

  /** `body` is the parsed JSON, undefined when the request had none. */
  constructor(body: unknown, known: readonly string[]) {
    super();
    if (body === undefined) {
      this.fail('body', `a JSON object body is required (fields: ${known.join(', ')})`);
      this.fields = {};
    } else if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.fail('body', `the body must be a JSON object (fields: ${known.join(', ')})`);
      this.fields = {};
    } else {
      this.fields = body as Record<string, unknown>;
      for (const name of Object.keys(this.fields)) {
        if (!known.includes(name)) this.fail(name, `unknown field "${name}"; expected ${known.join(', ')}`);
      }
    }
  }

  /** Names of the fields present (null counts as absent). */
  present(): string[] {
    return Object.keys(this.fields).filter((name) => this.fields[name] != null);
  }

  /** A required string reads as '' when it is missing or wrong, and `done()` throws. */
  string(name: string, options: { required: true; allowEmpty?: boolean }): string;
  string(name: string, options: { required: false; allowEmpty?: boolean }): string | undefined;
  string(name: string, options: { required: boolean; allowEmpty?: boolean }): string | undefined {
    const value = this.fields[name];
    if (typeof value === 'string' && (options.allowEmpty || value.trim() !== '')) return value;
    if (typeof value === 'string') this.fail(name, `field "${name}" must not be empty`);
    else if (value != null) this.fail(name, `field "${name}" must be a string, got ${typeName(value)}`);
    else if (options.required) this.fail(name, `field "${name}" is required`);
    return options.required ? '' : undefined;
  }

  integer(name: string, range: IntegerRange): number | undefined {
    const value = this.fields[name];
    if (value == null) return undefined;
    if (typeof value === 'number' && inRange(value, range)) return value;
    return this.fail(name, `field "${name}" must be ${describeRange(range)}, got ${JSON.stringify(value)}`);
  }

  boolean(name: string): boolean | undefined {
    const value = this.fields[name];
    if (value == null) return undefined;
    if (typeof value === 'boolean') return value;
    return this.fail(name, `field "${name}" must be true or false, got ${typeName(value)}`);
  }
}

const typeName = (value: unknown): string => (Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path parameter that must be a UUID; returned lowercase, the form ids are stored in. */
export function parseUuid(name: string, raw: string): string {
  if (!UUID.test(raw)) {
    const message = `path parameter "${name}" must be a UUID, got "${raw}"`;
    throw badRequest(message, { validation_errors: [{ field: name, message }] });
  }
  return raw.toLowerCase();
}
