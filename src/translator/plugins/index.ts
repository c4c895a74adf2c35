import { registerEnvoyProtoFiles } from '../../xds/envoy-protos';
import type { TranslatorPlugin } from '../plugin';
import { awsLambdaPlugin } from './aws-lambda';
import { azurePlugin } from './azure';
import { corsPlugin } from './cors';
import { faultsPlugin } from './faults';
import { gcpPlugin } from './gcp';
import { grpcPlugin } from './grpc';
import { kubePlugin } from './kube';
import { restPlugin } from './rest';
import { staticPlugin } from './static';

/** Every plugin, in HTTP filter order (faults and CORS act before a function is invoked). One line each. */
export const PLUGINS: readonly TranslatorPlugin[] = [
  staticPlugin,
  kubePlugin,
  faultsPlugin,
  corsPlugin,
  awsLambdaPlugin,
  gcpPlugin,
  restPlugin,
  grpcPlugin,
  azurePlugin,
];

registerEnvoyProtoFiles(PLUGINS.flatMap((plugin) => plugin.protoFiles ?? []));
