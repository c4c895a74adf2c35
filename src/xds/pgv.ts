import { isIP, isIPv4, isIPv6 } from 'net';
import * as protobuf from 'protobufjs';
import {
  enumInfo,
  hasSpecialJson,
  isWrapperType,
  jsonNameOf,
  keyTypeOf,
  lookupMessageType,
  parseBase64,
  parseDuration,
  parseTimestamp,
  protoNameOf,
  typeForUrl,
  typeNameOf,
  formatDuration,
} from './proto-json';

/**
 * A protoc-gen-validate checker driven by the `(validate.rules)` options in the loaded protos,
 * applied to proto3 JSON. Rules follow PGV's generated validators: an unset scalar is checked as its
 * default value, an unset message is only checked by `required`, a oneof member's rules apply only
 * when that member is set, wrapper types carry the rules of the wrapped scalar (`uint32` on a
 * UInt32Value) and apply when the wrapper is set.
 */

/** A `(validate.rules)` the checker cannot enforce. Raised when a type's rules are compiled, never skipped silently. */
export class PgvRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgvRuleError';
  }
}

const NUMERIC_KINDS = [
  'float',
  'double',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
] as const;
const INT64_KINDS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** Every rule of validate.proto, by rule kind. Each one is enforced below. */
const RULE_KEYS: Record<string, readonly string[]> = {
  ...Object.fromEntries(
    NUMERIC_KINDS.map((kind) => [kind, ['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in', 'ignore_empty']]),
  ),
  bool: ['const'],
  string: [
    'const',
    'len',
    'min_len',
    'max_len',
    'len_bytes',
    'min_bytes',
    'max_bytes',
    'pattern',
    'prefix',
    'suffix',
    'contains',
    'not_contains',
    'in',
    'not_in',
    'email',
    'hostname',
    'ip',
    'ipv4',
    'ipv6',
    'uri',
    'uri_ref',
    'address',
    'uuid',
    'well_known_regex',
    'strict',
    'ignore_empty',
  ],
  bytes: [
    'const',
    'len',
    'min_len',
    'max_len',
    'pattern',
    'prefix',
    'suffix',
    'contains',
    'in',
    'not_in',
    'ip',
    'ipv4',
    'ipv6',
    'ignore_empty',
  ],
  enum: ['const', 'defined_only', 'in', 'not_in'],
  message: ['skip', 'required'],
  repeated: ['min_items', 'max_items', 'unique', 'items', 'ignore_empty'],
  map: ['min_pairs', 'max_pairs', 'no_sparse', 'keys', 'values', 'ignore_empty'],
  any: ['required', 'in', 'not_in'],
  duration: ['required', 'const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in'],
  timestamp: ['required', 'const', 'lt', 'lte', 'gt', 'gte', 'lt_now', 'gt_now', 'within'],
};

/** `kind.rule` for every rule the checker enforces, e.g. `string.min_len`, `repeated.items`. */
export const SUPPORTED_RULES: ReadonlySet<string> = new Set(
  Object.entries(RULE_KEYS).flatMap(([kind, keys]) => keys.map((key) => `${kind}.${key}`)),
);

type Rules = Record<string, unknown>;
type Report = (path: string, message: string) => void;
/** Checks one present value (JSON). */
type Check = (value: unknown, path: string, out: string[]) => void;

interface ElementValidator {
  /** The value is present (not undefined; null only where null is a value). */
  readonly present: Check;
  /** The field is absent from the JSON. */
  readonly absent?: (path: string, out: string[]) => void;
}

interface FieldValidator {
  readonly jsonName: string;
  readonly protoName: string;
  readonly nullIsValue: boolean;
  readonly present: Check;
  readonly absent?: (path: string, out: string[]) => void;
  /** Index into MessageValidator.oneofs, -1 outside a (real) oneof. */
  readonly oneof: number;
}

interface OneofValidator {
  readonly name: string;
  readonly required: boolean;
  /** The members' JSON names, for messages. */
  readonly names: string;
}

interface MessageValidator {
  readonly typeName: string;
  /** Field by JSON and .proto name; null when the message's validation is disabled. */
  readonly byKey: ReadonlyMap<string, FieldValidator | null>;
  /** Fields whose absence can be a violation (proto3 defaults, required). */
  readonly absentChecks: readonly FieldValidator[];
  readonly oneofs: readonly OneofValidator[];
}

const join = (path: string, name: string): string => (path ? `${path}.${name}` : name);
const push: (out: string[]) => Report = (out) => (path, message) =>
  out.push(`${path || '(root)'}: ${message}`);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function toArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function show(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return JSON.stringify(value) ?? String(value);
}

// ---------------------------------------------------------------------------------------------
// Rule extraction

/** The merged `(validate.rules)` of a field, from protobufjs' parsedOptions (the flattened `options` lose list values and empty messages). */
export function fieldRulesOf(field: protobuf.Field): Rules | undefined {
  let merged: Rules | undefined;
  // Typed as a map in protobufjs' .d.ts, but an array of single-option objects at runtime.
  const parsed = field.parsedOptions as unknown as Record<string, unknown>[] | undefined;
  for (const option of parsed ?? []) {
    const rules = option['(validate.rules)'];
    if (isPlainObject(rules)) merged = merged ? deepMerge(merged, rules) : rules;
  }
  return merged;
}

function deepMerge(a: Rules, b: Rules): Rules {
  const out: Rules = { ...a };
  for (const [key, value] of Object.entries(b)) {
    out[key] = isPlainObject(out[key]) && isPlainObject(value) ? deepMerge(out[key] as Rules, value) : value;
  }
  return out;
}

function checkKeys(kind: string, rules: Rules, where: string): void {
  const allowed = RULE_KEYS[kind];
  for (const key of Object.keys(rules)) {
    if (!allowed.includes(key)) throw new PgvRuleError(`${where}: unsupported rule ${kind}.${key}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Comparable values (numbers, int64 as bigint, durations and timestamps as bigint nanoseconds)

type Cmp = number | bigint;

interface Bound {
  readonly value: Cmp;
  readonly inclusive: boolean;
}

/** PGV's gt/gte/lt/lte semantics, including the "outside range" form when lt < gt. */
function rangeCheck(
  rules: Rules,
  conv: (raw: unknown) => Cmp,
  display: (value: Cmp) => string,
): ((value: Cmp) => string | undefined) | undefined {
  const lower: Bound | undefined =
    rules.gt !== undefined
      ? { value: conv(rules.gt), inclusive: false }
      : rules.gte !== undefined
        ? { value: conv(rules.gte), inclusive: true }
        : undefined;
  const upper: Bound | undefined =
    rules.lt !== undefined
      ? { value: conv(rules.lt), inclusive: false }
      : rules.lte !== undefined
        ? { value: conv(rules.lte), inclusive: true }
        : undefined;
  const aboveLower = (v: Cmp): boolean => (lower!.inclusive ? v >= lower!.value : v > lower!.value);
  const belowUpper = (v: Cmp): boolean => (upper!.inclusive ? v <= upper!.value : v < upper!.value);
  if (lower && upper) {
    if (upper.value > lower.value) {
      const text = `value must be inside range ${lower.inclusive ? '[' : '('}${display(lower.value)}, ${display(upper.value)}${upper.inclusive ? ']' : ')'}`;
      return (v) => (aboveLower(v) && belowUpper(v) ? undefined : text);
    }
    const text = `value must be outside range ${upper.inclusive ? '(' : '['}${display(upper.value)}, ${display(lower.value)}${lower.inclusive ? ')' : ']'}`;
    return (v) => (aboveLower(v) || belowUpper(v) ? undefined : text);
  }
  if (lower) {
    const text = `value must be greater than ${lower.inclusive ? 'or equal to ' : ''}${display(lower.value)}`;
    return (v) => (aboveLower(v) ? undefined : text);
  }
  if (upper) {
    const text = `value must be less than ${upper.inclusive ? 'or equal to ' : ''}${display(upper.value)}`;
    return (v) => (belowUpper(v) ? undefined : text);
  }
  return undefined;
}

/** Checks shared by numbers, durations and timestamps: const, range, in, not_in. */
function comparableChecks(
  rules: Rules,
  conv: (raw: unknown) => Cmp,
  display: (value: Cmp) => string,
): ((value: Cmp) => string | undefined)[] {
  const checks: ((value: Cmp) => string | undefined)[] = [];
  if (rules.const !== undefined) {
    const c = conv(rules.const);
    checks.push((v) => (v === c ? undefined : `value must equal ${display(c)}`));
  }
  const range = rangeCheck(rules, conv, display);
  if (range) checks.push(range);
  if (rules.in !== undefined) {
    const list = toArray(rules.in).map(conv);
    const text = `value must be in list [${list.map(display).join(', ')}]`;
    checks.push((v) => (list.includes(v) ? undefined : text));
  }
  if (rules.not_in !== undefined) {
    const list = toArray(rules.not_in).map(conv);
    const text = `value must not be in list [${list.map(display).join(', ')}]`;
    checks.push((v) => (list.includes(v) ? text : undefined));
  }
  return checks;
}

function bigFromRule(raw: unknown): bigint {
  if (typeof raw === 'number' || typeof raw === 'string') return BigInt(raw);
  if (typeof raw === 'bigint') return raw;
  if (isPlainObject(raw) && typeof raw.low === 'number' && typeof raw.high === 'number') {
    const bits = (BigInt((raw.high as number) >>> 0) << 32n) | BigInt((raw.low as number) >>> 0);
    return raw.unsigned ? bits : BigInt.asIntN(64, bits);
  }
  throw new PgvRuleError(`unsupported integer rule value ${show(raw)}`);
}

/** A google.protobuf.Duration/Timestamp rule value (`{seconds, nanos}`, `{}` = 0) in nanoseconds. */
function nanosFromRule(raw: unknown): bigint {
  if (!isPlainObject(raw)) throw new PgvRuleError(`unsupported duration/timestamp rule value ${show(raw)}`);
  return bigFromRule(raw.seconds ?? 0) * 1000000000n + bigFromRule(raw.nanos ?? 0);
}

const nanosOf = (t: { seconds: number; nanos: number }): bigint =>
  BigInt(t.seconds) * 1000000000n + BigInt(t.nanos);

function displayDuration(nanos: Cmp): string {
  const n = BigInt(nanos);
  return formatDuration(Number(n / 1000000000n), Number(n % 1000000000n));
}

function displayTimestamp(nanos: Cmp): string {
  const n = BigInt(nanos);
  const seconds = n / 1000000000n - (n % 1000000000n < 0n ? 1n : 0n);
  const rest = n - seconds * 1000000000n;
  const date = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return rest === 0n ? `${date}Z` : `${date}.${rest.toString().padStart(9, '0')}Z`;
}

// ---------------------------------------------------------------------------------------------
// Scalars

const INTEGER_LIMITS: Record<string, [bigint, bigint]> = {
  int32: [-(1n << 31n), (1n << 31n) - 1n],
  sint32: [-(1n << 31n), (1n << 31n) - 1n],
  sfixed32: [-(1n << 31n), (1n << 31n) - 1n],
  uint32: [0n, (1n << 32n) - 1n],
  fixed32: [0n, (1n << 32n) - 1n],
  int64: [-(1n << 63n), (1n << 63n) - 1n],
  sint64: [-(1n << 63n), (1n << 63n) - 1n],
  sfixed64: [-(1n << 63n), (1n << 63n) - 1n],
  uint64: [0n, (1n << 64n) - 1n],
  fixed64: [0n, (1n << 64n) - 1n],
};

/** The JSON value of a numeric field as a comparable, or a string describing why it is not one. */
function numericParser(kind: string): (value: unknown) => Cmp | string {
  if (kind === 'float' || kind === 'double') {
    return (value) => {
      if (value === undefined) return 0;
      if (typeof value === 'number') return value;
      if (value === 'NaN') return NaN;
      if (value === 'Infinity') return Infinity;
      if (value === '-Infinity') return -Infinity;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
        return Number(value);
      return `invalid ${kind} ${show(value)}`;
    };
  }
  const [min, max] = INTEGER_LIMITS[kind];
  const big = INT64_KINDS.has(kind);
  return (value) => {
    if (value === undefined) return big ? 0n : 0;
    let n: bigint;
    if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
    else if (typeof value === 'string' && /^-?\d+$/.test(value)) n = BigInt(value);
    else if (typeof value === 'string' && value.trim() !== '' && Number.isInteger(Number(value)))
      n = BigInt(Number(value));
    else return `invalid ${kind} ${show(value)}`;
    if (n < min || n > max) return `${show(value)} is out of range for ${kind}`;
    return big ? n : Number(n);
  };
}

function numericValidator(kind: string, rules: Rules): Check {
  const parse = numericParser(kind);
  const big = INT64_KINDS.has(kind);
  const conv = (raw: unknown): Cmp => (big ? bigFromRule(raw) : Number(raw));
  const checks = comparableChecks(rules, conv, (v) => v.toString());
  const ignoreEmpty = rules.ignore_empty === true;
  return (value, path, out) => {
    const v = parse(value);
    if (typeof v === 'string') return void out.push(`${path}: ${v}`);
    if (ignoreEmpty && (v === 0 || v === 0n)) return;
    for (const check of checks) {
      const problem = check(v);
      if (problem) out.push(`${path}: ${problem}`);
    }
  };
}

function boolValidator(rules: Rules): Check {
  return (value, path, out) => {
    if (value !== undefined && typeof value !== 'boolean')
      return void out.push(`${path}: invalid bool ${show(value)}`);
    const v = value ?? false;
    if (rules.const !== undefined && v !== rules.const)
      out.push(`${path}: value must equal ${show(rules.const)}`);
  };
}

// PGV's own well_known_regex patterns (validate.proto), control characters and the `+-.` range included.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
// eslint-disable-next-line no-control-regex
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// eslint-disable-next-line no-control-regex
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function isHostname(value: string): boolean {
  const host = value.endsWith('.') ? value.slice(0, -1) : value;
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function isEmail(value: string): boolean {
  const angle = /^[^<>]*<([^<>]+)>$/.exec(value);
  const address = angle ? angle[1] : value;
  if (address.length > 254) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const local = address.slice(0, at);
  return local.length <= 64 && !/[\s@]/.test(local) && isHostname(address.slice(at + 1));
}

function isUri(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

function isUriRef(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f<>"{}|\\^`]/.test(value)) return false;
  try {
    new URL(value, 'http://reference.invalid/');
    return true;
  } catch {
    return false;
  }
}

/** Compiles an RE2 pattern as a JS RegExp: leading inline flags, \A, \z and \pL become their JS forms. */
export function compileRe2(pattern: string, where: string): RegExp {
  let source = pattern;
  let flags = '';
  const inline = /^\(\?([imsU]+)\)/.exec(source);
  if (inline) {
    if (inline[1].includes('U'))
      throw new PgvRuleError(`${where}: RE2 flag U is not supported in ${show(pattern)}`);
    flags = inline[1];
    source = source.slice(inline[0].length);
  }
  source = source
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$')
    .replace(/\\([pP])([A-Z])/g, '\\$1{$2}')
    .replace(/\(\?P</g, '(?<');
  // Flags set mid-pattern, or (?flags:...) groups, have no JS equivalent (Node 20).
  if (/\(\?[a-zA-Z-]/.test(source)) {
    throw new PgvRuleError(`${where}: RE2 inline flags are not supported in ${show(pattern)}`);
  }
  for (const attempt of [`${flags}u`, flags]) {
    try {
      return new RegExp(source, attempt);
    } catch {
      // try without the unicode flag
    }
  }
  throw new PgvRuleError(`${where}: pattern ${show(pattern)} does not compile as a JS RegExp`);
}

function runeCount(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff || i + 1 >= value.length) count++;
  }
  return count;
}

type StringCheck = (value: string) => string | undefined;

function stringValidator(rules: Rules, where: string): Check {
  const checks: StringCheck[] = [];
  const add = (check: StringCheck): void => void checks.push(check);
  if (rules.const !== undefined)
    add((v) => (v === rules.const ? undefined : `value must equal ${show(rules.const)}`));
  if (rules.len !== undefined) {
    const n = Number(rules.len);
    add((v) => (runeCount(v) === n ? undefined : `value length must be ${n} runes`));
  }
  if (rules.min_len !== undefined) {
    const n = Number(rules.min_len);
    add((v) => (runeCount(v) >= n ? undefined : `value length must be at least ${n} runes`));
  }
  if (rules.max_len !== undefined) {
    const n = Number(rules.max_len);
    add((v) => (runeCount(v) <= n ? undefined : `value length must be at most ${n} runes`));
  }
  if (rules.len_bytes !== undefined) {
    const n = Number(rules.len_bytes);
    add((v) => (Buffer.byteLength(v, 'utf8') === n ? undefined : `value length must be ${n} bytes`));
  }
  if (rules.min_bytes !== undefined) {
    const n = Number(rules.min_bytes);
    add((v) => (Buffer.byteLength(v, 'utf8') >= n ? undefined : `value length must be at least ${n} bytes`));
  }
  if (rules.max_bytes !== undefined) {
    const n = Number(rules.max_bytes);
    add((v) => (Buffer.byteLength(v, 'utf8') <= n ? undefined : `value length must be at most ${n} bytes`));
  }
  if (rules.pattern !== undefined) {
    const re = compileRe2(String(rules.pattern), where);
    add((v) => (re.test(v) ? undefined : `value does not match regex pattern "${String(rules.pattern)}"`));
  }
  if (rules.prefix !== undefined) {
    const p = String(rules.prefix);
    add((v) => (v.startsWith(p) ? undefined : `value does not have prefix ${show(p)}`));
  }
  if (rules.suffix !== undefined) {
    const s = String(rules.suffix);
    add((v) => (v.endsWith(s) ? undefined : `value does not have suffix ${show(s)}`));
  }
  if (rules.contains !== undefined) {
    const s = String(rules.contains);
    add((v) => (v.includes(s) ? undefined : `value does not contain substring ${show(s)}`));
  }
  if (rules.not_contains !== undefined) {
    const s = String(rules.not_contains);
    add((v) => (v.includes(s) ? `value contains substring ${show(s)}` : undefined));
  }
  if (rules.in !== undefined) {
    const list = toArray(rules.in).map(String);
    add((v) => (list.includes(v) ? undefined : `value must be in list ${show(list)}`));
  }
  if (rules.not_in !== undefined) {
    const list = toArray(rules.not_in).map(String);
    add((v) => (list.includes(v) ? `value must not be in list ${show(list)}` : undefined));
  }
  const wellKnown: [string, (v: string) => boolean, string][] = [
    ['email', isEmail, 'value must be a valid email address'],
    ['hostname', isHostname, 'value must be a valid hostname'],
    ['ip', (v) => isIP(v) !== 0, 'value must be a valid IP address'],
    ['ipv4', isIPv4, 'value must be a valid IPv4 address'],
    ['ipv6', isIPv6, 'value must be a valid IPv6 address'],
    ['uri', isUri, 'value must be a valid URI'],
    ['uri_ref', isUriRef, 'value must be a valid URI reference'],
    ['address', (v) => isIP(v) !== 0 || isHostname(v), 'value must be a valid hostname or IP address'],
    ['uuid', UUID.test.bind(UUID), 'value must be a valid UUID'],
  ];
  for (const [rule, test, message] of wellKnown) {
    if (rules[rule] === true) add((v) => (test(v) ? undefined : message));
  }
  if (rules.well_known_regex !== undefined) {
    const strict = rules.strict !== false;
    const kind = rules.well_known_regex;
    let re: RegExp | undefined;
    if (kind === 'HTTP_HEADER_NAME' || kind === 1) re = strict ? HEADER_NAME_STRICT : HEADER_LOOSE;
    else if (kind === 'HTTP_HEADER_VALUE' || kind === 2) re = strict ? HEADER_VALUE_STRICT : HEADER_LOOSE;
    else if (kind !== 'UNKNOWN' && kind !== 0)
      throw new PgvRuleError(`${where}: unknown well_known_regex ${show(kind)}`);
    if (re) {
      const regex = re;
      add((v) => (regex.test(v) ? undefined : `value does not match regex pattern "${regex.source}"`));
    }
  }
  const ignoreEmpty = rules.ignore_empty === true;
  return (value, path, out) => {
    if (value !== undefined && typeof value !== 'string')
      return void out.push(`${path}: invalid string ${show(value)}`);
    const v = value ?? '';
    if (ignoreEmpty && v === '') return;
    for (const check of checks) {
      const problem = check(v);
      if (problem) out.push(`${path}: ${problem}`);
    }
  };
}

/** Bytes in a text-format option arrive as a JS string of byte values (or UTF-8 text). */
function bytesFromRule(raw: unknown): Buffer {
  const text = String(raw);
  const latin1 = [...text].every((c) => c.charCodeAt(0) <= 0xff);
  return Buffer.from(text, latin1 ? 'latin1' : 'utf8');
}

type BytesCheck = (value: Buffer) => string | undefined;

function bytesValidator(rules: Rules, where: string): Check {
  const checks: BytesCheck[] = [];
  const add = (check: BytesCheck): void => void checks.push(check);
  if (rules.const !== undefined) {
    const c = bytesFromRule(rules.const);
    add((v) => (v.equals(c) ? undefined : `value must equal ${c.toString('base64')} (base64)`));
  }
  for (const [rule, cmp, text] of [
    ['len', (a: number, b: number) => a === b, 'value length must be'],
    ['min_len', (a: number, b: number) => a >= b, 'value length must be at least'],
    ['max_len', (a: number, b: number) => a <= b, 'value length must be at most'],
  ] as const) {
    if (rules[rule] !== undefined) {
      const n = Number(rules[rule]);
      add((v) => (cmp(v.length, n) ? undefined : `${text} ${n} bytes`));
    }
  }
  if (rules.pattern !== undefined) {
    const re = compileRe2(String(rules.pattern), where);
    add((v) =>
      re.test(v.toString('utf8'))
        ? undefined
        : `value does not match regex pattern "${String(rules.pattern)}"`,
    );
  }
  if (rules.prefix !== undefined) {
    const p = bytesFromRule(rules.prefix);
    add((v) => (v.subarray(0, p.length).equals(p) ? undefined : 'value does not have the required prefix'));
  }
  if (rules.suffix !== undefined) {
    const s = bytesFromRule(rules.suffix);
    add((v) =>
      v.length >= s.length && v.subarray(v.length - s.length).equals(s)
        ? undefined
        : 'value does not have the required suffix',
    );
  }
  if (rules.contains !== undefined) {
    const s = bytesFromRule(rules.contains);
    add((v) => (v.includes(s) ? undefined : 'value does not contain the required bytes'));
  }
  if (rules.in !== undefined) {
    const list = toArray(rules.in).map(bytesFromRule);
    add((v) => (list.some((b) => b.equals(v)) ? undefined : 'value must be in the allowed list'));
  }
  if (rules.not_in !== undefined) {
    const list = toArray(rules.not_in).map(bytesFromRule);
    add((v) => (list.some((b) => b.equals(v)) ? 'value must not be in the forbidden list' : undefined));
  }
  if (rules.ip === true)
    add((v) =>
      v.length === 4 || v.length === 16 ? undefined : 'value must be a valid IP address in byte format',
    );
  if (rules.ipv4 === true)
    add((v) => (v.length === 4 ? undefined : 'value must be a valid IPv4 address in byte format'));
  if (rules.ipv6 === true)
    add((v) => (v.length === 16 ? undefined : 'value must be a valid IPv6 address in byte format'));
  const ignoreEmpty = rules.ignore_empty === true;
  return (value, path, out) => {
    let v: Buffer;
    try {
      v = value === undefined ? Buffer.alloc(0) : Buffer.from(parseBase64(value));
    } catch {
      return void out.push(`${path}: invalid bytes ${show(value)}`);
    }
    if (ignoreEmpty && v.length === 0) return;
    for (const check of checks) {
      const problem = check(v);
      if (problem) out.push(`${path}: ${problem}`);
    }
  };
}

function enumValidator(e: protobuf.Enum, rules: Rules, where: string): Check {
  const info = enumInfo(e);
  const numberOf = (raw: unknown): number => {
    const n = typeof raw === 'string' ? info.byName.get(raw) : Number(raw);
    if (n === undefined || !Number.isInteger(n))
      throw new PgvRuleError(`${where}: bad enum rule value ${show(raw)}`);
    return n;
  };
  const checks: ((n: number) => string | undefined)[] = [];
  if (rules.const !== undefined) {
    const c = numberOf(rules.const);
    checks.push((n) => (n === c ? undefined : `value must equal ${info.byNumber.get(c) ?? c}`));
  }
  if (rules.defined_only === true) {
    checks.push((n) => (info.byNumber.has(n) ? undefined : 'value must be one of the defined enum values'));
  }
  if (rules.in !== undefined) {
    const list = toArray(rules.in).map(numberOf);
    const names = list.map((n) => info.byNumber.get(n) ?? n);
    checks.push((n) => (list.includes(n) ? undefined : `value must be in list ${show(names)}`));
  }
  if (rules.not_in !== undefined) {
    const list = toArray(rules.not_in).map(numberOf);
    const names = list.map((n) => info.byNumber.get(n) ?? n);
    checks.push((n) => (list.includes(n) ? `value must not be in list ${show(names)}` : undefined));
  }
  return (value, path, out) => {
    let n: number;
    if (value === undefined || (value === null && info.name === 'google.protobuf.NullValue')) n = 0;
    else if (typeof value === 'string') {
      const found = info.byName.get(value);
      if (found === undefined) return void out.push(`${path}: unknown ${info.name} value ${show(value)}`);
      n = found;
    } else if (typeof value === 'number' && Number.isInteger(value)) n = value;
    else return void out.push(`${path}: invalid enum value ${show(value)}`);
    for (const check of checks) {
      const problem = check(n);
      if (problem) out.push(`${path}: ${problem}`);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Well-known message rules

function timeValidator(kind: 'duration' | 'timestamp', rules: Rules): Check {
  const parse = kind === 'duration' ? parseDuration : parseTimestamp;
  const display = kind === 'duration' ? displayDuration : displayTimestamp;
  const checks = comparableChecks(rules, nanosFromRule, display);
  const nowChecks: ((v: bigint, now: bigint) => string | undefined)[] = [];
  if (rules.lt_now === true)
    nowChecks.push((v, now) => (v < now ? undefined : 'value must be less than now'));
  if (rules.gt_now === true)
    nowChecks.push((v, now) => (v > now ? undefined : 'value must be greater than now'));
  if (rules.within !== undefined) {
    const within = nanosFromRule(rules.within);
    nowChecks.push((v, now) => {
      const delta = v > now ? v - now : now - v;
      return delta <= within ? undefined : `value must be within ${displayDuration(within)} of now`;
    });
  }
  return (value, path, out) => {
    const parsed = typeof value === 'string' ? parse(value) : undefined;
    if (!parsed) return void out.push(`${path}: invalid ${kind} ${show(value)}`);
    const v = nanosOf(parsed);
    for (const check of checks) {
      const problem = check(v);
      if (problem) out.push(`${path}: ${problem}`);
    }
    if (nowChecks.length) {
      const now = BigInt(Date.now()) * 1000000n;
      for (const check of nowChecks) {
        const problem = check(v, now);
        if (problem) out.push(`${path}: ${problem}`);
      }
    }
  };
}

function anyValidator(rules: Rules): Check {
  const allowed = rules.in !== undefined ? toArray(rules.in).map(String) : undefined;
  const forbidden = rules.not_in !== undefined ? toArray(rules.not_in).map(String) : undefined;
  return (value, path, out) => {
    const typeUrl = isPlainObject(value) ? value['@type'] : undefined;
    if (typeof typeUrl !== 'string') return; // reported by the payload walk
    if (allowed && !allowed.includes(typeUrl)) out.push(`${path}: type URL must be in list ${show(allowed)}`);
    if (forbidden && forbidden.includes(typeUrl))
      out.push(`${path}: type URL must not be in list ${show(forbidden)}`);
  };
}

// ---------------------------------------------------------------------------------------------
// Compilation

function compileElement(
  type: string,
  resolved: protobuf.ReflectionObject | null,
  rules: Rules | undefined,
  where: string,
  presenceTracked: boolean,
): ElementValidator {
  const kinds = Object.keys(rules ?? {});
  const only = (...allowed: string[]): void => {
    for (const kind of kinds) {
      if (!allowed.includes(kind))
        throw new PgvRuleError(`${where}: rule kind "${kind}" does not apply to a ${type} field`);
      checkKeys(kind, rules![kind] as Rules, where);
    }
  };
  const ruleOf = (kind: string): Rules | undefined => {
    const r = rules?.[kind];
    if (r === undefined) return undefined;
    if (!isPlainObject(r)) throw new PgvRuleError(`${where}: malformed ${kind} rules ${show(r)}`);
    return r;
  };

  if (resolved instanceof protobuf.Type) {
    const name = typeNameOf(resolved);
    const typeRules: Check[] = [];
    let requiredBy: string | undefined =
      ruleOf('message')?.required === true ? 'message.required' : undefined;
    if (isWrapperType(resolved)) {
      // A wrapper carries the rules of the scalar it wraps (uint32 on UInt32Value), applied when set.
      const wrapped = resolved.fieldsById[1].type;
      only('message', wrapped);
      const r = ruleOf(wrapped);
      if (r) typeRules.push(scalarValidator(wrapped, null, r, where));
    } else if (name === 'google.protobuf.Duration' || name === 'google.protobuf.Timestamp') {
      const kind = name === 'google.protobuf.Duration' ? 'duration' : 'timestamp';
      only('message', kind);
      const r = ruleOf(kind);
      if (r) {
        typeRules.push(timeValidator(kind, r));
        if (r.required === true) requiredBy = `${kind}.required`;
      }
    } else if (name === 'google.protobuf.Any') {
      only('message', 'any');
      const r = ruleOf('any');
      if (r) {
        typeRules.push(anyValidator(r));
        if (r.required === true) requiredBy = 'any.required';
      }
    } else {
      // Envoy writes `(validate.rules).any = {required: true}` on a non-Any message field
      // (ExtensionConfigSource.config_source). PGV's C++ generator, which Envoy builds with, renders
      // that as a presence check, so it means message.required; in/not_in could not compile there.
      only('message', 'any');
      const r = ruleOf('any');
      if (r) {
        for (const key of Object.keys(r)) {
          if (key !== 'required') throw new PgvRuleError(`${where}: any.${key} on a non-Any field`);
        }
        if (r.required === true) requiredBy = 'any.required';
      }
    }
    const skip = ruleOf('message')?.skip === true;
    const nested = skip ? undefined : nestedValidator(resolved);
    const present: Check = (value, path, out) => {
      for (const check of typeRules) check(value, path, out);
      nested?.(value, path, out);
    };
    return {
      present,
      // A oneof member's rules (required included) only apply when that member is the one set.
      absent:
        requiredBy && !presenceTracked
          ? (path, out) => void out.push(`${path}: value is required`)
          : undefined,
    };
  }

  const kind = resolved instanceof protobuf.Enum ? 'enum' : type;
  only(kind);
  const check = scalarValidator(type, resolved, ruleOf(kind) ?? {}, where);
  if (!rules) {
    // No rules: still report values of the wrong JSON type.
    return { present: check };
  }
  return {
    present: check,
    // proto3: an unset scalar is its default value; a oneof member / optional field is simply unset.
    absent: presenceTracked ? undefined : (path, out) => check(undefined, path, out),
  };
}

function scalarValidator(
  type: string,
  resolved: protobuf.ReflectionObject | null,
  rules: Rules,
  where: string,
): Check {
  if (resolved instanceof protobuf.Enum) return enumValidator(resolved, rules, where);
  switch (type) {
    case 'string':
      return stringValidator(rules, where);
    case 'bytes':
      return bytesValidator(rules, where);
    case 'bool':
      return boolValidator(rules);
    default:
      if ((NUMERIC_KINDS as readonly string[]).includes(type)) return numericValidator(type, rules);
      throw new PgvRuleError(`${where}: no validator for type ${type}`);
  }
}

/** Validation of a present message value by its own type (Any: by the payload's @type). */
function nestedValidator(type: protobuf.Type): Check | undefined {
  const name = typeNameOf(type);
  if (name === 'google.protobuf.Any') {
    return (value, path, out) => {
      if (!isPlainObject(value)) return void out.push(`${path}: expected an object (google.protobuf.Any)`);
      const typeUrl = value['@type'];
      if (typeof typeUrl !== 'string' || typeUrl === '')
        return void out.push(`${path}: google.protobuf.Any needs a "@type"`);
      const inner = typeForUrl(typeUrl);
      if (!inner) return void out.push(`${path}: unknown Any type ${show(typeUrl)}`);
      if (hasSpecialJson(inner)) return; // a well-known payload under "value" has no rules of its own
      validateInto(inner, value, path, out, '@type');
    };
  }
  if (hasSpecialJson(type)) return undefined; // wrappers, Struct, Value, Duration... carry no nested rules
  return (value, path, out) => validateInto(type, value, path, out, undefined);
}

function compileField(field: protobuf.Field): Omit<FieldValidator, 'oneof'> {
  field.resolve();
  const where = typeNameOf(field);
  const rules = fieldRulesOf(field);
  const jsonName = jsonNameOf(field);
  const protoName = protoNameOf(field);
  const resolved = field.resolvedType;
  const nullIsValue =
    resolved !== null &&
    (typeNameOf(resolved) === 'google.protobuf.Value' ||
      typeNameOf(resolved) === 'google.protobuf.NullValue');
  const base = { jsonName, protoName, nullIsValue };

  if (field.map) {
    for (const kind of Object.keys(rules ?? {})) {
      if (kind !== 'map')
        throw new PgvRuleError(`${where}: rule kind "${kind}" does not apply to a map field`);
    }
    const r = (rules?.map ?? {}) as Rules;
    checkKeys('map', r, where);
    const keyType = keyTypeOf(field);
    const keys = compileElement(keyType, null, r.keys as Rules | undefined, `${where} (keys)`, false).present;
    const values = compileElement(
      field.type,
      resolved,
      r.values as Rules | undefined,
      `${where} (values)`,
      false,
    ).present;
    const min = r.min_pairs !== undefined ? Number(r.min_pairs) : undefined;
    const max = r.max_pairs !== undefined ? Number(r.max_pairs) : undefined;
    const noSparse = r.no_sparse === true;
    const ignoreEmpty = r.ignore_empty === true;
    const keyJson = (key: string): unknown =>
      keyType === 'bool' ? (key === 'true' ? true : key === 'false' ? false : key) : key;
    const check: Check = (value, path, out) => {
      const map = value === undefined ? {} : value;
      if (!isPlainObject(map)) return void out.push(`${path}: expected an object (map), got ${show(value)}`);
      const entries = Object.keys(map);
      if (ignoreEmpty && entries.length === 0) return;
      if (min !== undefined && entries.length < min)
        out.push(`${path}: value must contain at least ${min} pair(s)`);
      if (max !== undefined && entries.length > max)
        out.push(`${path}: value must contain no more than ${max} pair(s)`);
      for (const key of entries) {
        const at = `${path}[${JSON.stringify(key)}]`;
        keys(keyJson(key), `${at} (key)`, out);
        const element = map[key];
        if (element === null && !nullIsValue) {
          if (noSparse) out.push(`${at}: sparse maps are not allowed`);
          continue;
        }
        values(element, at, out);
      }
    };
    return { ...base, present: check, absent: (path, out) => check(undefined, path, out) };
  }

  if (field.repeated) {
    for (const kind of Object.keys(rules ?? {})) {
      if (kind !== 'repeated')
        throw new PgvRuleError(`${where}: rule kind "${kind}" does not apply to a repeated field`);
    }
    const r = (rules?.repeated ?? {}) as Rules;
    checkKeys('repeated', r, where);
    const item = compileElement(
      field.type,
      resolved,
      r.items as Rules | undefined,
      `${where} (items)`,
      false,
    ).present;
    const min = r.min_items !== undefined ? Number(r.min_items) : undefined;
    const max = r.max_items !== undefined ? Number(r.max_items) : undefined;
    const unique = r.unique === true;
    const ignoreEmpty = r.ignore_empty === true;
    const uniqueKey = uniqueKeyOf(field);
    const check: Check = (value, path, out) => {
      const list = value === undefined ? [] : value;
      if (!Array.isArray(list)) return void out.push(`${path}: expected an array, got ${show(value)}`);
      if (ignoreEmpty && list.length === 0) return;
      if (min !== undefined && list.length < min)
        out.push(`${path}: value must contain at least ${min} item(s)`);
      if (max !== undefined && list.length > max)
        out.push(`${path}: value must contain no more than ${max} item(s)`);
      const seen = unique ? new Set<string>() : undefined;
      list.forEach((element, i) => {
        const at = `${path}[${i}]`;
        if (element === null && !nullIsValue)
          return void out.push(`${at}: null is not allowed in a repeated field`);
        if (seen) {
          const key = uniqueKey(element);
          if (seen.has(key)) out.push(`${at}: repeated value must contain unique items`);
          seen.add(key);
        }
        item(element, at, out);
      });
    };
    return { ...base, present: check, absent: (path, out) => check(undefined, path, out) };
  }

  const element = compileElement(field.type, resolved, rules, where, field.partOf != null);
  return { ...base, present: element.present, absent: element.absent };
}

/** Identity of a repeated element for `repeated.unique` (numbers compare by value, "1" and 1 are the same int). */
function uniqueKeyOf(field: protobuf.Field): (element: unknown) => string {
  if (field.resolvedType instanceof protobuf.Enum) {
    const info = enumInfo(field.resolvedType);
    return (element) => String(typeof element === 'string' ? (info.byName.get(element) ?? element) : element);
  }
  if ((NUMERIC_KINDS as readonly string[]).includes(field.type)) {
    const parse = numericParser(field.type);
    return (element) => String(parse(element));
  }
  return (element) => JSON.stringify(element);
}

const validators = new WeakMap<protobuf.Type, MessageValidator>();

function compileMessage(type: protobuf.Type): MessageValidator {
  let validator = validators.get(type);
  if (validator) return validator;
  const options = type.options ?? {};
  const disabled = options['(validate.disabled)'] === true || options['(validate.ignored)'] === true;
  const oneofs = type.oneofsArray.filter((oneof) => !oneof.isProto3Optional);
  const byKey = new Map<string, FieldValidator | null>();
  const absentChecks: FieldValidator[] = [];
  for (const field of type.fieldsArray) {
    // A disabled message still knows its field names (unknown keys are reported) but checks nothing.
    const compiled = disabled
      ? null
      : { ...compileField(field), oneof: field.partOf ? oneofs.indexOf(field.partOf) : -1 };
    byKey.set(jsonNameOf(field), compiled);
    byKey.set(protoNameOf(field), compiled);
    if (compiled?.absent) absentChecks.push(compiled);
  }
  validator = {
    typeName: typeNameOf(type),
    byKey,
    absentChecks,
    oneofs: disabled
      ? []
      : oneofs.map((oneof) => ({
          name: oneof.name,
          required: oneof.options?.['(validate.required)'] === true,
          names: oneof.fieldsArray.map(jsonNameOf).join(', '),
        })),
  };
  validators.set(type, validator);
  return validator;
}

const isAbsent = (value: unknown, field: FieldValidator): boolean =>
  value === undefined || (value === null && !field.nullIsValue);

function validateInto(
  type: protobuf.Type,
  json: unknown,
  path: string,
  out: string[],
  skipKey: string | undefined,
): void {
  const validator = compileMessage(type);
  if (!isPlainObject(json))
    return void push(out)(path, `expected an object (${validator.typeName}), got ${show(json)}`);
  let oneofCounts: number[] | undefined;
  for (const key in json) {
    const field = validator.byKey.get(key);
    if (field === undefined) {
      if (key !== skipKey) out.push(`${join(path, key)}: unknown field of ${validator.typeName}`);
      continue;
    }
    const value = json[key];
    if (field === null || isAbsent(value, field)) continue;
    // Given under both names: proto-json rejects that; check the JSON-named one only.
    if (key !== field.jsonName && json[field.jsonName] !== undefined) continue;
    field.present(value, join(path, field.jsonName), out);
    if (field.oneof >= 0) (oneofCounts ??= [])[field.oneof] = (oneofCounts[field.oneof] ?? 0) + 1;
  }
  for (const field of validator.absentChecks) {
    let value = json[field.jsonName];
    if (value === undefined && field.protoName !== field.jsonName) value = json[field.protoName];
    if (isAbsent(value, field)) field.absent!(join(path, field.jsonName), out);
  }
  validator.oneofs.forEach((oneof, i) => {
    const count = oneofCounts?.[i] ?? 0;
    if (count > 1) out.push(`${join(path, oneof.name)}: only one of [${oneof.names}] may be set`);
    else if (count === 0 && oneof.required)
      out.push(`${join(path, oneof.name)}: one of [${oneof.names}] is required`);
  });
}

/**
 * Checks proto3 JSON against the PGV rules of `messageName`. Returns one human-readable line per
 * violation (`path: problem`), empty when valid. Throws PgvRuleError if the protos use a rule this
 * checker does not implement.
 */
export function validateMessage(messageName: string, json: Record<string, unknown>): string[] {
  const type = lookupMessageType(messageName);
  if (!type) throw new Error(`pgv: unknown message type ${messageName}`);
  return validateType(type, json);
}

/** validateMessage for a protobufjs Type already in hand. */
export function validateType(type: protobuf.Type, json: unknown): string[] {
  const out: string[] = [];
  validateInto(type, json, '', out, undefined);
  return out;
}
