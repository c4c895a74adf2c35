import type { TypeUrl } from './type-urls';

/**
 * One xDS resource, encoded once per version. `bytes` is the serialized message (the value of the
 * Any that goes on the wire); every stream shares it. `version` is a hash of `bytes`, so it changes
 * exactly when the resource does.
 */
export interface XdsResource {
  readonly name: string;
  readonly typeUrl: TypeUrl;
  readonly version: string;
  /** proto3 JSON form, `@type` on every Any, as Envoy's config dump prints it. */
  readonly json: Record<string, unknown>;
  readonly bytes: Uint8Array;
}

/** Everything one proxy (node role NAMESPACE~NAME) should receive: type URL -> name -> resource. */
export type XdsSnapshot = ReadonlyMap<TypeUrl, ReadonlyMap<string, XdsResource>>;
