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
  checkedEncoder,
  type FieldChecks,
  type MessageChecks,
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
/** Checks one present value (JSON). */
type Check = (value: unknown, w: Walk) => void;
/** Checks an absent field. */
type AbsentCheck = (w: Walk) => void;

/** A map entry on the path: `["key"]`, and ` (key)` when the key itself is being checked. */
class MapKeySegment {
  constructor(
    readonly key: string,
    readonly isKey: boolean,
  ) {}
}

/**
 * One validation: the violations found so far and the path of the value being checked, kept as a
 * stack of segments (field JSON names, list indexes, map keys) that is only turned into text when a
 * violation is reported.
 */
class Walk {
  private out: string[] | undefined;
  private readonly segments: (string | number | MapKeySegment)[] = [];

  /** Starts a validation. */
  start(): void {
    this.out = undefined;
    // Normally empty already; setting the length to 0 would drop the array's storage, reallocated on the next push.
    if (this.segments.length !== 0) this.segments.length = 0;
  }

  /** The violations found since `start`. */
  violations(): string[] {
    const out = this.out ?? [];
    this.out = undefined;
    return out;
  }

  enter(segment: string | number | MapKeySegment): void {
    this.segments.push(segment);
  }

  leave(): void {
    this.segments.pop();
  }

  /** Reports a problem with the value at the current path. */
  report(message: string): void {
    (this.out ??= []).push(`${this.path() || '(root)'}: ${message}`);
  }

  /** Reports a problem with the member `name` of the current object. */
  reportAt(name: string, message: string): void {
    this.enter(name);
    this.report(message);
    this.leave();
  }

  private path(): string {
    let path = '';
    for (const segment of this.segments) {
      if (typeof segment === 'string') path = path ? `${path}.${segment}` : segment;
      else if (typeof segment === 'number') path += `[${segment}]`;
      else path += `[${JSON.stringify(segment.key)}]${segment.isKey ? ' (key)' : ''}`;
    }
    return path;
  }
}

interface ElementValidator {
  /** The value is present (not undefined; null only where null is a value); undefined when nothing is checked. */
  readonly present: Check | undefined;
  /** The field is absent from the JSON. */
  readonly absent: AbsentCheck | undefined;
  /** `present` without the messages in the value (its own, items, map values), which the encoding walk checks as it enters them. */
  readonly shallow: Check | undefined;
  /** The encoding walk's checks of those messages, by their type (an Any's payload type); undefined: none. */
  readonly nested: FieldChecks['nested'] | undefined;
}

interface FieldValidator {
  readonly jsonName: string;
  readonly protoName: string;
  readonly nullIsValue: boolean;
  /** Undefined when a present value has nothing to check (no rules on it or anywhere beneath it). */
  readonly present: Check | undefined;
  readonly absent: AbsentCheck | undefined;
  readonly shallow: Check | undefined;
  readonly nested: FieldChecks['nested'] | undefined;
  /** Index into MessageValidator.oneofs, -1 outside a (real) oneof. */
  readonly oneof: number;
  /** The field's bit in the set of present fields that have an absent check (0: none, or more than 31 such fields). */
  readonly absentBit: number;
  /** Neither checked nor counted nor tracked: the key only has to be known. */
  readonly inert: boolean;
}

interface OneofValidator {
  readonly name: string;
  readonly required: boolean;
  /** The members' JSON names, for messages. */
  readonly names: string;
}

interface MessageValidator {
  readonly typeName: string;
  /** Field by JSON and .proto name. */
  readonly byKey: ReadonlyMap<string, FieldValidator>;
  /** In the order of the type's fieldsArray. */
  readonly fields: readonly FieldValidator[];
  /** Fields whose absence is a violation (a default that breaks the rules, required). */
  readonly absentChecks: readonly FieldValidator[];
  /** Whether the present fields with an absent check are tracked as bits (else looked up in the JSON). */
  readonly absentBits: boolean;
  readonly oneofs: readonly OneofValidator[];
}

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

const MAX_SAFE_NANOS = BigInt(Number.MAX_SAFE_INTEGER);
/** Below this many seconds, seconds * 1e9 + nanos is a safe integer. */
const MAX_SAFE_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1e9) - 1;

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
  const minNumber = Number(min);
  const maxNumber = Number(max);
  return (value) => {
    if (value === undefined) return big ? 0n : 0;
    // A 32-bit kind given as a JSON number: no BigInt needed.
    if (!big && typeof value === 'number' && Number.isInteger(value)) {
      return value < minNumber || value > maxNumber ? `${show(value)} is out of range for ${kind}` : value;
    }
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
  return (value, w) => {
    const v = parse(value);
    if (typeof v === 'string') return w.report(v);
    if (ignoreEmpty && (v === 0 || v === 0n)) return;
    for (const check of checks) {
      const problem = check(v);
      if (problem) w.report(problem);
    }
  };
}

function boolValidator(rules: Rules): Check {
  return (value, w) => {
    if (value !== undefined && typeof value !== 'boolean') return w.report(`invalid bool ${show(value)}`);
    const v = value ?? false;
    if (rules.const !== undefined && v !== rules.const) w.report(`value must equal ${show(rules.const)}`);
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
    // A rune is one or two UTF-16 units: runes are counted only when the length leaves it open.
    add((v) =>
      v.length >= 2 * n || (v.length >= n && runeCount(v) >= n)
        ? undefined
        : `value length must be at least ${n} runes`,
    );
  }
  if (rules.max_len !== undefined) {
    const n = Number(rules.max_len);
    add((v) =>
      v.length <= n || (v.length <= 2 * n && runeCount(v) <= n)
        ? undefined
        : `value length must be at most ${n} runes`,
    );
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
  return (value, w) => {
    if (value !== undefined && typeof value !== 'string') return w.report(`invalid string ${show(value)}`);
    const v = value ?? '';
    if (ignoreEmpty && v === '') return;
    for (const check of checks) {
      const problem = check(v);
      if (problem) w.report(problem);
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
  return (value, w) => {
    let v: Buffer;
    try {
      v = value === undefined ? Buffer.alloc(0) : Buffer.from(parseBase64(value));
    } catch {
      return w.report(`invalid bytes ${show(value)}`);
    }
    if (ignoreEmpty && v.length === 0) return;
    for (const check of checks) {
      const problem = check(v);
      if (problem) w.report(problem);
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
  return (value, w) => {
    let n: number;
    if (value === undefined || (value === null && info.name === 'google.protobuf.NullValue')) n = 0;
    else if (typeof value === 'string') {
      const found = info.byName.get(value);
      if (found === undefined) return w.report(`unknown ${info.name} value ${show(value)}`);
      n = found;
    } else if (typeof value === 'number' && Number.isInteger(value)) n = value;
    else return w.report(`invalid enum value ${show(value)}`);
    for (const check of checks) {
      const problem = check(n);
      if (problem) w.report(problem);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Well-known message rules

function timeValidator(kind: 'duration' | 'timestamp', rules: Rules): Check {
  const parse = kind === 'duration' ? parseDuration : parseTimestamp;
  const display = kind === 'duration' ? displayDuration : displayTimestamp;
  // Nanoseconds as plain numbers when every bound is a safe integer (the usual "gt 0s"): no BigInt
  // per value. A value past 2^53 ns (104 days) then compares as a rounded number: still above (or
  // below) every bound, and equal to none.
  const bounds = [rules.const, rules.lt, rules.lte, rules.gt, rules.gte, ...toArray(rules.in)]
    .concat(toArray(rules.not_in))
    .filter((raw) => raw !== undefined)
    .map(nanosFromRule);
  const numeric = bounds.every((b) => b >= -MAX_SAFE_NANOS && b <= MAX_SAFE_NANOS);
  const checks = numeric
    ? comparableChecks(rules, (raw) => Number(nanosFromRule(raw)), display)
    : comparableChecks(rules, nanosFromRule, display);
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
  return (value, w) => {
    const parsed = typeof value === 'string' ? parse(value) : undefined;
    if (!parsed) return w.report(`invalid ${kind} ${show(value)}`);
    if (checks.length) {
      const v = !numeric
        ? nanosOf(parsed)
        : Math.abs(parsed.seconds) < MAX_SAFE_SECONDS
          ? parsed.seconds * 1000000000 + parsed.nanos
          : Number(nanosOf(parsed));
      for (const check of checks) {
        const problem = check(v);
        if (problem) w.report(problem);
      }
    }
    if (nowChecks.length) {
      const v = nanosOf(parsed);
      const now = BigInt(Date.now()) * 1000000n;
      for (const check of nowChecks) {
        const problem = check(v, now);
        if (problem) w.report(problem);
      }
    }
  };
}

function anyValidator(rules: Rules): Check {
  const allowed = rules.in !== undefined ? toArray(rules.in).map(String) : undefined;
  const forbidden = rules.not_in !== undefined ? toArray(rules.not_in).map(String) : undefined;
  return (value, w) => {
    const typeUrl = isPlainObject(value) ? value['@type'] : undefined;
    if (typeof typeUrl !== 'string') return; // reported by the payload walk
    if (allowed && !allowed.includes(typeUrl)) w.report(`type URL must be in list ${show(allowed)}`);
    if (forbidden && forbidden.includes(typeUrl)) w.report(`type URL must not be in list ${show(forbidden)}`);
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
    return {
      present: allOf(nested ? [...typeRules, nested] : typeRules),
      // A oneof member's rules (required included) only apply when that member is the one set.
      absent: requiredBy && !presenceTracked ? (w) => w.report('value is required') : undefined,
      shallow: allOf(typeRules),
      nested: skip ? undefined : nestedChecks(resolved),
    };
  }

  const kind = resolved instanceof protobuf.Enum ? 'enum' : type;
  only(kind);
  if (!rules) {
    // No rules: nothing to check (proto-json rejects a value of the wrong JSON type when encoding).
    return { present: undefined, absent: undefined, shallow: undefined, nested: undefined };
  }
  const check = scalarValidator(type, resolved, ruleOf(kind) ?? {}, where);
  return {
    present: check,
    // proto3: an unset scalar is its default value; a oneof member / optional field is simply unset.
    absent: presenceTracked ? undefined : (w) => check(undefined, w),
    shallow: check,
    nested: undefined,
  };
}

/** The checks in turn; undefined when there are none. */
function allOf(checks: readonly Check[]): Check | undefined {
  if (checks.length <= 1) return checks[0];
  return (value, w) => {
    for (const check of checks) check(value, w);
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

/**
 * Validation of a present message value by its own type (Any: by the payload's @type); undefined when
 * the type has no rules anywhere beneath it, so the walk never enters such a subtree.
 */
function nestedValidator(type: protobuf.Type): Check | undefined {
  const name = typeNameOf(type);
  if (name === 'google.protobuf.Any') {
    // Payload validators by type URL; null: a known type with nothing to check.
    const payloads = new Map<string, MessageValidator | null>();
    return (value, w) => {
      if (!isPlainObject(value)) return w.report('expected an object (google.protobuf.Any)');
      const typeUrl = value['@type'];
      if (typeof typeUrl !== 'string' || typeUrl === '')
        return w.report('google.protobuf.Any needs a "@type"');
      let payload = payloads.get(typeUrl);
      if (payload === undefined) {
        const inner = typeForUrl(typeUrl);
        if (!inner) return w.report(`unknown Any type ${show(typeUrl)}`);
        // A well-known payload under "value" has no rules of its own.
        payload = hasSpecialJson(inner) || !hasRulesBeneath(inner) ? null : compileMessage(inner);
        payloads.set(typeUrl, payload);
      }
      if (payload) validateObject(payload, value, w, '@type');
    };
  }
  // Wrappers, Struct, Value, Duration... carry no nested rules.
  if (hasSpecialJson(type) || !hasRulesBeneath(type)) return undefined;
  let validator: MessageValidator | undefined;
  return (value, w) => validateObject((validator ??= compileMessage(type)), value, w, undefined);
}

/** nestedValidator for the encoding walk: the checks of a message value of this type (Any: of the payload's type). */
function nestedChecks(type: protobuf.Type): FieldChecks['nested'] | undefined {
  if (typeNameOf(type) === 'google.protobuf.Any') return messageChecks;
  if (hasSpecialJson(type) || !hasRulesBeneath(type)) return undefined;
  let checks: MessageChecks | undefined;
  return () => (checks ??= messageChecks(type));
}

function compileField(field: protobuf.Field): Omit<FieldValidator, 'oneof' | 'absentBit' | 'inert'> {
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
    );
    const min = r.min_pairs !== undefined ? Number(r.min_pairs) : undefined;
    const max = r.max_pairs !== undefined ? Number(r.max_pairs) : undefined;
    const noSparse = r.no_sparse === true;
    const ignoreEmpty = r.ignore_empty === true;
    const keyJson = (key: string): unknown =>
      keyType === 'bool' ? (key === 'true' ? true : key === 'false' ? false : key) : key;
    // Without map rules and with nothing to check in keys or values, the map is not walked.
    const mapCheck = (valueCheck: Check | undefined): Check | undefined =>
      !rules && !keys && !valueCheck
        ? undefined
        : (value, w) => {
            const map = value === undefined ? {} : value;
            if (!isPlainObject(map)) return w.report(`expected an object (map), got ${show(value)}`);
            const entries = Object.keys(map);
            if (ignoreEmpty && entries.length === 0) return;
            if (min !== undefined && entries.length < min)
              w.report(`value must contain at least ${min} pair(s)`);
            if (max !== undefined && entries.length > max)
              w.report(`value must contain no more than ${max} pair(s)`);
            for (const key of entries) {
              if (keys) {
                w.enter(new MapKeySegment(key, true));
                keys(keyJson(key), w);
                w.leave();
              }
              const element = map[key];
              if (element === null && !nullIsValue) {
                if (noSparse) {
                  w.enter(new MapKeySegment(key, false));
                  w.report('sparse maps are not allowed');
                  w.leave();
                }
                continue;
              }
              if (valueCheck) {
                w.enter(new MapKeySegment(key, false));
                valueCheck(element, w);
                w.leave();
              }
            }
          };
    return withAbsence(base, rules, mapCheck(values.present), mapCheck(values.shallow), values.nested);
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
    );
    const min = r.min_items !== undefined ? Number(r.min_items) : undefined;
    const max = r.max_items !== undefined ? Number(r.max_items) : undefined;
    const unique = r.unique === true;
    const ignoreEmpty = r.ignore_empty === true;
    const uniqueKey = uniqueKeyOf(field);
    // Without repeated rules and with nothing to check in the items, the list is not walked.
    const listCheck = (itemCheck: Check | undefined): Check | undefined =>
      !rules && !itemCheck
        ? undefined
        : (value, w) => {
            const list = value === undefined ? [] : value;
            if (!Array.isArray(list)) return w.report(`expected an array, got ${show(value)}`);
            if (ignoreEmpty && list.length === 0) return;
            if (min !== undefined && list.length < min)
              w.report(`value must contain at least ${min} item(s)`);
            if (max !== undefined && list.length > max)
              w.report(`value must contain no more than ${max} item(s)`);
            const seen = unique ? new Set<string>() : undefined;
            for (let i = 0; i < list.length; i++) {
              const element: unknown = list[i];
              w.enter(i);
              if (element === null && !nullIsValue) w.report('null is not allowed in a repeated field');
              else {
                if (seen) {
                  const key = uniqueKey(element);
                  if (seen.has(key)) w.report('repeated value must contain unique items');
                  seen.add(key);
                }
                itemCheck?.(element, w);
              }
              w.leave();
            }
          };
    return withAbsence(base, rules, listCheck(item.present), listCheck(item.shallow), item.nested);
  }

  const element = compileElement(field.type, resolved, rules, where, field.partOf != null);
  return { ...base, ...element };
}

/** A map or list field: with rules of its own, an absent one is checked as empty. */
function withAbsence(
  base: Pick<FieldValidator, 'jsonName' | 'protoName' | 'nullIsValue'>,
  rules: Rules | undefined,
  present: Check | undefined,
  shallow: Check | undefined,
  nested: FieldChecks['nested'] | undefined,
): Omit<FieldValidator, 'oneof' | 'absentBit' | 'inert'> {
  const absent: AbsentCheck | undefined = rules && present ? (w) => present(undefined, w) : undefined;
  return { ...base, present, absent, shallow, nested };
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

const isDisabled = (type: protobuf.Type): boolean => {
  const options = type.options ?? {};
  return options['(validate.disabled)'] === true || options['(validate.ignored)'] === true;
};

/** Oneofs written in the .proto (not the synthetic ones of proto3 `optional`). */
const realOneofs = (type: protobuf.Type): protobuf.OneOf[] =>
  type.oneofsArray.filter((oneof) => !oneof.isProto3Optional);

/** Whether a message of this type has rules of its own: on a field, on a oneof (required), or an Any field (whose payload may have rules). */
function hasOwnRules(type: protobuf.Type): boolean {
  if (isDisabled(type)) return false;
  if (realOneofs(type).some((oneof) => oneof.options?.['(validate.required)'] === true)) return true;
  for (const field of type.fieldsArray) {
    if (fieldRulesOf(field) !== undefined) return true;
    field.resolve();
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type && typeNameOf(resolved) === 'google.protobuf.Any') return true;
  }
  return false;
}

/** Ordinary message types the walk descends into from a message of `type` (map values and list items included). */
function nestedTypes(type: protobuf.Type): protobuf.Type[] {
  if (isDisabled(type)) return [];
  const out: protobuf.Type[] = [];
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    if (!(resolved instanceof protobuf.Type) || hasSpecialJson(resolved)) continue;
    const rules = fieldRulesOf(field);
    if (isPlainObject(rules?.message) && rules.message.skip === true) continue;
    out.push(resolved);
  }
  return out;
}

const rulesBeneath = new WeakMap<protobuf.Type, boolean>();

/**
 * Whether validating a message of `type` can report anything: it or a message type reachable from it
 * has rules. Computed for the whole reachable graph at once (recursive types included): a type needs
 * walking exactly when it reaches a type with rules of its own.
 */
export function hasRulesBeneath(type: protobuf.Type): boolean {
  const known = rulesBeneath.get(type);
  if (known !== undefined) return known;
  // An Any's payload can be of any type.
  if (typeNameOf(type) === 'google.protobuf.Any') {
    rulesBeneath.set(type, true);
    return true;
  }
  // Every type reachable from `type` whose answer is not known yet, with reverse edges.
  const reached = new Set<protobuf.Type>([type]);
  const parents = new Map<protobuf.Type, protobuf.Type[]>();
  const pending = [type];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const child of nestedTypes(next)) {
      if (rulesBeneath.has(child)) {
        if (rulesBeneath.get(child)) (parents.get(child) ?? parents.set(child, []).get(child)!).push(next);
        continue;
      }
      (parents.get(child) ?? parents.set(child, []).get(child)!).push(next);
      if (!reached.has(child)) {
        reached.add(child);
        pending.push(child);
      }
    }
  }
  // Types with rules, and already-known types that have rules beneath, mark everything that reaches them.
  const marked = new Set<protobuf.Type>();
  const queue: protobuf.Type[] = [];
  for (const t of reached) if (hasOwnRules(t)) queue.push(t);
  for (const t of parents.keys()) if (!reached.has(t) && rulesBeneath.get(t)) queue.push(t);
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    for (const parent of parents.get(next) ?? []) {
      if (!marked.has(parent)) {
        marked.add(parent);
        queue.push(parent);
      }
    }
    if (reached.has(next)) marked.add(next);
  }
  for (const t of reached) rulesBeneath.set(t, marked.has(t));
  return marked.has(type);
}

const validators = new WeakMap<protobuf.Type, MessageValidator>();

function compileMessage(type: protobuf.Type): MessageValidator {
  let validator = validators.get(type);
  if (validator) return validator;
  // A disabled message still knows its field names (unknown keys are reported) but checks nothing.
  const disabled = isDisabled(type);
  const oneofs = disabled ? [] : realOneofs(type);
  const compiled = type.fieldsArray.map((field) => {
    if (disabled) {
      return {
        jsonName: jsonNameOf(field),
        protoName: protoNameOf(field),
        nullIsValue: false,
        present: undefined,
        absent: undefined,
        shallow: undefined,
        nested: undefined,
        oneof: -1,
      };
    }
    const checks = compileField(field);
    return {
      ...checks,
      // An absent field is checked as its default value, which reports the same every time: most
      // defaults pass their rules (0 is a defined enum value...), and then absence needs no check.
      absent: checks.absent && reportsWhenAbsent(checks.absent) ? checks.absent : undefined,
      oneof: field.partOf ? oneofs.indexOf(field.partOf) : -1,
    };
  });
  const absentCount = compiled.filter((field) => field.absent).length;
  const absentBits = absentCount <= 31;
  const byKey = new Map<string, FieldValidator>();
  const fields: FieldValidator[] = [];
  const absentChecks: FieldValidator[] = [];
  for (const field of compiled) {
    const absentBit = field.absent && absentBits ? 1 << absentChecks.length : 0;
    const validator: FieldValidator = {
      ...field,
      absentBit,
      inert: field.present === undefined && field.oneof < 0 && absentBit === 0,
    };
    fields.push(validator);
    byKey.set(validator.jsonName, validator);
    byKey.set(validator.protoName, validator);
    if (validator.absent) absentChecks.push(validator);
  }
  validator = {
    typeName: typeNameOf(type),
    byKey,
    fields,
    absentChecks,
    absentBits,
    oneofs: oneofs.map((oneof) => ({
      name: oneof.name,
      required: oneof.options?.['(validate.required)'] === true,
      names: oneof.fieldsArray.map(jsonNameOf).join(', '),
    })),
  };
  validators.set(type, validator);
  return validator;
}

function reportsWhenAbsent(absent: AbsentCheck): boolean {
  const probe = new Walk();
  absent(probe);
  return probe.violations().length > 0;
}

const isAbsent = (value: unknown, field: FieldValidator): boolean =>
  value === undefined || (value === null && !field.nullIsValue);

/** Whether the field is absent from the object under both its names. */
function isAbsentIn(json: Record<string, unknown>, field: FieldValidator): boolean {
  let value = json[field.jsonName];
  if (value === undefined && field.protoName !== field.jsonName) value = json[field.protoName];
  return isAbsent(value, field);
}

function validateObject(
  validator: MessageValidator,
  json: unknown,
  w: Walk,
  skipKey: string | undefined,
): void {
  if (!isPlainObject(json)) return w.report(`expected an object (${validator.typeName}), got ${show(json)}`);
  const byKey = validator.byKey;
  // Oneofs with a member set, and with more than one (bits by oneof index, modulo 31).
  let oneofSet = 0;
  let oneofTwice = 0;
  let presentBits = 0;
  for (const key in json) {
    const field = byKey.get(key);
    if (field === undefined) {
      if (key !== skipKey) w.reportAt(key, `unknown field of ${validator.typeName}`);
      continue;
    }
    if (field.inert) continue;
    const value = json[key];
    if (isAbsent(value, field)) continue;
    // Given under both names: proto-json rejects that; check the JSON-named one only.
    if (key !== field.jsonName && json[field.jsonName] !== undefined) continue;
    if (field.present) {
      w.enter(field.jsonName);
      field.present(value, w);
      w.leave();
    }
    if (field.oneof >= 0) {
      const bit = 1 << (field.oneof % 31);
      oneofTwice |= oneofSet & bit;
      oneofSet |= bit;
    }
    presentBits |= field.absentBit;
  }
  const absentChecks = validator.absentChecks;
  for (let i = 0; i < absentChecks.length; i++) {
    const field = absentChecks[i];
    if (validator.absentBits) {
      if (presentBits & field.absentBit) continue;
    } else if (!isAbsentIn(json, field)) continue;
    w.enter(field.jsonName);
    field.absent!(w);
    w.leave();
  }
  const oneofs = validator.oneofs;
  for (let i = 0; i < oneofs.length; i++) {
    const oneof = oneofs[i];
    const bit = 1 << (i % 31);
    // Past 31 oneofs bits are shared: count the members then.
    const count =
      oneofs.length > 31 ? countSet(validator, json, i) : oneofTwice & bit ? 2 : oneofSet & bit ? 1 : 0;
    if (count > 1) w.reportAt(oneof.name, `only one of [${oneof.names}] may be set`);
    else if (count === 0 && oneof.required) w.reportAt(oneof.name, `one of [${oneof.names}] is required`);
  }
}

/** How many members of oneof `index` are set (as the walk counts them). */
function countSet(validator: MessageValidator, json: Record<string, unknown>, index: number): number {
  let count = 0;
  for (const key in json) {
    const field = validator.byKey.get(key);
    if (!field || field.oneof !== index || isAbsent(json[key], field)) continue;
    if (key !== field.jsonName && json[field.jsonName] !== undefined) continue;
    count++;
  }
  return count;
}

/**
 * Checks proto3 JSON against the PGV rules of `messageName`. Returns one human-readable line per
 * violation (`path: problem`), empty when valid. Throws PgvRuleError if the protos use a rule this
 * checker does not implement.
 *
 * The walk follows the rules: it checks every key of the message and of each nested message that has
 * rules somewhere beneath it (unknown keys, wrong JSON types of checked values), and never enters
 * values with nothing to check (no rules on them or beneath them). Malformed JSON there is proto-json's
 * to reject when the message is encoded.
 */
export function validateMessage(messageName: string, json: Record<string, unknown>): string[] {
  const type = lookupMessageType(messageName);
  if (!type) throw new Error(`pgv: unknown message type ${messageName}`);
  return validateType(type, json);
}

/** validateMessage for a protobufjs Type already in hand. */
export function validateType(type: protobuf.Type, json: unknown): string[] {
  const validator = compileMessage(type);
  const w = walk;
  w.start();
  validateObject(validator, json, w, undefined);
  return w.violations();
}

/** The walk of every validateType call (validation is synchronous and never nested). */
const walk = new Walk();

/** Where the encoding walk's checks report: it stops at the first violation, which only has to be known. */
class FirstViolation extends Walk {
  override report(): never {
    throw new Error('PGV violation');
  }
}

const firstViolation = new FirstViolation();

const encodingChecks = new WeakMap<protobuf.Type, MessageChecks | null>();

/**
 * The PGV rules of a message type as the encoding walk applies them; undefined when no type beneath it
 * has rules (validateType never enters such a message either).
 */
function messageChecks(type: protobuf.Type): MessageChecks | undefined {
  let checks = encodingChecks.get(type);
  if (checks === undefined) {
    checks = hasSpecialJson(type) || !hasRulesBeneath(type) ? null : compileChecks(type);
    encodingChecks.set(type, checks);
  }
  return checks ?? undefined;
}

function compileChecks(type: protobuf.Type): MessageChecks {
  const validator = compileMessage(type);
  const w = firstViolation;
  const fields = validator.fields.map(({ shallow, nested }): FieldChecks | undefined =>
    shallow || nested ? { value: shallow && ((value) => shallow(value, w)), nested } : undefined,
  );
  const { absentChecks, oneofs } = validator;
  // The walk marks each oneof set by its index among all of the type's oneofs (modulo 31); past 31 the
  // bits are shared, and the members are counted instead.
  const all = type.oneofsArray;
  const required = realOneofs(type).map((oneof, i) =>
    oneofs[i].required ? 1 << (all.indexOf(oneof) % 31) : 0,
  );
  const whole =
    absentChecks.length === 0 && !required.some((bit) => bit !== 0)
      ? undefined
      : (json: Record<string, unknown>, oneofSet: number): void => {
          for (const field of absentChecks) if (isAbsentIn(json, field)) field.absent!(w);
          for (let i = 0; i < required.length; i++) {
            const bit = required[i];
            if (bit === 0) continue;
            const set = all.length > 31 ? countSet(validator, json, i) > 0 : (oneofSet & bit) !== 0;
            if (!set) w.reportAt(oneofs[i].name, 'one of its members is required');
          }
        };
  return { fields, whole };
}

/**
 * encodeType that also enforces the PGV rules, in the same walk (a resource is walked once instead of
 * twice): the bytes, or undefined when the JSON breaks a rule or does not encode, which validateType,
 * then encodeType, tell.
 */
export function encodeValid(type: protobuf.Type, json: unknown): Uint8Array | undefined {
  return validEncoder(type)(json);
}

/** encodeValid for the messages of one type, its rules and walk looked up once for all of them. */
export function validEncoder(type: protobuf.Type): (json: unknown) => Uint8Array | undefined {
  // validateType checks a well-known type at the root by its fields, not by its JSON form: left to it.
  if (hasSpecialJson(type)) return rejectAll;
  let encode: (json: unknown) => Uint8Array;
  try {
    encode = checkedEncoder(type, messageChecks(type));
  } catch {
    // Rules the checker cannot enforce: validateType tells which.
    return rejectAll;
  }
  return (json) => {
    firstViolation.start();
    try {
      return encode(json);
    } catch {
      return undefined;
    }
  };
}

const rejectAll = (): undefined => undefined;
