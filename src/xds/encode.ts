import { createHash } from 'crypto';
import type { Json } from '../translator/plugin';
import { validateMessage } from './pgv';
import { encodeJson } from './proto-json';
import type { XdsResource } from './resources';
import { messageNameOf, type TypeUrl } from './type-urls';

export type EncodeResult = { resource: XdsResource } | { violations: string[] };

/**
 * Encodes translated resources once per version: a resource whose JSON did not change since the last
 * translation keeps its bytes and version, and one JSON object shared by several proxies is encoded
 * once. Every new encoding is checked against Envoy's protoc-gen-validate rules first.
 */
export class ResourceEncoder {
  private byObject = new WeakMap<Json, EncodeResult>();
  private byName = new Map<string, { text: string; result: EncodeResult }>();

  encode(typeUrl: TypeUrl, json: Json): EncodeResult {
    const shared = this.byObject.get(json);
    if (shared) return shared;
    const name = String(json.name ?? json.clusterName);
    const cacheKey = `${typeUrl} ${name}`;
    const text = JSON.stringify(json);
    const previous = this.byName.get(cacheKey);
    if (previous && previous.text === text) {
      this.byObject.set(json, previous.result);
      return previous.result;
    }
    const result = this.encodeFresh(typeUrl, name, json);
    this.byName.set(cacheKey, { text, result });
    this.byObject.set(json, result);
    return result;
  }

  private encodeFresh(typeUrl: TypeUrl, name: string, json: Json): EncodeResult {
    const messageName = messageNameOf(typeUrl);
    const violations = validateMessage(messageName, json);
    if (violations.length > 0) return { violations };
    let bytes: Uint8Array;
    try {
      bytes = encodeJson(messageName, json);
    } catch (error) {
      return { violations: [(error as Error).message] };
    }
    const version = createHash('sha256').update(bytes).digest('base64url').slice(0, 16);
    return { resource: { name, typeUrl, version, json, bytes } };
  }

  /** Forgets resources that no translation produced this time (bounded memory). */
  retainOnly(live: ReadonlySet<string>): void {
    for (const key of this.byName.keys()) if (!live.has(key)) this.byName.delete(key);
  }
}
