import { isDeepStrictEqual } from 'util';
import { validateMessage } from '../../src/xds/pgv';
import { decodeToJson, encodeJson } from '../../src/xds/proto-json';
import type { XdsResource, XdsSnapshot } from '../../src/xds/resources';
import { messageNameOf } from '../../src/xds/type-urls';

/** Every xDS resource of every proxy's snapshot, in one list. */
export function xdsResourcesOf(snapshots: ReadonlyMap<string, XdsSnapshot>): XdsResource[] {
  return [...snapshots.values()].flatMap((snapshot) =>
    [...snapshot.values()].flatMap((byName) => [...byName.values()]),
  );
}

/**
 * What Envoy would object to in a resource as it goes on the wire: its bytes decoded strictly against
 * Envoy's protos (unknown fields and bad values throw), the protoc-gen-validate rules it breaks, and
 * whether it re-encodes to the same bytes and means what the translator's JSON says.
 */
export function strictXdsProblems(resource: XdsResource): string[] {
  const messageName = messageNameOf(resource.typeUrl);
  const decoded = decodeToJson(messageName, resource.bytes);
  const problems = validateMessage(messageName, decoded);
  if (!Buffer.from(encodeJson(messageName, decoded)).equals(Buffer.from(resource.bytes)))
    problems.push('the decoded form re-encodes to other bytes');
  if (!isDeepStrictEqual(decoded, decodeToJson(messageName, encodeJson(messageName, resource.json))))
    problems.push('the bytes do not mean what the translated JSON says');
  return problems;
}
