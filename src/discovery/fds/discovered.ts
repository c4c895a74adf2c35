/**
 * What function discovery found for one upstream. Kept apart from what users write (never merged into
 * the Upstream's spec), persisted by discovery alone, and merged with hand-written functions at
 * translation time, so discovery can never remove or overwrite a function a user wrote.
 */
export interface DiscoveredFunctions {
  /** The discoverer that owns this entry, e.g. `aws-lambda`. */
  discoverer: string;
  /** Functions in the discoverer's shape (for aws-lambda: LambdaFunctionSpec with a full ARN). */
  functions: Array<Record<string, unknown>>;
  /** Base64 FileDescriptorSet of the functions' protos (gRPC). */
  descriptorSet?: string;
  /** When the functions were last found (ISO 8601). */
  updatedAt: string;
  /** The last discovery failure; `functions` are then the last ones known. */
  error?: string;
}

/** Upstream `namespace/name` -> its discovered functions. */
export type DiscoveredMap = ReadonlyMap<string, DiscoveredFunctions>;
