import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';

/**
 * Envoy's v3 protos as shipped by @grpc/grpc-js-xds (deps/), loaded with protobufjs. They are never
 * copied into this repository: the package is the single pinned copy of data-plane-api we build on.
 */
const XDS_PACKAGE_ROOT = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
const INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) =>
  path.join(XDS_PACKAGE_ROOT, 'deps', dir),
);
const PROTOBUFJS_ROOT = path.dirname(require.resolve('protobufjs/package.json'));

/** Every file whose messages Sluice produces, directly or inside an Any. Plugins add theirs. */
const ENVOY_PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
  'envoy/extensions/path/rewrite/uri_template/v3/uri_template_rewrite.proto',
];

function resolveInclude(target: string): string {
  if (path.isAbsolute(target) && fs.existsSync(target)) return target;
  for (const dir of INCLUDE_DIRS) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  const bundled = path.join(PROTOBUFJS_ROOT, target);
  return fs.existsSync(bundled) ? bundled : target;
}

let root: protobuf.Root | undefined;
const extraFiles: string[] = [];

/** Lets a plugin make its filter's protos known before the root is first used. */
export function registerEnvoyProtoFiles(files: readonly string[]): void {
  for (const file of files) {
    if (ENVOY_PROTO_FILES.includes(file) || extraFiles.includes(file)) continue;
    extraFiles.push(file);
    if (root) {
      root.loadSync(file, { keepCase: false });
      root.resolveAll();
    }
  }
}

export function envoyRoot(): protobuf.Root {
  if (!root) {
    const loaded = new protobuf.Root();
    loaded.resolvePath = (_origin, target) => resolveInclude(target);
    loaded.loadSync([...ENVOY_PROTO_FILES, ...extraFiles], { keepCase: false });
    loaded.resolveAll();
    root = loaded;
  }
  return root;
}

/** The protobufjs Type for a fully qualified message name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function envoyType(messageName: string): protobuf.Type {
  return envoyRoot().lookupType(messageName);
}

/** Directories holding the .proto files, for loaders that take include paths (@grpc/proto-loader). */
export const ENVOY_PROTO_INCLUDE_DIRS: readonly string[] = INCLUDE_DIRS;
