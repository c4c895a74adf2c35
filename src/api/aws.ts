import { resolveRef, type ResourceRef } from './resource';
import { lookup, type ApiSnapshot } from './snapshot';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Keys of a Secret of type aws, as `sluice create secret aws` writes them. */
export const AWS_SECRET_KEYS = {
  accessKeyId: 'accessKeyId',
  secretAccessKey: 'secretAccessKey',
  sessionToken: 'sessionToken',
};

/** The credentials in an aws Secret, or what is wrong with it (naming the secret and the key). */
export function awsCredentialsFromSecret(
  snapshot: ApiSnapshot,
  ref: ResourceRef,
  fromNamespace: string,
): { credentials: AwsCredentials } | { error: string } {
  const { namespace, name } = resolveRef(ref, fromNamespace);
  const secret = lookup(snapshot.secrets, { namespace, name });
  if (!secret) return { error: `spec.aws.secretRef: Secret ${namespace}/${name} not found` };
  if (secret.type !== 'aws')
    return { error: `spec.aws.secretRef: Secret ${namespace}/${name} has type ${secret.type}, not aws` };
  const data = secret.data ?? {};
  for (const key of [AWS_SECRET_KEYS.accessKeyId, AWS_SECRET_KEYS.secretAccessKey]) {
    if (!data[key]) return { error: `spec.aws.secretRef: Secret ${namespace}/${name} has no ${key} in data` };
  }
  return {
    credentials: {
      accessKeyId: data.accessKeyId,
      secretAccessKey: data.secretAccessKey,
      ...(data.sessionToken ? { sessionToken: data.sessionToken } : {}),
    },
  };
}

/** `aws`, `aws-cn` or `aws-us-gov`, from the region. */
export function awsPartition(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

const LAMBDA_ARN =
  /^arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9$_-]+))?$/;

export interface LambdaArn {
  partition: string;
  region: string;
  accountId: string;
  name: string;
  qualifier?: string;
}

export function parseLambdaArn(arn: string): LambdaArn | undefined {
  const match = LAMBDA_ARN.exec(arn);
  if (!match) return undefined;
  const [, partition, region, accountId, name, qualifier] = match;
  return { partition, region, accountId, name, ...(qualifier ? { qualifier } : {}) };
}

export function formatLambdaArn(arn: LambdaArn): string {
  const base = `arn:${arn.partition}:lambda:${arn.region}:${arn.accountId}:function:${arn.name}`;
  return arn.qualifier && arn.qualifier !== '$LATEST' ? `${base}:${arn.qualifier}` : base;
}
