import * as protobuf from 'protobufjs';
import { envoyRoot } from './envoy-protos';
import { typeUrlOf } from './type-urls';

/**
 * A strict proto3 JSON codec over the protobufjs types of `envoyRoot()`.
 *
 * Encoding walks the JSON once, rejecting anything a strict proto3 JSON parser would reject, and
 * writes the wire bytes as it goes (`encodeJson`, `encodeType`): the bytes protobufjs' generated
 * `Type.encode` writes for the plain object `toEncodable` builds from the same JSON (enums as
 * numbers, int64 as numbers or {low, high} bits, bytes as Uint8Array, Any as {type_url, value} with
 * the payload already encoded), without building that object. Decoding checks the wire bytes for
 * fields the schema does not know (protobufjs silently skips them), lets protobufjs decode, then
 * prints canonical proto3 JSON.
 */

export class ProtoJsonError extends Error {
  constructor(
    readonly messageName: string,
    /** Dotted JSON path of the offending value inside the message, e.g. `clusters[0].connectTimeout`. */
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${messageName}: ${path ? `${path}: ` : ''}${reason}`);
    this.name = 'ProtoJsonError';
  }
}

/** Thrown inside a walk; each level it unwinds through adds its path segment. */
class PathError extends Error {
  /** Innermost first. */
  readonly segments: string[] = [];
  constructor(readonly reason: string) {
    super(reason);
  }
}

function fail(reason: string): never {
  throw new PathError(reason);
}

function withSegment(error: unknown, segment: string): unknown {
  if (error instanceof PathError) error.segments.push(segment);
  return error;
}

const fieldSeg = (key: string): string => `.${key}`;
const indexSeg = (index: number): string => `[${index}]`;
const keySeg = (key: string): string => `[${JSON.stringify(key)}]`;

function toProtoJsonError(messageName: string, error: unknown): unknown {
  if (!(error instanceof PathError)) return error;
  const path = error.segments.slice().reverse().join('');
  return new ProtoJsonError(messageName, path.startsWith('.') ? path.slice(1) : path, error.reason);
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') {
    return isPlainObject(value)
      ? 'an object'
      : `a ${(value as object).constructor?.name ?? 'non-plain object'}`;
  }
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A plain object from any realm (jest and vm contexts have their own Object.prototype); not a Map, Date, Buffer... */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

/** Sets an own property even for the key `__proto__` (which plain assignment would turn into a prototype change). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

// ---------------------------------------------------------------------------------------------
// Names and type lookup

/** The .proto field name. protobufjs camelCases names when loading (keepCase: false) and keeps no copy of the original; Envoy's protos are lower_snake_case, so the mapping inverts exactly (`acceptHttp_10` -> `accept_http_10`). */
export function protoNameOf(field: protobuf.Field): string {
  return field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * The proto3 JSON name as protoc computes it (`json_name` option, else: drop each `_` and upper-case
 * the next character). This differs from protobufjs' own camelCase where a digit follows an
 * underscore: `accept_http_10` is `acceptHttp10` in JSON but `acceptHttp_10` in protobufjs.
 */
const jsonNames = new WeakMap<protobuf.Field, string>();
export function jsonNameOf(field: protobuf.Field): string {
  let name = jsonNames.get(field);
  if (name === undefined) {
    name = computeJsonName(field);
    jsonNames.set(field, name);
  }
  return name;
}

function computeJsonName(field: protobuf.Field): string {
  const explicit = field.options?.['json_name'];
  if (typeof explicit === 'string') return explicit;
  const proto = protoNameOf(field);
  let out = '';
  let upper = false;
  for (const c of proto) {
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

/** Well-known types whose proto3 JSON form is not a plain object of their fields (inside an Any they go under `value`). */
const WRAPPER_TYPES = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);
const SPECIAL_JSON_TYPES = new Set([
  ...WRAPPER_TYPES,
  'google.protobuf.Any',
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.FieldMask',
]);

const typeNames = new WeakMap<protobuf.ReflectionObject, string>();

/** Fully qualified name without protobufjs' leading dot (cached: protobufjs rebuilds `fullName` from the parent chain on every read). */
export function typeNameOf(type: protobuf.ReflectionObject): string {
  let name = typeNames.get(type);
  if (name === undefined) {
    const full = type.fullName;
    name = full.startsWith('.') ? full.slice(1) : full;
    typeNames.set(type, name);
  }
  return name;
}

export function isWrapperType(type: protobuf.Type): boolean {
  return WRAPPER_TYPES.has(typeNameOf(type));
}

export function hasSpecialJson(type: protobuf.Type): boolean {
  return SPECIAL_JSON_TYPES.has(typeNameOf(type));
}

const anyTypeCache = new Map<string, protobuf.Type>();

/** The message type an Any type URL names (anything after the last `/`), or undefined if it is not loaded. */
export function typeForUrl(typeUrl: string): protobuf.Type | undefined {
  const cached = anyTypeCache.get(typeUrl);
  if (cached) return cached;
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  if (!name || !typeUrl.includes('/')) return undefined;
  const found = lookupMessageType(name);
  // Only hits are cached: registerEnvoyProtoFiles may load a missing type later.
  if (found) anyTypeCache.set(typeUrl, found);
  return found;
}

/** Message types by the name they were asked for; only hits (registerEnvoyProtoFiles may load a missing type later). */
const messageTypes = new Map<string, protobuf.Type>();

export function lookupMessageType(messageName: string): protobuf.Type | undefined {
  const cached = messageTypes.get(messageName);
  if (cached !== undefined) return cached;
  let found: protobuf.ReflectionObject | null;
  try {
    found = envoyRoot().lookup(messageName.startsWith('.') ? messageName : `.${messageName}`);
  } catch {
    return undefined;
  }
  if (!(found instanceof protobuf.Type)) return undefined;
  messageTypes.set(messageName, found);
  return found;
}

function requireType(messageName: string): protobuf.Type {
  const type = lookupMessageType(messageName);
  if (!type) throw new ProtoJsonError(messageName, '', 'unknown message type');
  return type;
}

/** The field a proto3 JSON key names: its JSON name or its .proto name. */
export function fieldForJsonKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  return fieldIndex(type).get(key);
}

const fieldIndexes = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
function fieldIndex(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = fieldIndexes.get(type);
  if (!index) {
    index = new Map();
    for (const field of type.fieldsArray) {
      index.set(jsonNameOf(field), field);
      index.set(protoNameOf(field), field);
    }
    fieldIndexes.set(type, index);
  }
  return index;
}

// ---------------------------------------------------------------------------------------------
// Scalars: JSON -> protobufjs value

const NUMERIC_STRING = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER_STRING = /^-?\d+$/;

function jsonNumber(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && NUMERIC_STRING.test(v)) return Number(v);
  return fail(`expected ${what}, got ${describe(v)}`);
}

function toInt32(v: unknown): number {
  if (typeof v === 'number' && (v | 0) === v) return v;
  const n = jsonNumber(v, 'an int32');
  if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) fail(`${describe(v)} is not a valid int32`);
  return n === 0 ? 0 : n;
}

function toUint32(v: unknown): number {
  if (typeof v === 'number' && v >>> 0 === v) return v;
  const n = jsonNumber(v, 'a uint32');
  if (!Number.isInteger(n) || n < 0 || n > 4294967295) fail(`${describe(v)} is not a valid uint32`);
  return n === 0 ? 0 : n;
}

/** 64-bit bits in the shape protobufjs' Writer accepts (LongBits.from reads low/high). */
interface Bits64 {
  low: number;
  high: number;
  unsigned: boolean;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function parseInt64(v: unknown, unsigned: boolean): bigint {
  const what = unsigned ? 'a uint64' : 'an int64';
  let big: bigint;
  if (typeof v === 'string' && INTEGER_STRING.test(v)) big = BigInt(v);
  else {
    const n = jsonNumber(v, what);
    if (!Number.isInteger(n)) fail(`${describe(v)} is not a valid ${unsigned ? 'uint64' : 'int64'}`);
    big = BigInt(n);
  }
  if (unsigned ? big < 0n || big > UINT64_MAX : big < INT64_MIN || big > INT64_MAX) {
    fail(`${describe(v)} is out of range for ${unsigned ? 'uint64' : 'int64'}`);
  }
  return big;
}

function toInt64(v: unknown, unsigned: boolean): number | Bits64 {
  if (typeof v === 'number' && Number.isSafeInteger(v) && (!unsigned || v >= 0)) return v === 0 ? 0 : v;
  if (typeof v === 'string' && v.length < 16 && INTEGER_STRING.test(v)) {
    const n = Number(v);
    if (!unsigned || n >= 0) return n === 0 ? 0 : n;
  }
  const big = parseInt64(v, unsigned);
  if (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big);
  const bits = BigInt.asUintN(64, big);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0, unsigned };
}

function toDouble(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  const n = jsonNumber(v, 'a number');
  if (!Number.isFinite(n)) fail(`${describe(v)} is out of range for double`);
  return n;
}

function toFloat(v: unknown): number {
  const n = toDouble(v);
  // In range when it rounds to a finite float32: the shortest printed form of FLT_MAX (3.4028235e38) is a bit above it.
  if (Number.isFinite(n) && !Number.isFinite(Math.fround(n)))
    fail(`${describe(v)} is out of range for float`);
  return n;
}

function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  return fail(`expected a boolean, got ${describe(v)}`);
}

function toString(v: unknown): string {
  if (typeof v === 'string') return v;
  return fail(`expected a string, got ${describe(v)}`);
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Standard or URL-safe base64, padding optional (as proto3 JSON parsers accept). */
export function parseBase64(v: unknown): Uint8Array {
  if (typeof v !== 'string') return fail(`expected a base64 string, got ${describe(v)}`);
  const padded = v.endsWith('=');
  if (!BASE64.test(v) || v.length % 4 === 1 || (padded && v.length % 4 !== 0)) {
    fail(`invalid base64 ${describe(v)}`);
  }
  return Buffer.from(v, 'base64');
}

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

type Conv = (v: unknown) => unknown;

function scalarConv(type: string): Conv {
  switch (type) {
    case 'double':
      return toDouble;
    case 'float':
      return toFloat;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return toInt32;
    case 'uint32':
    case 'fixed32':
      return toUint32;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return (v) => toInt64(v, false);
    case 'uint64':
    case 'fixed64':
      return (v) => toInt64(v, true);
    case 'bool':
      return toBool;
    case 'string':
      return toString;
    case 'bytes':
      return parseBase64;
    default:
      throw new Error(`proto-json: unsupported scalar type ${type}`);
  }
}

/** Whether a converted scalar is its type's default (proto3 implicit-presence fields omit it). */
function isDefaultScalar(v: unknown): boolean {
  return v === 0 || v === '' || v === false || (v instanceof Uint8Array && v.length === 0);
}

interface EnumInfo {
  readonly name: string;
  readonly byName: Map<string, number>;
  /** First declared name per number (aliases keep the first, as protoc prints). */
  readonly byNumber: Map<number, string>;
}

const enumInfos = new WeakMap<protobuf.Enum, EnumInfo>();
export function enumInfo(e: protobuf.Enum): EnumInfo {
  let info = enumInfos.get(e);
  if (!info) {
    const byName = new Map<string, number>();
    const byNumber = new Map<number, string>();
    for (const [name, num] of Object.entries(e.values)) {
      byName.set(name, num);
      if (!byNumber.has(num)) byNumber.set(num, name);
    }
    info = { name: typeNameOf(e), byName, byNumber };
    enumInfos.set(e, info);
  }
  return info;
}

function enumConv(e: protobuf.Enum): Conv {
  const info = enumInfo(e);
  const isNullValue = info.name === 'google.protobuf.NullValue';
  return (v) => {
    if (typeof v === 'string') {
      const n = info.byName.get(v);
      if (n === undefined) fail(`unknown ${info.name} value ${describe(v)}`);
      return n;
    }
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (!info.byNumber.has(v)) fail(`unknown ${info.name} number ${v}`);
      return v;
    }
    if (v === null && isNullValue) return 0;
    return fail(`expected a ${info.name} name, got ${describe(v)}`);
  };
}

// ---------------------------------------------------------------------------------------------
// Durations, timestamps, field masks

const MAX_DURATION_SECONDS = 315576000000;

export interface SecondsNanos {
  readonly seconds: number;
  readonly nanos: number;
}

/**
 * The last duration parsed (`''` is malformed): a value's rule check and its encoding parse it once, and
 * consecutive resources with the same duration (every cluster's "5s") share one result.
 */
let lastDurationText = '';
let lastDuration: SecondsNanos | undefined;

/**
 * Parses a proto3 JSON duration ("1.5s", "-0.250s": `-?\d+(\.\d{1,9})?s`); undefined if malformed or
 * out of range. The same text twice in a row is parsed once.
 */
export function parseDuration(text: string): SecondsNanos | undefined {
  if (text !== lastDurationText) {
    lastDuration = scanDuration(text);
    lastDurationText = text;
  }
  return lastDuration;
}

/** parseDuration's scan, rather than a RegExp: every cluster and most routes carry a duration. */
function scanDuration(text: string): SecondsNanos | undefined {
  const n = text.length;
  const negative = n > 0 && text.charCodeAt(0) === 45; // -
  let i = negative ? 1 : 0;
  const start = i;
  let seconds = 0;
  for (; i < n; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    seconds = seconds * 10 + digit;
  }
  if (i === start) return undefined;
  let nanos = 0;
  if (i < n && text.charCodeAt(i) === 46) {
    const fraction = ++i;
    for (; i < n; i++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) break;
      nanos = nanos * 10 + digit;
    }
    if (i === fraction || i - fraction > 9) return undefined;
    nanos *= 10 ** (9 - (i - fraction));
  }
  if (i !== n - 1 || text.charCodeAt(i) !== 115 /* s */ || seconds > MAX_DURATION_SECONDS) return undefined;
  return negative ? { seconds: -seconds || 0, nanos: -nanos || 0 } : { seconds, nanos };
}

function fraction(nanos: number): string {
  if (nanos === 0) return '';
  if (nanos % 1000000 === 0) return `.${String(nanos / 1000000).padStart(3, '0')}`;
  if (nanos % 1000 === 0) return `.${String(nanos / 1000).padStart(6, '0')}`;
  return `.${String(nanos).padStart(9, '0')}`;
}

export function formatDuration(seconds: number, nanos: number): string {
  if (
    Math.abs(seconds) > MAX_DURATION_SECONDS ||
    !Number.isInteger(nanos) ||
    Math.abs(nanos) > 999999999 ||
    (seconds < 0 && nanos > 0) ||
    (seconds > 0 && nanos < 0)
  ) {
    fail(`invalid duration {seconds: ${seconds}, nanos: ${nanos}}`);
  }
  const negative = seconds < 0 || nanos < 0;
  return `${negative ? '-' : ''}${Math.abs(seconds)}${fraction(Math.abs(nanos))}s`;
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const MIN_TIMESTAMP_SECONDS = -62135596800; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_SECONDS = 253402300799; // 9999-12-31T23:59:59Z

/** Parses an RFC 3339 timestamp as proto3 JSON allows it; undefined if malformed or out of range. */
export function parseTimestamp(text: string): SecondsNanos | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(hour, minute, second, 0);
  let seconds = Math.floor(date.getTime() / 1000);
  if (!m[8]) {
    const offset = Number(m[10]) * 3600 + Number(m[11]) * 60;
    if (Number(m[10]) > 23 || Number(m[11]) > 59) return undefined;
    seconds += m[9] === '+' ? -offset : offset;
  }
  if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) return undefined;
  return { seconds, nanos: m[7] ? Number(m[7].padEnd(9, '0')) : 0 };
}

export function formatTimestamp(seconds: number, nanos: number): string {
  if (
    seconds < MIN_TIMESTAMP_SECONDS ||
    seconds > MAX_TIMESTAMP_SECONDS ||
    !Number.isInteger(nanos) ||
    nanos < 0 ||
    nanos > 999999999
  ) {
    fail(`invalid timestamp {seconds: ${seconds}, nanos: ${nanos}}`);
  }
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}${fraction(nanos)}Z`;
}

function timeObject(value: SecondsNanos): Record<string, number> {
  const out: Record<string, number> = {};
  if (value.seconds !== 0) out.seconds = value.seconds;
  if (value.nanos !== 0) out.nanos = value.nanos;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding plans

const enum Kind {
  /** Singular, implicit presence: default values are omitted. */
  Implicit,
  /** Singular with presence (messages, oneof members, proto3 optional): kept even when default. */
  Presence,
  Repeated,
  Map,
}

/** How one field's JSON value becomes protobufjs' value, chosen once per field. */
const enum Enc {
  /** Implicit-presence scalar or enum through `conv`; the default is omitted. */
  Implicit,
  /** Implicit-presence string: no conversion. */
  ImplicitString,
  /** Scalar, enum or well-known type with presence, through `conv`. */
  Presence,
  /** A message with an ordinary JSON form: walked directly with its plan. */
  Message,
  /** Repeated scalars, enums or well-known types, through `conv`. */
  Repeated,
  /** Repeated ordinary messages. */
  RepeatedMessage,
  Map,
}

/** How a converted scalar or enum value is written on the wire (protobufjs' Writer method of that name). */
const enum Scalar {
  None,
  Double,
  Float,
  Int32,
  Uint32,
  Sint32,
  Fixed32,
  Sfixed32,
  Int64,
  Uint64,
  Sint64,
  Fixed64,
  Sfixed64,
  Bool,
  String,
  Bytes,
}

const SCALARS: Record<string, Scalar> = {
  double: Scalar.Double,
  float: Scalar.Float,
  int32: Scalar.Int32,
  uint32: Scalar.Uint32,
  sint32: Scalar.Sint32,
  fixed32: Scalar.Fixed32,
  sfixed32: Scalar.Sfixed32,
  int64: Scalar.Int64,
  uint64: Scalar.Uint64,
  sint64: Scalar.Sint64,
  fixed64: Scalar.Fixed64,
  sfixed64: Scalar.Sfixed64,
  bool: Scalar.Bool,
  string: Scalar.String,
  bytes: Scalar.Bytes,
};

/**
 * What the encoding walk checks in the messages of one type besides what it encodes: protoc-gen-validate's
 * rules (pgv.ts makes them, see `encodeValid`). A check throws to reject the JSON.
 */
export interface MessageChecks {
  /** By the field's index in the type's fieldsArray; undefined: nothing to check in that field. */
  readonly fields: readonly (FieldChecks | undefined)[];
  /**
   * Checks the object once its members are known; `oneofs` has the bit `1 << (i % 31)` of each oneof
   * set, i being its index in the type's oneofsArray.
   */
  readonly whole: ((json: Record<string, unknown>, oneofs: number) => void) | undefined;
}

export interface FieldChecks {
  /** Checks a present value, without the messages in it (its own, items, map values), which `nested` checks. */
  readonly value: ((value: unknown) => void) | undefined;
  /** The checks of a message in the field, by its type (an Any's payload type, else the field's). */
  readonly nested: ((type: protobuf.Type) => MessageChecks | undefined) | undefined;
}

/** One field of a plan. Mutable only to attach the nested message plan the first time it is needed (recursive types). */
class EncField {
  plan: EncPlan | undefined = undefined;
  /** Position among the message's fields sorted by number: the order the wire encoder writes them in. */
  order = -1;
  constructor(
    /** Position in the type's fieldsArray. */
    readonly index: number,
    /** protobufjs' property name. */
    readonly name: string,
    readonly jsonName: string,
    readonly protoName: string,
    readonly enc: Enc,
    /** Element converter (unused for Message / RepeatedMessage, and for maps of messages). */
    readonly conv: Conv,
    /** Ordinary message type of the field's values (Message, RepeatedMessage, maps of messages). */
    readonly messageType: protobuf.Type | undefined,
    /** JSON null is a value (google.protobuf.Value / NullValue), not "unset". */
    readonly nullIsValue: boolean,
    readonly oneof: number,
    readonly mapKey: ((key: string) => string) | undefined,
    /** Writes a well-known type's value (its message content) in the wire encoder. */
    readonly wkt: WireConv | undefined,
    /** How the converted value (a map's value) is written; Scalar.None for messages. */
    readonly scalar: Scalar,
    /** Tag of one value: a list item, a map entry, a group start for groups. */
    readonly tag: number,
    /** A list of numbers or enums written as one length-delimited run. */
    readonly packed: boolean,
    /** A proto2 group: framed by start/end tags instead of a length. */
    readonly group: boolean,
    /** Map key and value: how the key is written, and their tags inside the entry. */
    readonly keyScalar: Scalar,
    readonly keyTag: number,
    readonly valueTag: number,
  ) {}
}

interface EncPlan {
  readonly typeName: string;
  /** By JSON name and by .proto name. */
  readonly fields: ReadonlyMap<string, EncField>;
  readonly oneofNames: readonly string[];
  /**
   * The key last met at each member position of an object of this type, and its field: objects of one
   * type mostly list the same members in the same order, so a key is found by one comparison instead
   * of a map lookup.
   */
  readonly keyAt: string[];
  readonly fieldAt: EncField[];
}

const encPlans = new WeakMap<protobuf.Type, EncPlan>();
const wktEncoders = new WeakMap<protobuf.Type, Conv>();

const fieldPlan = (field: EncField): EncPlan => field.plan ?? (field.plan = encPlan(field.messageType!));

function isNullValueType(resolved: protobuf.ReflectionObject | null): boolean {
  if (resolved === null) return false;
  const name = typeNameOf(resolved);
  return name === 'google.protobuf.Value' || name === 'google.protobuf.NullValue';
}

function encPlan(type: protobuf.Type): EncPlan {
  let plan = encPlans.get(type);
  if (plan) return plan;
  const oneofs = type.oneofsArray;
  const fields = new Map<string, EncField>();
  const all: EncField[] = [];
  for (const [index, field] of type.fieldsArray.entries()) {
    field.resolve();
    const resolved = field.resolvedType;
    // An ordinary message (not a well-known type with its own JSON form) is walked with its own plan.
    const messageType = resolved instanceof protobuf.Type && !hasSpecialJson(resolved) ? resolved : undefined;
    const wktType = resolved instanceof protobuf.Type && !messageType ? resolved : undefined;
    let enc: Enc;
    if (field.map) enc = Enc.Map;
    else if (field.repeated) enc = messageType ? Enc.RepeatedMessage : Enc.Repeated;
    else if (messageType) enc = Enc.Message;
    else if (resolved instanceof protobuf.Type || field.hasPresence) enc = Enc.Presence;
    else enc = field.type === 'string' && !resolved ? Enc.ImplicitString : Enc.Implicit;
    const scalar =
      resolved instanceof protobuf.Type
        ? Scalar.None
        : resolved instanceof protobuf.Enum
          ? Scalar.Int32
          : SCALARS[field.type];
    if (scalar === undefined) throw new Error(`proto-json: unsupported scalar type ${field.type}`);
    const group = field.delimited && !field.map;
    const valueWire = scalar === Scalar.None ? 2 : scalar === Scalar.Int32 ? 0 : WIRE_TYPES[field.type];
    const keyType = field.map ? keyTypeOf(field) : undefined;
    const compiled = new EncField(
      index,
      field.name,
      jsonNameOf(field),
      protoNameOf(field),
      enc,
      messageType ? unusedConv : elementConv(field),
      messageType,
      isNullValueType(resolved),
      field.partOf ? oneofs.indexOf(field.partOf) : -1,
      keyType ? mapKeyConv(keyType) : undefined,
      wktType ? wktWriter(wktType) : undefined,
      scalar,
      (field.id * 8 + (field.map ? 2 : group ? 3 : valueWire)) >>> 0,
      field.repeated && field.packed && scalar !== Scalar.None && valueWire !== 2,
      group,
      keyType ? SCALARS[keyType] : Scalar.None,
      keyType ? 8 + WIRE_TYPES[keyType] : 0,
      keyType ? 16 + valueWire : 0,
    );
    all.push(compiled);
    fields.set(compiled.jsonName, compiled);
    fields.set(compiled.protoName, compiled);
  }
  // protobufjs writes fields by number ("known fields should be written sequentially by field number").
  const ids = type.fieldsArray.map((field) => field.id);
  all
    .map((field, i) => ({ field, id: ids[i] }))
    .sort((a, b) => a.id - b.id)
    .forEach(({ field }, order) => (field.order = order));
  plan = {
    typeName: typeNameOf(type),
    fields,
    oneofNames: oneofs.map((o) => o.name),
    keyAt: [],
    fieldAt: [],
  };
  encPlans.set(type, plan);
  return plan;
}

const unusedConv: Conv = () => {
  throw new Error('proto-json: message fields are walked with their plan');
};

/** Converter for a scalar, an enum or a well-known type with a special JSON form. */
function elementConv(field: protobuf.Field): Conv {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return enumConv(resolved);
  if (resolved instanceof protobuf.Type) return wktEncoder(resolved);
  return scalarConv(field.type);
}

export function keyTypeOf(field: protobuf.Field): string {
  if (!(field instanceof protobuf.MapField)) throw new Error(`proto-json: ${field.fullName} is not a map`);
  return field.keyType;
}

function mapKeyConv(keyType: string): (key: string) => string {
  switch (keyType) {
    case 'string':
      return (k) => k;
    case 'bool':
      // protobufjs writes map keys with `w.bool(key)` on the *string* key, so "false" would be
      // written as true. The empty string is falsy and encodes false.
      return (k) =>
        k === 'true' ? 'true' : k === 'false' ? '' : fail(`invalid bool map key ${describe(k)}`);
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      const unsigned = keyType === 'uint64' || keyType === 'fixed64';
      return (k) => {
        if (!INTEGER_STRING.test(k)) fail(`invalid ${keyType} map key ${describe(k)}`);
        return parseInt64(k, unsigned).toString();
      };
    }
    default: {
      const conv = scalarConv(keyType);
      return (k) => {
        if (!INTEGER_STRING.test(k)) fail(`invalid ${keyType} map key ${describe(k)}`);
        return String(conv(Number(k)));
      };
    }
  }
}

function encodeObject(plan: EncPlan, json: unknown, skipKey: string | undefined): Record<string, unknown> {
  if (!isPlainObject(json)) return fail(`expected a JSON object for ${plan.typeName}, got ${describe(json)}`);
  const fields = plan.fields;
  const out: Record<string, unknown> = {};
  let oneofSet: string[] | undefined;
  let key = '';
  try {
    for (key in json) {
      const value = json[key];
      const field = fields.get(key);
      if (field === undefined) {
        if (key === skipKey) continue;
        fail(`unknown field "${key}" of ${plan.typeName}`);
      }
      // proto3 JSON: null means "not set"; undefined (a JS object's optional member) is what JSON.stringify drops.
      if (value === undefined || (value === null && !field.nullIsValue)) continue;
      if (key !== field.jsonName && json[field.jsonName] !== undefined) {
        fail(`field given both as "${field.jsonName}" and "${key}"`);
      }
      if (field.oneof >= 0) {
        oneofSet ??= [];
        const previous = oneofSet[field.oneof];
        if (previous !== undefined) {
          fail(`oneof "${plan.oneofNames[field.oneof]}" has both "${previous}" and "${key}" set`);
        }
        oneofSet[field.oneof] = key;
      }
      switch (field.enc) {
        case Enc.ImplicitString:
          if (typeof value !== 'string') fail(`expected a string, got ${describe(value)}`);
          if (value !== '') out[field.name] = value;
          break;
        case Enc.Implicit: {
          const converted = field.conv(value);
          if (!isDefaultScalar(converted)) out[field.name] = converted;
          break;
        }
        case Enc.Presence:
          out[field.name] = field.conv(value);
          break;
        case Enc.Message:
          out[field.name] = encodeObject(fieldPlan(field), value, undefined);
          break;
        case Enc.Repeated:
          if (!Array.isArray(value)) fail(`expected an array, got ${describe(value)}`);
          if (value.length !== 0) out[field.name] = encodeArray(field, value);
          break;
        case Enc.RepeatedMessage:
          if (!Array.isArray(value)) fail(`expected an array, got ${describe(value)}`);
          if (value.length !== 0) out[field.name] = encodeMessageArray(field, value);
          break;
        case Enc.Map: {
          if (!isPlainObject(value)) fail(`expected an object (map), got ${describe(value)}`);
          const map = encodeMap(field, value);
          if (map !== undefined) out[field.name] = map;
          break;
        }
      }
    }
  } catch (error) {
    throw withSegment(error, fieldSeg(key));
  }
  return out;
}

function encodeArray(field: EncField, value: unknown[]): unknown[] {
  const conv = field.conv;
  const out = new Array<unknown>(value.length);
  let i = 0;
  try {
    for (; i < value.length; i++) {
      const element = value[i];
      if (element === null && !field.nullIsValue) fail('null is not allowed in a repeated field');
      out[i] = conv(element);
    }
  } catch (error) {
    throw withSegment(error, indexSeg(i));
  }
  return out;
}

function encodeMessageArray(field: EncField, value: unknown[]): unknown[] {
  const plan = fieldPlan(field);
  const out = new Array<unknown>(value.length);
  let i = 0;
  try {
    for (; i < value.length; i++) {
      const element = value[i];
      if (element === null) fail('null is not allowed in a repeated field');
      out[i] = encodeObject(plan, element, undefined);
    }
  } catch (error) {
    throw withSegment(error, indexSeg(i));
  }
  return out;
}

function encodeMap(field: EncField, value: Record<string, unknown>): Record<string, unknown> | undefined {
  const plan = field.messageType ? fieldPlan(field) : undefined;
  let out: Record<string, unknown> | undefined;
  let key = '';
  try {
    for (key in value) {
      const element = value[key];
      if (element === undefined) continue;
      if (element === null && !field.nullIsValue) fail('null is not allowed as a map value');
      setOwn(
        (out ??= {}),
        field.mapKey!(key),
        plan ? encodeObject(plan, element, undefined) : field.conv(element),
      );
    }
  } catch (error) {
    throw withSegment(error, keySeg(key));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding straight to wire bytes

/** Writes a value of a well-known type (its message content, without tag or length); `checks`: the field's. */
type WireConv = (sink: Sink, v: unknown, checks: FieldChecks | undefined) => void;

const INITIAL_SINK_BYTES = 64 * 1024;
const SMALL_COPY_BYTES = 256;

/**
 * The bytes being written: one buffer reused by every encoding (encoding is synchronous), grown on
 * demand. Each write is the one protobufjs' Writer makes for the same value (same varints, the same
 * UTF-8 writer for short strings), so the bytes equal `Type.encode(toEncodable(...))`. A nested
 * message reserves one byte for its length and moves its content when the length needs more.
 */
class Sink {
  buf: Buffer = Buffer.allocUnsafe(INITIAL_SINK_BYTES);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
  }

  uint32(v: number): void {
    this.reserve(5);
    const buf = this.buf;
    let pos = this.pos;
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** 64 bits as unsigned 32-bit halves. */
  varint64(lo: number, hi: number): void {
    this.reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  int32(v: number): void {
    // A negative int32 is sign-extended to 64 bits (ten bytes).
    if (v < 0) this.varint64(v >>> 0, 0xffffffff);
    else this.uint32(v);
  }

  fixed32(v: number): void {
    this.reserve(4);
    const buf = this.buf;
    const pos = this.pos;
    buf[pos] = v & 255;
    buf[pos + 1] = (v >>> 8) & 255;
    buf[pos + 2] = (v >>> 16) & 255;
    buf[pos + 3] = v >>> 24;
    this.pos = pos + 4;
  }

  float(v: number): void {
    this.reserve(4);
    this.pos = this.buf.writeFloatLE(v, this.pos);
  }

  double(v: number): void {
    this.reserve(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  bool(v: boolean): void {
    this.reserve(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  string(v: string): void {
    const n = v.length;
    if (n >= 40) {
      const len = Buffer.byteLength(v);
      this.uint32(len);
      this.reserve(len);
      this.pos += this.buf.write(v, this.pos, len, 'utf8');
      return;
    }
    // At most 120 bytes: a one-byte length. ASCII first; anything else as protobufjs' utf8.write.
    this.reserve(1 + n * 3);
    const buf = this.buf;
    const start = this.pos;
    let pos = start + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 128) break;
      buf[pos++] = c;
    }
    if (i < n) {
      pos = start + 1;
      for (i = 0; i < n; i++) {
        let c = v.charCodeAt(i);
        if (c < 128) buf[pos++] = c;
        else if (c < 2048) {
          buf[pos++] = (c >> 6) | 192;
          buf[pos++] = (c & 63) | 128;
        } else if ((c & 0xfc00) === 0xd800 && i + 1 < n && (v.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c & 0x03ff) << 10) + (v.charCodeAt(++i) & 0x03ff);
          buf[pos++] = (c >> 18) | 240;
          buf[pos++] = ((c >> 12) & 63) | 128;
          buf[pos++] = ((c >> 6) & 63) | 128;
          buf[pos++] = (c & 63) | 128;
        } else {
          buf[pos++] = (c >> 12) | 224;
          buf[pos++] = ((c >> 6) & 63) | 128;
          buf[pos++] = (c & 63) | 128;
        }
      }
    }
    buf[start] = pos - start - 1;
    this.pos = pos;
  }

  bytes(v: Uint8Array): void {
    const len = v.length;
    this.uint32(len);
    this.reserve(len);
    this.buf.set(v, this.pos);
    this.pos += len;
  }

  /** Starts a length-delimited value; returns where its content starts. */
  begin(): number {
    this.reserve(1);
    return ++this.pos;
  }

  /** Writes the length of the value begun at `start`. */
  end(start: number): void {
    const len = this.pos - start;
    if (len < 128) {
      this.buf[start - 1] = len;
      return;
    }
    const extra = (len < 0x4000 ? 2 : len < 0x200000 ? 3 : len < 0x10000000 ? 4 : 5) - 1;
    this.reserve(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    const end = this.pos + extra;
    this.pos = start - 1;
    this.uint32(len);
    this.pos = end;
  }
}

let sink = new Sink();

/** 64-bit values as unsigned halves, as protobufjs' LongBits.from makes them (numbers or {low, high}). */
let bitsLo = 0;
let bitsHi = 0;

function setBits(v: unknown): void {
  if (typeof v === 'number') {
    if (v === 0) {
      bitsLo = bitsHi = 0;
      return;
    }
    const negative = v < 0;
    const abs = negative ? -v : v;
    let lo = abs >>> 0;
    let hi = ((abs - lo) / 4294967296) >>> 0;
    if (negative) {
      hi = ~hi >>> 0;
      lo = ~lo >>> 0;
      if (++lo > 4294967295) {
        lo = 0;
        if (++hi > 4294967295) hi = 0;
      }
    }
    bitsLo = lo;
    bitsHi = hi;
  } else {
    const bits = v as Bits64;
    bitsLo = bits.low >>> 0;
    bitsHi = bits.high >>> 0;
  }
}

function setBitsOfDecimal(text: string): void {
  const bits = BigInt.asUintN(64, BigInt(text));
  bitsLo = Number(bits & 0xffffffffn);
  bitsHi = Number(bits >> 32n);
}

function writeBits(s: Sink, scalar: Scalar): void {
  switch (scalar) {
    case Scalar.Sint64: {
      const mask = bitsHi >> 31;
      s.varint64(((bitsLo << 1) ^ mask) >>> 0, (((bitsHi << 1) | (bitsLo >>> 31)) ^ mask) >>> 0);
      break;
    }
    case Scalar.Fixed64:
    case Scalar.Sfixed64:
      s.fixed32(bitsLo);
      s.fixed32(bitsHi);
      break;
    default:
      s.varint64(bitsLo, bitsHi);
  }
}

/** Writes a value as converted by scalarConv / enumConv (the form toEncodable gives protobufjs). */
function writeScalar(s: Sink, scalar: Scalar, v: unknown): void {
  switch (scalar) {
    case Scalar.String:
      s.string(v as string);
      break;
    case Scalar.Int32:
      s.int32(v as number);
      break;
    case Scalar.Uint32:
      s.uint32((v as number) >>> 0);
      break;
    case Scalar.Bool:
      s.bool(v as boolean);
      break;
    case Scalar.Double:
      s.double(v as number);
      break;
    case Scalar.Float:
      s.float(v as number);
      break;
    case Scalar.Sint32: {
      const n = v as number;
      s.uint32(((n << 1) ^ (n >> 31)) >>> 0);
      break;
    }
    case Scalar.Fixed32:
    case Scalar.Sfixed32:
      s.fixed32((v as number) >>> 0);
      break;
    case Scalar.Bytes:
      s.bytes(v as Uint8Array);
      break;
    default:
      setBits(v);
      writeBits(s, scalar);
  }
}

/** A map key, as mapKeyConv leaves it (a string), written the way protobufjs writes that string. */
function writeMapKey(s: Sink, scalar: Scalar, key: string): void {
  switch (scalar) {
    case Scalar.String:
      s.string(key);
      break;
    case Scalar.Bool:
      s.bool(key !== '');
      break;
    case Scalar.Int64:
    case Scalar.Uint64:
    case Scalar.Sint64:
    case Scalar.Fixed64:
    case Scalar.Sfixed64:
      setBitsOfDecimal(key);
      writeBits(s, scalar);
      break;
    default:
      writeScalar(s, scalar, Number(key));
  }
}

/*
 * The members of the objects being written, innermost last: one object's members are collected in
 * key order (checked as encodeObject checks them), then written in field-number order.
 */
const frameFields: EncField[] = [];
const frameValues: unknown[] = [];
const frameKeys: string[] = [];
let frameTop = 0;

function writeObject(
  s: Sink,
  plan: EncPlan,
  json: unknown,
  skipKey: string | undefined,
  checks: MessageChecks | undefined,
): void {
  if (!isPlainObject(json)) return fail(`expected a JSON object for ${plan.typeName}, got ${describe(json)}`);
  const { fields, keyAt, fieldAt } = plan;
  const base = frameTop;
  let top = base;
  let oneofs = 0;
  let position = 0;
  let key = '';
  try {
    for (key in json) {
      const value = json[key];
      let field: EncField | undefined;
      if (keyAt[position] === key) field = fieldAt[position];
      else {
        field = fields.get(key);
        if (field !== undefined) {
          keyAt[position] = key;
          fieldAt[position] = field;
        }
      }
      position++;
      if (field === undefined) {
        if (key === skipKey) continue;
        fail(`unknown field "${key}" of ${plan.typeName}`);
      }
      if (value === undefined || (value === null && !field.nullIsValue)) continue;
      if (key !== field.jsonName && json[field.jsonName] !== undefined) {
        fail(`field given both as "${field.jsonName}" and "${key}"`);
      }
      if (field.oneof >= 0) {
        const bit = 1 << (field.oneof % 31);
        if (oneofs & bit) {
          for (let i = base; i < top; i++) {
            if (frameFields[i].oneof === field.oneof) {
              fail(`oneof "${plan.oneofNames[field.oneof]}" has both "${frameKeys[i]}" and "${key}" set`);
            }
          }
        }
        oneofs |= bit;
      }
      checks?.fields[field.index]?.value?.(value);
      frameFields[top] = field;
      frameValues[top] = value;
      frameKeys[top] = key;
      top++;
    }
  } catch (error) {
    throw withSegment(error, fieldSeg(key));
  }
  checks?.whole?.(json, oneofs);
  // Field-number order (insertion sort: a handful of members, often in order already).
  for (let i = base + 1; i < top; i++) {
    const field = frameFields[i];
    if (field.order > frameFields[i - 1].order) continue;
    const value = frameValues[i];
    const name = frameKeys[i];
    let j = i;
    for (; j > base && frameFields[j - 1].order > field.order; j--) {
      frameFields[j] = frameFields[j - 1];
      frameValues[j] = frameValues[j - 1];
      frameKeys[j] = frameKeys[j - 1];
    }
    frameFields[j] = field;
    frameValues[j] = value;
    frameKeys[j] = name;
  }
  frameTop = top;
  for (let i = base; i < top; i++) {
    const value = frameValues[i];
    frameValues[i] = undefined;
    const field = frameFields[i];
    try {
      writeField(s, field, value, checks?.fields[field.index]);
    } catch (error) {
      frameTop = base;
      throw withSegment(error, fieldSeg(frameKeys[i]));
    }
  }
  frameTop = base;
}

function writeMessage(
  s: Sink,
  field: EncField,
  plan: EncPlan,
  value: unknown,
  checks: MessageChecks | undefined,
): void {
  s.uint32(field.tag);
  if (field.group) {
    writeObject(s, plan, value, undefined, checks);
    s.uint32(field.tag + 1);
  } else {
    const start = s.begin();
    writeObject(s, plan, value, undefined, checks);
    s.end(start);
  }
}

function writeWkt(
  s: Sink,
  tag: number,
  wkt: WireConv,
  value: unknown,
  checks: FieldChecks | undefined,
): void {
  s.uint32(tag);
  const start = s.begin();
  wkt(s, value, checks);
  s.end(start);
}

/** The checks of the messages of an ordinary message field. */
const nestedChecks = (field: EncField, checks: FieldChecks | undefined): MessageChecks | undefined =>
  checks?.nested?.(field.messageType!);

/**
 * One present member (not null unless null is a value), as toEncodable + protobufjs would write it;
 * `checks`: the field's, if any (its value was checked already).
 */
function writeField(s: Sink, field: EncField, value: unknown, checks: FieldChecks | undefined): void {
  switch (field.enc) {
    case Enc.ImplicitString:
      if (typeof value !== 'string') fail(`expected a string, got ${describe(value)}`);
      if (value !== '') {
        s.uint32(field.tag);
        s.string(value);
      }
      break;
    case Enc.Implicit: {
      const converted = field.conv(value);
      if (!isDefaultScalar(converted)) {
        s.uint32(field.tag);
        writeScalar(s, field.scalar, converted);
      }
      break;
    }
    case Enc.Presence:
      if (field.wkt) writeWkt(s, field.tag, field.wkt, value, checks);
      else {
        const converted = field.conv(value);
        s.uint32(field.tag);
        writeScalar(s, field.scalar, converted);
      }
      break;
    case Enc.Message:
      writeMessage(s, field, fieldPlan(field), value, nestedChecks(field, checks));
      break;
    case Enc.Repeated:
      if (!Array.isArray(value)) fail(`expected an array, got ${describe(value)}`);
      if (value.length !== 0) writeList(s, field, value, checks);
      break;
    case Enc.RepeatedMessage: {
      if (!Array.isArray(value)) fail(`expected an array, got ${describe(value)}`);
      const plan = value.length !== 0 ? fieldPlan(field) : undefined;
      const itemChecks = value.length !== 0 ? nestedChecks(field, checks) : undefined;
      let i = 0;
      try {
        for (; i < value.length; i++) {
          const element: unknown = value[i];
          if (element === null) fail('null is not allowed in a repeated field');
          writeMessage(s, field, plan!, element, itemChecks);
        }
      } catch (error) {
        throw withSegment(error, indexSeg(i));
      }
      break;
    }
    case Enc.Map:
      if (!isPlainObject(value)) fail(`expected an object (map), got ${describe(value)}`);
      writeMap(s, field, value, checks);
      break;
  }
}

function writeList(s: Sink, field: EncField, value: unknown[], checks: FieldChecks | undefined): void {
  const conv = field.conv;
  let i = 0;
  try {
    if (field.packed) {
      s.uint32(field.tag - (field.tag & 7) + 2);
      const start = s.begin();
      for (; i < value.length; i++) {
        const element = value[i];
        if (element === null && !field.nullIsValue) fail('null is not allowed in a repeated field');
        writeScalar(s, field.scalar, conv(element));
      }
      s.end(start);
      return;
    }
    for (; i < value.length; i++) {
      const element = value[i];
      if (element === null && !field.nullIsValue) fail('null is not allowed in a repeated field');
      if (field.wkt) writeWkt(s, field.tag, field.wkt, element, checks);
      else {
        const converted = conv(element);
        s.uint32(field.tag);
        writeScalar(s, field.scalar, converted);
      }
    }
  } catch (error) {
    throw withSegment(error, indexSeg(i));
  }
}

function writeMap(
  s: Sink,
  field: EncField,
  value: Record<string, unknown>,
  checks: FieldChecks | undefined,
): void {
  const plan = field.messageType ? fieldPlan(field) : undefined;
  const valueChecks = plan ? nestedChecks(field, checks) : undefined;
  let key = '';
  try {
    for (key in value) {
      const element = value[key];
      if (element === undefined) continue;
      if (element === null && !field.nullIsValue) fail('null is not allowed as a map value');
      const mapKey = field.mapKey!(key);
      s.uint32(field.tag);
      const entry = s.begin();
      s.uint32(field.keyTag);
      writeMapKey(s, field.keyScalar, mapKey);
      if (plan) {
        s.uint32(field.valueTag);
        const start = s.begin();
        writeObject(s, plan, element, undefined, valueChecks);
        s.end(start);
      } else if (field.wkt) writeWkt(s, field.valueTag, field.wkt, element, checks);
      else {
        const converted = field.conv(element);
        s.uint32(field.valueTag);
        writeScalar(s, field.scalar, converted);
      }
      s.end(entry);
    }
  } catch (error) {
    throw withSegment(error, keySeg(key));
  }
}

const wktWriters = new WeakMap<protobuf.Type, WireConv>();

/** Wire writer for a well-known type with a special JSON form (field numbers are those of google/protobuf/*.proto). */
function wktWriter(type: protobuf.Type): WireConv {
  let conv = wktWriters.get(type);
  if (conv) return conv;
  const name = typeNameOf(type);
  if (WRAPPER_TYPES.has(name)) {
    const valueType = type.fieldsById[1].type;
    const inner = scalarConv(valueType);
    const scalar = SCALARS[valueType];
    const tag = 8 + WIRE_TYPES[valueType];
    conv = (s, v) => {
      const converted = inner(v);
      if (isDefaultScalar(converted)) return;
      s.uint32(tag);
      writeScalar(s, scalar, converted);
    };
  } else {
    switch (name) {
      case 'google.protobuf.Duration':
      case 'google.protobuf.Timestamp': {
        const duration = name === 'google.protobuf.Duration';
        conv = (s, v) => {
          const parsed =
            typeof v === 'string' ? (duration ? parseDuration(v) : parseTimestamp(v)) : undefined;
          if (!parsed) fail(`invalid ${duration ? 'duration' : 'timestamp'} ${describe(v)}`);
          if (parsed.seconds !== 0) {
            s.uint32(8);
            setBits(parsed.seconds);
            s.varint64(bitsLo, bitsHi);
          }
          if (parsed.nanos !== 0) {
            s.uint32(16);
            s.int32(parsed.nanos);
          }
        };
        break;
      }
      case 'google.protobuf.FieldMask':
        conv = (s, v) => {
          const text = toString(v);
          if (text === '') return;
          for (const path of text.split(',')) {
            if (!/^[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*$/.test(path))
              fail(`invalid field mask path ${describe(path)}`);
            s.uint32(10);
            s.string(path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
          }
        };
        break;
      case 'google.protobuf.Struct':
        conv = writeStruct;
        break;
      case 'google.protobuf.Value':
        conv = writeValue;
        break;
      case 'google.protobuf.ListValue':
        conv = writeListValue;
        break;
      case 'google.protobuf.Any':
        conv = writeAny;
        break;
      default:
        throw new Error(`proto-json: no JSON mapping for ${name}`);
    }
  }
  wktWriters.set(type, conv);
  return conv;
}

function writeValue(s: Sink, v: unknown): void {
  if (v === null) {
    s.uint32(8);
    s.uint32(0);
    return;
  }
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) fail(`${v} cannot be a google.protobuf.Value`);
      s.uint32(17);
      s.double(v);
      return;
    case 'string':
      s.uint32(26);
      s.string(v);
      return;
    case 'boolean':
      s.uint32(32);
      s.bool(v);
      return;
    case 'object': {
      const list = Array.isArray(v);
      s.uint32(list ? 50 : 42);
      const start = s.begin();
      if (list) writeListValue(s, v);
      else writeStruct(s, v);
      s.end(start);
      return;
    }
    default:
      fail(`expected JSON, got ${describe(v)}`);
  }
}

function writeStruct(s: Sink, v: unknown): void {
  if (!isPlainObject(v)) fail(`expected an object (google.protobuf.Struct), got ${describe(v)}`);
  let key = '';
  try {
    for (key in v) {
      s.uint32(10);
      const entry = s.begin();
      s.uint32(10);
      s.string(key);
      s.uint32(18);
      const start = s.begin();
      writeValue(s, v[key]);
      s.end(start);
      s.end(entry);
    }
  } catch (error) {
    throw withSegment(error, keySeg(key));
  }
}

function writeListValue(s: Sink, v: unknown): void {
  if (!Array.isArray(v)) fail(`expected an array (google.protobuf.ListValue), got ${describe(v)}`);
  let i = 0;
  try {
    for (; i < v.length; i++) {
      s.uint32(10);
      const start = s.begin();
      writeValue(s, v[i]);
      s.end(start);
    }
  } catch (error) {
    throw withSegment(error, indexSeg(i));
  }
}

function writeAny(s: Sink, v: unknown, checks: FieldChecks | undefined): void {
  if (!isPlainObject(v)) return fail(`expected an object (google.protobuf.Any), got ${describe(v)}`);
  const typeUrl = v['@type'];
  if (typeof typeUrl !== 'string' || typeUrl === '') return fail('google.protobuf.Any needs a "@type"');
  const inner = typeForUrl(typeUrl);
  if (!inner) return fail(`unknown Any type ${describe(typeUrl)}`);
  const special = hasSpecialJson(inner);
  if (special) {
    for (const key in v)
      if (key !== '@type' && key !== 'value')
        fail(`unknown field "${key}" in an Any holding ${typeNameOf(inner)}`);
    if (!('value' in v)) fail(`an Any holding ${typeNameOf(inner)} needs "value"`);
  }
  s.uint32(10);
  s.string(typeUrl);
  // The payload goes in `value` (field 2), which protobufjs leaves out when it encodes to nothing.
  const tagAt = s.pos;
  s.uint32(18);
  const start = s.begin();
  if (special) {
    try {
      wktWriter(inner)(s, v.value, undefined);
    } catch (error) {
      throw withSegment(error, fieldSeg('value'));
    }
  } else {
    writeObject(s, encPlan(inner), v, '@type', checks?.nested?.(inner));
  }
  if (s.pos === start) s.pos = tagAt;
  else s.end(start);
}

/** Writes a whole message, with the checks of its type. */
type RootWriter = (sink: Sink, json: unknown, checks: MessageChecks | undefined) => void;

const rootWriters = new WeakMap<protobuf.Type, RootWriter>();

function rootWriter(type: protobuf.Type): RootWriter {
  let conv = rootWriters.get(type);
  if (conv === undefined) {
    if (hasSpecialJson(type)) {
      const wkt = wktWriter(type);
      conv = (s, json) => wkt(s, json, undefined);
    } else {
      const plan = encPlan(type);
      conv = (s, json, checks) => writeObject(s, plan, json, undefined, checks);
    }
    rootWriters.set(type, conv);
  }
  return conv;
}

function fieldNamed(type: protobuf.Type, id: number): string {
  const field = type.fieldsById[id];
  if (!field) throw new Error(`proto-json: ${typeNameOf(type)} has no field ${id}`);
  return field.name;
}

/** Encoder for a well-known type with a special JSON form. */
function wktEncoder(type: protobuf.Type): Conv {
  let conv = wktEncoders.get(type);
  if (conv) return conv;
  const name = typeNameOf(type);
  if (WRAPPER_TYPES.has(name)) {
    const valueField = type.fieldsById[1];
    const inner = scalarConv(valueField.type);
    const prop = valueField.name;
    conv = (v) => {
      const converted = inner(v);
      return isDefaultScalar(converted) ? {} : { [prop]: converted };
    };
  } else {
    switch (name) {
      case 'google.protobuf.Duration':
        conv = (v) => {
          const parsed = typeof v === 'string' ? parseDuration(v) : undefined;
          return parsed ? timeObject(parsed) : fail(`invalid duration ${describe(v)}`);
        };
        break;
      case 'google.protobuf.Timestamp':
        conv = (v) => {
          const parsed = typeof v === 'string' ? parseTimestamp(v) : undefined;
          return parsed ? timeObject(parsed) : fail(`invalid timestamp ${describe(v)}`);
        };
        break;
      case 'google.protobuf.FieldMask': {
        const paths = fieldNamed(type, 1);
        conv = (v) => {
          const text = toString(v);
          if (text === '') return {};
          return {
            [paths]: text.split(',').map((path) => {
              if (!/^[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*$/.test(path))
                fail(`invalid field mask path ${describe(path)}`);
              return path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
            }),
          };
        };
        break;
      }
      case 'google.protobuf.Struct':
        conv = structEncoder(type);
        break;
      case 'google.protobuf.Value':
        conv = valueEncoder(type);
        break;
      case 'google.protobuf.ListValue':
        conv = listEncoder(type);
        break;
      case 'google.protobuf.Any':
        conv = anyEncoder(type);
        break;
      default:
        throw new Error(`proto-json: no JSON mapping for ${name}`);
    }
  }
  wktEncoders.set(type, conv);
  return conv;
}

function structEncoder(type: protobuf.Type): Conv {
  const fields = fieldNamed(type, 1);
  let value: Conv | undefined;
  return (v) => {
    if (!isPlainObject(v)) fail(`expected an object (google.protobuf.Struct), got ${describe(v)}`);
    const map: Record<string, unknown> = {};
    let key = '';
    try {
      for (key in v)
        setOwn(map, key, (value ??= wktEncoder(type.fieldsById[1].resolvedType as protobuf.Type))(v[key]));
    } catch (error) {
      throw withSegment(error, keySeg(key));
    }
    return { [fields]: map };
  };
}

function valueEncoder(type: protobuf.Type): Conv {
  const [nullValue, numberValue, stringValue, boolValue, structValue, listValue] = [1, 2, 3, 4, 5, 6].map(
    (id) => fieldNamed(type, id),
  );
  const structType = type.fieldsById[5].resolvedType as protobuf.Type;
  const listType = type.fieldsById[6].resolvedType as protobuf.Type;
  return (v) => {
    if (v === null) return { [nullValue]: 0 };
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) fail(`${v} cannot be a google.protobuf.Value`);
        return { [numberValue]: v };
      case 'string':
        return { [stringValue]: v };
      case 'boolean':
        return { [boolValue]: v };
      case 'object':
        return Array.isArray(v)
          ? { [listValue]: wktEncoder(listType)(v) }
          : { [structValue]: wktEncoder(structType)(v) };
      default:
        return fail(`expected JSON, got ${describe(v)}`);
    }
  };
}

function listEncoder(type: protobuf.Type): Conv {
  const values = fieldNamed(type, 1);
  const valueType = type.fieldsById[1].resolvedType as protobuf.Type;
  return (v) => {
    if (!Array.isArray(v)) fail(`expected an array (google.protobuf.ListValue), got ${describe(v)}`);
    const value = wktEncoder(valueType);
    const out = new Array<unknown>(v.length);
    let i = 0;
    try {
      for (; i < v.length; i++) out[i] = value(v[i]);
    } catch (error) {
      throw withSegment(error, indexSeg(i));
    }
    return v.length ? { [values]: out } : {};
  };
}

function anyEncoder(type: protobuf.Type): Conv {
  const typeUrlProp = fieldNamed(type, 1); // protobufjs' bundled any.proto keeps `type_url` uncamelCased
  const valueProp = fieldNamed(type, 2);
  return (v) => {
    if (!isPlainObject(v)) return fail(`expected an object (google.protobuf.Any), got ${describe(v)}`);
    const typeUrl = v['@type'];
    if (typeof typeUrl !== 'string' || typeUrl === '') return fail('google.protobuf.Any needs a "@type"');
    const inner = typeForUrl(typeUrl);
    if (!inner) return fail(`unknown Any type ${describe(typeUrl)}`);
    let bytes: Uint8Array;
    if (hasSpecialJson(inner)) {
      for (const key in v)
        if (key !== '@type' && key !== 'value')
          fail(`unknown field "${key}" in an Any holding ${typeNameOf(inner)}`);
      if (!('value' in v)) fail(`an Any holding ${typeNameOf(inner)} needs "value"`);
      let encoded: unknown;
      try {
        encoded = wktEncoder(inner)(v.value);
      } catch (error) {
        throw withSegment(error, fieldSeg('value'));
      }
      bytes = inner.encode(encoded as Record<string, unknown>).finish();
    } else {
      bytes = inner.encode(encodeObject(encPlan(inner), v, '@type')).finish();
    }
    return bytes.length ? { [typeUrlProp]: typeUrl, [valueProp]: bytes } : { [typeUrlProp]: typeUrl };
  };
}

/**
 * Encodes a message given in proto3 JSON (lowerCamel or .proto field names) to wire bytes. Throws
 * ProtoJsonError naming the path of the first offending value.
 */
export function encodeJson(messageName: string, json: unknown): Uint8Array {
  return encodeType(requireType(messageName), json, messageName);
}

/**
 * encodeJson for a protobufjs Type already in hand (`messageName`, default the type's full name, only
 * names the message in errors). Writes the wire bytes straight from the JSON, in one walk: the same
 * checks and the same bytes as `type.encode(toEncodable(type, json)).finish()`, without building the
 * intermediate objects.
 */
export function encodeType(type: protobuf.Type, json: unknown, messageName?: string): Uint8Array {
  return encodeWith(rootWriter(type), type, json, messageName, undefined);
}

/**
 * encodeType of `type`'s messages that also runs `checks` on the messages it writes (see MessageChecks);
 * throws what they throw. The walk is looked up once, for all the messages it is given.
 */
export function checkedEncoder(
  type: protobuf.Type,
  checks: MessageChecks | undefined,
): (json: unknown) => Uint8Array {
  const write = rootWriter(type);
  return (json) => encodeWith(write, type, json, undefined, checks);
}

function encodeWith(
  write: RootWriter,
  type: protobuf.Type,
  json: unknown,
  messageName: string | undefined,
  checks: MessageChecks | undefined,
): Uint8Array {
  const s = sink;
  s.pos = 0;
  frameTop = 0;
  try {
    write(s, json, checks);
  } catch (error) {
    frameValues.length = 0; // holds no JSON of a failed walk
    throw toProtoJsonError(messageName ?? typeNameOf(type), error);
  }
  const size = s.pos;
  const out = Buffer.allocUnsafe(size);
  // Most resources are small: copied by hand, as Buffer#copy of part of a buffer first makes a view of it.
  if (size <= SMALL_COPY_BYTES) for (let i = 0; i < size; i++) out[i] = s.buf[i];
  else s.buf.copy(out, 0, 0, size);
  // Do not keep a buffer grown for one huge message.
  if (s.buf.length > 16 * INITIAL_SINK_BYTES) sink = new Sink();
  return out;
}

const rootEncoders = new WeakMap<protobuf.Type, Conv>();

/** The walk for a whole message of `type`. */
function rootEncoder(type: protobuf.Type): Conv {
  let conv = rootEncoders.get(type);
  if (conv === undefined) {
    if (hasSpecialJson(type)) conv = wktEncoder(type);
    else {
      const plan = encPlan(type);
      conv = (json) => encodeObject(plan, json, undefined);
    }
    rootEncoders.set(type, conv);
  }
  return conv;
}

/**
 * The object `Type.encode` takes for this JSON (Any payloads inside are already encoded). Exposed so
 * callers can measure or reuse the walk separately from the protobufjs encode. `messageName` (default:
 * the type's full name) only names the message in a ProtoJsonError.
 */
export function toEncodable(
  type: protobuf.Type,
  json: unknown,
  messageName?: string,
): Record<string, unknown> {
  try {
    return rootEncoder(type)(json) as Record<string, unknown>;
  } catch (error) {
    throw toProtoJsonError(messageName ?? typeNameOf(type), error);
  }
}

/** The Any an ADS response carries for this resource. */
export function encodeAny(messageName: string, json: unknown): { typeUrl: string; value: Uint8Array } {
  const type = requireType(messageName);
  return { typeUrl: typeUrlOf(typeNameOf(type)), value: encodeJson(messageName, json) };
}

// ---------------------------------------------------------------------------------------------
// Decoding: strict wire scan

/** Wire type per scalar type. */
const WIRE_TYPES: Record<string, number> = {
  double: 1,
  float: 5,
  int32: 0,
  uint32: 0,
  sint32: 0,
  fixed32: 5,
  sfixed32: 5,
  int64: 0,
  uint64: 0,
  sint64: 0,
  fixed64: 1,
  sfixed64: 1,
  bool: 0,
  string: 2,
  bytes: 2,
};

function wireTypeOf(type: string, resolved: protobuf.ReflectionObject | null): number {
  if (resolved instanceof protobuf.Enum) return 0;
  if (resolved instanceof protobuf.Type) return 2;
  return WIRE_TYPES[type];
}

/**
 * Walks the wire bytes of `type` and rejects what protobufjs would silently accept or mangle:
 * unknown field numbers, wrong wire types, two members of one oneof, a singular message field
 * written twice (protobufjs keeps the last instead of merging), truncation.
 */
interface ScanField {
  readonly field: protobuf.Field;
  /** Expected wire type (2 for messages and maps). */
  readonly wire: number;
  /** Repeated numeric field: packed (wire type 2) is accepted too. */
  readonly packable: boolean;
  /** Message type of a message field or of a map's values. */
  readonly message: protobuf.Type | undefined;
  readonly counted: boolean;
  readonly oneof: number;
  readonly mapKeyWire: number;
  readonly mapValueWire: number;
}

const scanPlans = new WeakMap<protobuf.Type, Map<number, ScanField>>();

function scanPlan(type: protobuf.Type): Map<number, ScanField> {
  let plan = scanPlans.get(type);
  if (plan) return plan;
  plan = new Map();
  const oneofs = type.oneofsArray;
  for (const field of type.fieldsArray) {
    field.resolve();
    const resolved = field.resolvedType;
    const valueWire = wireTypeOf(field.type, resolved);
    plan.set(field.id, {
      field,
      wire: field.map ? 2 : valueWire,
      packable: field.repeated && valueWire !== 2,
      message: resolved instanceof protobuf.Type ? resolved : undefined,
      counted: field.repeated || field.map,
      oneof: field.partOf ? oneofs.indexOf(field.partOf) : -1,
      mapKeyWire: field.map ? WIRE_TYPES[keyTypeOf(field)] : -1,
      mapValueWire: field.map ? valueWire : -1,
    });
  }
  scanPlans.set(type, plan);
  return plan;
}

/**
 * Walks the wire bytes of `type` and rejects what protobufjs would silently accept or mangle:
 * unknown field numbers, wrong wire types, two members of one oneof, a singular message field
 * written twice (protobufjs keeps the last instead of merging), truncation.
 */
function scanMessage(type: protobuf.Type, reader: protobuf.Reader, end: number): void {
  const plan = scanPlan(type);
  let oneofSeen: number[] | undefined;
  let seenOnce: Set<number> | undefined;
  let counts: Map<number, number> | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    const info = plan.get(id);
    if (info === undefined) return fail(`unknown field number ${id} in ${typeNameOf(type)}`);
    let seen = 0;
    if (info.counted) {
      counts ??= new Map();
      seen = counts.get(id) ?? 0;
      counts.set(id, seen + 1);
    }
    try {
      if (info.oneof >= 0) {
        oneofSeen ??= [];
        const other = oneofSeen[info.oneof];
        if (other !== undefined && other !== id) {
          fail(
            `two members of oneof "${info.field.partOf!.name}" are set (${jsonNameOf(plan.get(other)!.field)} and ${jsonNameOf(info.field)})`,
          );
        }
        oneofSeen[info.oneof] = id;
      }
      if (wire !== info.wire && !(info.packable && wire === 2))
        fail(`wire type ${wire} for a ${info.field.type} field`);
      if (info.mapKeyWire >= 0) {
        scanMapEntry(info, reader, delimitedEnd(reader, end));
      } else if (info.message) {
        if (!info.counted) {
          seenOnce ??= new Set();
          if (seenOnce.has(id)) fail('singular message field appears twice on the wire');
          seenOnce.add(id);
        }
        scanMessage(info.message, reader, delimitedEnd(reader, end));
      } else {
        reader.skipType(wire);
        if (reader.pos > end) fail('truncated field');
      }
    } catch (error) {
      const name = fieldSeg(jsonNameOf(info.field));
      throw withSegment(error, info.counted ? `${name}${indexSeg(seen)}` : name);
    }
  }
  if (reader.pos !== end) fail('truncated message');
}

function delimitedEnd(reader: protobuf.Reader, end: number): number {
  const length = reader.uint32();
  const subEnd = reader.pos + length;
  if (subEnd > end) fail('length exceeds the enclosing message');
  return subEnd;
}

function scanMapEntry(info: ScanField, reader: protobuf.Reader, end: number): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    if (id === 1) {
      if (wire !== info.mapKeyWire) fail(`wire type ${wire} for map key`);
      reader.skipType(wire);
    } else if (id === 2) {
      if (wire !== info.mapValueWire) fail(`wire type ${wire} for map value`);
      if (info.message) scanMessage(info.message, reader, delimitedEnd(reader, end));
      else reader.skipType(wire);
    } else {
      fail(`unknown field number ${id} in a map entry`);
    }
  }
  if (reader.pos !== end) fail('truncated map entry');
}

// ---------------------------------------------------------------------------------------------
// Decoding: protobufjs message -> canonical proto3 JSON

type ToJson = (v: unknown) => unknown;

interface DecField {
  readonly name: string;
  readonly jsonName: string;
  readonly kind: Kind;
  readonly toJson: ToJson;
  readonly mapKey?: (key: string) => string;
}

const decPlans = new WeakMap<protobuf.Type, DecField[]>();
const wktDecoders = new WeakMap<protobuf.Type, ToJson>();

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

function bigOf(v: unknown, unsigned: boolean): bigint {
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  const long = v as LongLike;
  const bits = (BigInt(long.high >>> 0) << 32n) | BigInt(long.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

function int64ToJson(unsigned: boolean): ToJson {
  return (v) => bigOf(v, unsigned).toString();
}

/** Shortest decimal that reads back as the same float32. */
function float32ToJson(v: unknown): unknown {
  const n = v as number;
  if (!Number.isFinite(n)) return String(n);
  for (let precision = 1; precision < 10; precision++) {
    const candidate = Number(n.toPrecision(precision));
    if (Math.fround(candidate) === n) return candidate;
  }
  return n;
}

function doubleToJson(v: unknown): unknown {
  const n = v as number;
  return Number.isFinite(n) ? n : String(n);
}

function scalarToJson(type: string): ToJson {
  switch (type) {
    case 'double':
      return doubleToJson;
    case 'float':
      return float32ToJson;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return int64ToJson(false);
    case 'uint64':
    case 'fixed64':
      return int64ToJson(true);
    case 'bytes':
      return (v) => base64Of(v as Uint8Array);
    default:
      return (v) => v;
  }
}

function enumToJson(e: protobuf.Enum): ToJson {
  const info = enumInfo(e);
  if (info.name === 'google.protobuf.NullValue') return () => null;
  return (v) => info.byNumber.get(v as number) ?? fail(`unknown ${info.name} number ${String(v)}`);
}

function isDefaultDecoded(v: unknown): boolean {
  if (v === 0 || v === '' || v === false || v == null) return true;
  // Absent bytes read through to the prototype default, which protobufjs makes an empty plain array.
  if (v instanceof Uint8Array || Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') {
    const long = v as LongLike;
    return long.low === 0 && long.high === 0;
  }
  return false;
}

function decPlan(type: protobuf.Type): DecField[] {
  let plan = decPlans.get(type);
  if (plan) return plan;
  plan = type.fieldsArray.map((field): DecField => {
    field.resolve();
    const resolved = field.resolvedType;
    const isMessage = resolved instanceof protobuf.Type;
    let toJson: ToJson;
    if (resolved instanceof protobuf.Enum) toJson = enumToJson(resolved);
    else if (resolved instanceof protobuf.Type) toJson = messageToJsonConv(resolved);
    else toJson = scalarToJson(field.type);
    return {
      name: field.name,
      jsonName: jsonNameOf(field),
      kind: field.map
        ? Kind.Map
        : field.repeated
          ? Kind.Repeated
          : isMessage || field.hasPresence
            ? Kind.Presence
            : Kind.Implicit,
      toJson,
      mapKey: field.map ? mapKeyToJson(keyTypeOf(field)) : undefined,
    };
  });
  decPlans.set(type, plan);
  return plan;
}

function mapKeyToJson(keyType: string): (key: string) => string {
  switch (keyType) {
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      const unsigned = keyType === 'uint64' || keyType === 'fixed64';
      // protobufjs stores decoded 64-bit keys as 8-character "long hashes" (util.longToHash); an absent key stays 0.
      return (k) => {
        if (k.length !== 8) return k;
        const bits = protobuf.util.LongBits.fromHash(k);
        return bigOf({ low: bits.lo, high: bits.hi }, unsigned).toString();
      };
    }
    default:
      return (k) => k;
  }
}

function messageToJsonConv(type: protobuf.Type): ToJson {
  if (hasSpecialJson(type)) {
    let wkt: ToJson | undefined;
    return (v) => (wkt ??= wktDecoder(type))(v);
  }
  let plan: DecField[] | undefined;
  return (v) => messageToJson((plan ??= decPlan(type)), v as Record<string, unknown>);
}

function messageToJson(plan: DecField[], msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of plan) {
    const v = msg[field.name];
    try {
      switch (field.kind) {
        case Kind.Implicit:
          if (!isDefaultDecoded(v)) out[field.jsonName] = field.toJson(v);
          break;
        case Kind.Presence:
          if (v != null && hasOwn(msg, field.name)) out[field.jsonName] = field.toJson(v);
          break;
        case Kind.Repeated: {
          const list = v as unknown[] | undefined;
          if (list && list.length) out[field.jsonName] = repeatedToJson(field, list);
          break;
        }
        case Kind.Map: {
          const map = v as Record<string, unknown> | undefined;
          const keys = map ? Object.keys(map) : [];
          if (keys.length) out[field.jsonName] = mapToJson(field, map!, keys);
          break;
        }
      }
    } catch (error) {
      throw withSegment(error, fieldSeg(field.jsonName));
    }
  }
  return out;
}

function repeatedToJson(field: DecField, list: unknown[]): unknown[] {
  const out = new Array<unknown>(list.length);
  let i = 0;
  try {
    for (; i < list.length; i++) out[i] = field.toJson(list[i]);
  } catch (error) {
    throw withSegment(error, indexSeg(i));
  }
  return out;
}

function mapToJson(field: DecField, map: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const jsonKey = field.mapKey!(key);
    try {
      setOwn(out, jsonKey, field.toJson(map[key]));
    } catch (error) {
      throw withSegment(error, keySeg(jsonKey));
    }
  }
  return out;
}

function wktDecoder(type: protobuf.Type): ToJson {
  let conv = wktDecoders.get(type);
  if (conv) return conv;
  const name = typeNameOf(type);
  if (WRAPPER_TYPES.has(name)) {
    const field = type.fieldsById[1];
    const inner = scalarToJson(field.type);
    const prop = field.name;
    conv = (v) => inner((v as Record<string, unknown>)[prop]);
  } else {
    switch (name) {
      case 'google.protobuf.Duration':
      case 'google.protobuf.Timestamp': {
        const seconds = fieldNamed(type, 1);
        const nanos = fieldNamed(type, 2);
        const format = name === 'google.protobuf.Duration' ? formatDuration : formatTimestamp;
        conv = (v) => {
          const msg = v as Record<string, unknown>;
          return format(Number(bigOf(msg[seconds] ?? 0, false)), msg[nanos] as number);
        };
        break;
      }
      case 'google.protobuf.FieldMask': {
        const paths = fieldNamed(type, 1);
        conv = (v) =>
          ((v as Record<string, string[]>)[paths] ?? [])
            .map((path) => {
              if (!/^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/.test(path) || /_(?![a-z])/.test(path)) {
                fail(`field mask path ${describe(path)} has no JSON form`);
              }
              return path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
            })
            .join(',');
        break;
      }
      case 'google.protobuf.Struct': {
        const fields = fieldNamed(type, 1);
        const valueType = type.fieldsById[1].resolvedType as protobuf.Type;
        conv = (v) => {
          const map = ((v as Record<string, unknown>)[fields] ?? {}) as Record<string, unknown>;
          const out: Record<string, unknown> = {};
          const value = wktDecoder(valueType);
          for (const key of Object.keys(map)) {
            try {
              setOwn(out, key, value(map[key]));
            } catch (error) {
              throw withSegment(error, keySeg(key));
            }
          }
          return out;
        };
        break;
      }
      case 'google.protobuf.ListValue': {
        const values = fieldNamed(type, 1);
        const valueType = type.fieldsById[1].resolvedType as protobuf.Type;
        conv = (v) => {
          const list = ((v as Record<string, unknown>)[values] ?? []) as unknown[];
          const value = wktDecoder(valueType);
          return list.map((element, i) => {
            try {
              return value(element);
            } catch (error) {
              throw withSegment(error, indexSeg(i));
            }
          });
        };
        break;
      }
      case 'google.protobuf.Value': {
        const [nullValue, numberValue, stringValue, boolValue, structValue, listValue] = [
          1, 2, 3, 4, 5, 6,
        ].map((id) => fieldNamed(type, id));
        const structType = type.fieldsById[5].resolvedType as protobuf.Type;
        const listType = type.fieldsById[6].resolvedType as protobuf.Type;
        conv = (v) => {
          const msg = v as Record<string, unknown>;
          if (hasOwn(msg, nullValue)) return null;
          if (hasOwn(msg, numberValue)) {
            const n = msg[numberValue] as number;
            return Number.isFinite(n) ? n : fail(`google.protobuf.Value number ${n} has no JSON form`);
          }
          if (hasOwn(msg, stringValue)) return msg[stringValue];
          if (hasOwn(msg, boolValue)) return msg[boolValue];
          if (hasOwn(msg, structValue) && msg[structValue] != null)
            return wktDecoder(structType)(msg[structValue]);
          if (hasOwn(msg, listValue) && msg[listValue] != null) return wktDecoder(listType)(msg[listValue]);
          return fail('google.protobuf.Value has no kind set');
        };
        break;
      }
      case 'google.protobuf.Any': {
        const typeUrlProp = fieldNamed(type, 1);
        const valueProp = fieldNamed(type, 2);
        conv = (v) => {
          const msg = v as Record<string, unknown>;
          const typeUrl = msg[typeUrlProp] as string;
          if (!typeUrl) return fail('google.protobuf.Any has no type URL');
          const inner = typeForUrl(typeUrl);
          if (!inner) return fail(`unknown Any type ${describe(typeUrl)}`);
          const payload = decodeType(inner, (msg[valueProp] as Uint8Array | undefined) ?? new Uint8Array(0));
          if (hasSpecialJson(inner)) return { '@type': typeUrl, value: payload };
          return { '@type': typeUrl, ...(payload as Record<string, unknown>) };
        };
        break;
      }
      default:
        throw new Error(`proto-json: no JSON mapping for ${name}`);
    }
  }
  wktDecoders.set(type, conv);
  return conv;
}

function decodeType(type: protobuf.Type, bytes: Uint8Array): unknown {
  scanMessage(type, protobuf.Reader.create(bytes), bytes.length);
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (error) {
    return fail(`cannot decode ${typeNameOf(type)}: ${(error as Error).message}`);
  }
  const msg = message as unknown as Record<string, unknown>;
  return hasSpecialJson(type) ? wktDecoder(type)(msg) : messageToJson(decPlan(type), msg);
}

/**
 * Decodes wire bytes strictly (unknown fields, unknown enum numbers, mis-typed wire values and an
 * Any of an unknown type are errors) into canonical proto3 JSON.
 */
export function decodeToJson(messageName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = requireType(messageName);
  try {
    return decodeType(type, bytes) as Record<string, unknown>;
  } catch (error) {
    throw toProtoJsonError(messageName, error);
  }
}
