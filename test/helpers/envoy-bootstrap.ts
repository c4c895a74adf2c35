import { registerEnvoyProtoFiles } from '../../src/xds/envoy-protos';
import { validateMessage } from '../../src/xds/pgv';
import { decodeToJson, encodeJson } from '../../src/xds/proto-json';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface CheckedBootstrap {
  /** The bootstrap after a strict encode and decode, in proto3 JSON form (camelCase names). */
  decoded: Json;
  /** What breaks the protoc-gen-validate rules Envoy applies when it loads the bootstrap. */
  violations: string[];
  /** `host:port` of each endpoint of the static cluster that ADS streams to. */
  adsTargets: string[];
}

/**
 * An Envoy bootstrap as written in YAML (parsed), checked the way Envoy loads it: encoded and decoded
 * strictly against Envoy's v3 protos (unknown fields and bad values throw), then validated.
 */
export function checkBootstrap(bootstrap: unknown): CheckedBootstrap {
  registerEnvoyProtoFiles(['envoy/config/bootstrap/v3/bootstrap.proto']);
  const decoded: Json = decodeToJson(BOOTSTRAP, encodeJson(BOOTSTRAP, bootstrap));
  const adsCluster = decoded.dynamicResources?.adsConfig?.grpcServices?.[0]?.envoyGrpc?.clusterName;
  const cluster = (decoded.staticResources?.clusters ?? []).find((c: Json) => c.name === adsCluster);
  const adsTargets = (cluster?.loadAssignment?.endpoints ?? [])
    .flatMap((locality: Json) => locality.lbEndpoints ?? [])
    .map((lb: Json) => lb.endpoint.address.socketAddress)
    .map((socket: Json) => `${socket.address}:${socket.portValue}`);
  return { decoded, violations: validateMessage(BOOTSTRAP, decoded), adsTargets };
}
