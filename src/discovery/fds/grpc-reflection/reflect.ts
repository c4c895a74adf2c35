import * as grpc from '@grpc/grpc-js';
import type { GrpcServiceSpec } from '../../../api/types';
import {
  decodeFile,
  dependencyOrder,
  descriptorSetBytes,
  withMissingImports,
  type DescriptorFile,
} from '../../../api/grpc-descriptors';
import { describeServices } from './descriptors';
import {
  ReflectionErrorResponse,
  ReflectionSession,
  type ReflectionLimits,
  type ReflectionVersion,
} from './reflection-client';

/** Services every reflection-enabled server has, which are not the application's functions. */
const INFRASTRUCTURE_SERVICES = /^grpc\.(reflection\.|health\.v1\.Health$)/;

export interface ReflectionTarget {
  address: string;
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Default DEFAULT_REFLECTION_LIMITS. */
  limits?: ReflectionLimits;
}

export interface ReflectedServices {
  services: GrpcServiceSpec[];
  /** Serialized FileDescriptorSet of the services' files and all their imports, imports first. */
  descriptorSet: Buffer;
}

async function collectFiles(
  session: ReflectionSession,
  services: readonly string[],
): Promise<Map<string, DescriptorFile>> {
  const files = new Map<string, DescriptorFile>();
  const add = (raws: Buffer[]) => {
    for (const raw of raws) {
      const file = decodeFile(raw);
      if (!files.has(file.decoded.name)) files.set(file.decoded.name, file);
    }
  };
  for (const service of services) add(await session.fileContainingSymbol(service));
  // Servers may send only the file that holds a symbol: fetch each missing import by name, once. One the
  // server does not have, or sends under another name, is left for dependencyOrder to report.
  const asked = new Set<string>();
  for (;;) {
    const missing = new Set(
      [...files.values()]
        .flatMap((file) => file.decoded.dependency ?? [])
        .filter((name) => !files.has(name) && !asked.has(name)),
    );
    if (missing.size === 0) return files;
    for (const name of missing) {
      asked.add(name);
      add(await fileIfFound(session, name));
    }
  }
}

async function fileIfFound(session: ReflectionSession, name: string): Promise<Buffer[]> {
  try {
    return await session.fileByFilename(name);
  } catch (error) {
    if (error instanceof ReflectionErrorResponse && error.code === grpc.status.NOT_FOUND) return [];
    throw error;
  }
}

/** Imports first, the imports a server left out added; a set that cannot be ordered is a broken descriptor. */
function orderFiles(files: Map<string, DescriptorFile>): DescriptorFile[] {
  try {
    return dependencyOrder(withMissingImports(files), 'the server');
  } catch (error) {
    throw new Error(`broken descriptor: ${(error as Error).message}`);
  }
}

async function reflectWith(version: ReflectionVersion, target: ReflectionTarget): Promise<ReflectedServices> {
  // An abort before the session exists would never reach it, leaving it to run to the deadline.
  target.signal?.throwIfAborted();
  const session = new ReflectionSession(version, target.address, target.credentials, {
    deadline: new Date(Date.now() + target.timeoutMs),
    channelOptions: target.channelOptions,
    limits: target.limits,
  });
  const cancel = () => session.close();
  target.signal?.addEventListener('abort', cancel, { once: true });
  try {
    const names = (await session.listServices()).filter((name) => !INFRASTRUCTURE_SERVICES.test(name)).sort();
    const files = orderFiles(await collectFiles(session, names));
    return { services: describeServices(files, names), descriptorSet: descriptorSetBytes(files) };
  } finally {
    target.signal?.removeEventListener('abort', cancel);
    session.close();
  }
}

/**
 * The services a server describes through gRPC server reflection (grpc.reflection.v1, or v1alpha when
 * the server has only that), with the descriptors of every file they need.
 */
export async function reflectServices(target: ReflectionTarget): Promise<ReflectedServices> {
  try {
    return await reflectWith('v1', target);
  } catch (error) {
    if ((error as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED) throw error;
    return reflectWith('v1alpha', target);
  }
}
