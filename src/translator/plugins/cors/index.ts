import { durationMs } from '../../envoy/durations';
import type { Json, RouteContext, TranslatorPlugin } from '../../plugin';

const FILTER_NAME = 'envoy.filters.http.cors';

function corsConfig(ctx: RouteContext): ReturnType<NonNullable<TranslatorPlugin['routeOptions']>> {
  const cors = ctx.options.cors;
  if (!cors) return undefined;
  const origins = [
    ...(cors.allowOrigin ?? []).map((origin) => ({ exact: origin })),
    ...(cors.allowOriginRegex ?? []).map((regex) => ({ safeRegex: { regex } })),
  ];
  if (origins.length === 0) return { error: 'options.cors: set allowOrigin or allowOriginRegex' };
  const policy: Json = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    allowOriginStringMatch: origins,
  };
  if (cors.allowMethods?.length) policy.allowMethods = cors.allowMethods.join(',');
  if (cors.allowHeaders?.length) policy.allowHeaders = cors.allowHeaders.join(',');
  if (cors.exposeHeaders?.length) policy.exposeHeaders = cors.exposeHeaders.join(',');
  if (cors.maxAge) policy.maxAge = String(Math.floor(durationMs(cors.maxAge) / 1000));
  if (cors.allowCredentials !== undefined) policy.allowCredentials = cors.allowCredentials;
  return { typedPerFilterConfig: { [FILTER_NAME]: policy } };
}

/** `options.cors`: Envoy's CORS filter with a per-route (or per-virtual-host) CorsPolicy. */
export const corsPlugin: TranslatorPlugin = {
  name: 'cors',
  protoFiles: ['envoy/extensions/filters/http/cors/v3/cors.proto'],
  routeOptions: corsConfig,
  httpFilter: {
    filterName: FILTER_NAME,
    typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' },
    proxylessSupported: false,
  },
};
