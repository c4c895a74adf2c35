import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../package-root';

/** The API's own .proto files (protos/), the single source of truth for resource shapes. */
export const API_PROTO_DIR = path.join(PACKAGE_ROOT, 'protos');
const PROTOBUFJS_ROOT = path.dirname(require.resolve('protobufjs/package.json'));

const API_FILES = [
  'sluice/v1/upstream.proto',
  'sluice/v1/virtual_service.proto',
  'sluice/v1/gateway.proto',
  'sluice/v1/secret.proto',
  'sluice/v1/settings.proto',
  'sluice/v1/proxy.proto',
];

let root: protobuf.Root | undefined;

export function apiRoot(): protobuf.Root {
  if (!root) {
    const loaded = new protobuf.Root();
    loaded.resolvePath = (_origin, target) => {
      const own = path.join(API_PROTO_DIR, target);
      return fs.existsSync(own) ? own : path.join(PROTOBUFJS_ROOT, target);
    };
    loaded.loadSync(API_FILES, { keepCase: true, alternateCommentMode: true });
    loaded.resolveAll();
    root = loaded;
  }
  return root;
}

export function apiType(name: string): protobuf.Type {
  return apiRoot().lookupType(`sluice.v1.${name}`);
}
