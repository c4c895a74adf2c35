import { hash } from 'crypto';
import { keepHiddenClass } from '../hidden-classes';
import type { Json } from '../translator/plugin';
import type * as protobuf from 'protobufjs';
import { validEncoder, validateType } from './pgv';
import { encodeType, typeForUrl } from './proto-json';
import type { XdsResource } from './resources';
import { messageNameOf, type TypeUrl } from './type-urls';

/** The resource, or why it cannot be sent (no wrapper around a resource: one object less for each one kept). */
export type EncodeResult = XdsResource | { violations: string[] };

interface Encoded {
  /** The last JSON object of this resource (the result was encoded from an equal one). */
  json: Json;
  readonly result: EncodeResult;
  /** The last forgetUnused round `encode` was asked for it in. */
  round: number;
}

/**
 * Encodes translated resources once per version: a resource whose JSON did not change since the last
 * translation keeps its bytes and version, and one JSON object shared by several proxies is encoded
 * once. Every new encoding checks Envoy's protoc-gen-validate rules as it walks the JSON.
 *
 * JSON handed to `encode` must not be mutated afterwards: a resource is recognised by the identity of
 * its JSON object (the objects an incremental translator reuses, or one object shared by several
 * proxies: an O(1) check), else compared by structure with the last JSON of the same name (a deep walk
 * that stops at the first difference; nothing is serialized or kept but the JSON itself).
 */
export class ResourceEncoder {
  private byType = new Map<TypeUrl, TypeEncodings>();
  private round = 0;
  /** Resources `encode` was asked for in this round, each counted once: when all are, none is forgotten. */
  private asked = 0;

  encode(typeUrl: TypeUrl, json: Json): EncodeResult {
    const name = String(json.name ?? json.clusterName);
    let encodings = this.byType.get(typeUrl);
    if (!encodings) this.byType.set(typeUrl, (encodings = typeEncodings(typeUrl)));
    const { byName } = encodings;
    let encoded = byName.get(name);
    if (encoded && (encoded.json === json || sameJson(encoded.json, json))) {
      // The same resource in a new object: the next identity check (a reused object) is this one.
      encoded.json = json;
      if (encoded.round !== this.round) {
        encoded.round = this.round;
        this.asked++;
      }
      return encoded.result;
    }
    if (encoded?.round !== this.round) this.asked++;
    encoded = { json, result: encodeFresh(encodings, typeUrl, name, json), round: this.round };
    byName.set(name, encoded);
    return encoded.result;
  }

  /** Forgets resources `encode` was not asked for since the last call (bounded memory). */
  forgetUnused(): void {
    let kept = 0;
    for (const { byName } of this.byType.values()) kept += byName.size;
    if (this.asked < kept) {
      for (const { byName } of this.byType.values()) {
        byName.forEach((encoded, name) => {
          if (encoded.round !== this.round) byName.delete(name);
        });
      }
    }
    this.asked = 0;
    this.round++;
  }
}

keepHiddenClass(new ResourceEncoder());

/** What the encoder keeps per type URL: its message type and walk are looked up once, not per resource. */
interface TypeEncodings {
  readonly type: protobuf.Type;
  readonly encodeValid: (json: unknown) => Uint8Array | undefined;
  /** The last encoding per resource name. */
  readonly byName: Map<string, Encoded>;
}

function typeEncodings(typeUrl: TypeUrl): TypeEncodings {
  const type = typeForUrl(typeUrl);
  if (!type) throw new Error(`encode: unknown message type ${messageNameOf(typeUrl)}`);
  return { type, encodeValid: validEncoder(type), byName: new Map() };
}

function encodeFresh(encodings: TypeEncodings, typeUrl: TypeUrl, name: string, json: Json): EncodeResult {
  const { type } = encodings;
  // One walk checks the rules as it encodes; only a resource it rejects is walked again, to tell why.
  let bytes = encodings.encodeValid(json);
  if (!bytes) {
    const violations = validateType(type, json);
    if (violations.length > 0) return { violations };
    try {
      bytes = encodeType(type, json);
    } catch (error) {
      return { violations: [(error as Error).message] };
    }
  }
  return { name, typeUrl, version: versionOf(bytes), json, bytes };
}

/**
 * A resource's version: a SHA-1 of its bytes, 16 base64url characters (96 bits). Not for security: a
 * version only tells a resource's successive contents apart. crypto.hash is the one-shot form, cheaper
 * than createHash for tens of thousands of small resources.
 */
export function versionOf(bytes: Uint8Array): string {
  return hash('sha1', bytes, 'base64url').slice(0, 16);
}

/** A plain object of any realm (its prototype is null or has none): not a Buffer, a Date, a Map... */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * Whether two JSON values encode to the same resource, checked without serializing either: the same
 * members with the same values, in any order (protobuf encodes fields by number, and the order of map
 * entries carries no meaning); a member set to undefined is absent, as in proto3 JSON. Numbers compare
 * exactly (0 and -0 differ: a google.protobuf.Value keeps the sign). Anything other than plain objects,
 * arrays and primitives (a Buffer, a Date...) is only the same as itself. Exits at the first difference.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return a !== 0 || Object.is(a, b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  // Every member of x is in y; then y has no other member when it has as many.
  let members = 0;
  for (const key in x) {
    const value = x[key];
    if (value === undefined) {
      if (y[key] !== undefined) return false;
    } else {
      if (!sameJson(value, y[key])) return false;
      members++;
    }
  }
  for (const key in y) if (y[key] !== undefined) members--;
  return members === 0;
}
