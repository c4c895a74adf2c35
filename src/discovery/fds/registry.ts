import { awsLambdaDiscoverer } from './aws-lambda';
import type { FunctionDiscoverer } from './discoverer';
import { grpcReflectionDiscoverer } from './grpc-reflection';
import { openApiDiscoverer } from './openapi';

/** Every function discoverer. A new one is one folder plus one line here. */
export const DISCOVERERS: readonly FunctionDiscoverer[] = [
  awsLambdaDiscoverer,
  openApiDiscoverer,
  grpcReflectionDiscoverer,
];
