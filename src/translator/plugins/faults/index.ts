import { toProtoDuration } from '../../envoy/durations';
import type { Json, RouteContext, TranslatorPlugin } from '../../plugin';

const FILTER_NAME = 'envoy.filters.http.fault';
const HTTP_FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

/** 12.5 (%) -> 125000 per million, so fractions of a percent survive. */
function fraction(percentage: number | undefined): Json {
  return { numerator: Math.round((percentage ?? 100) * 10_000), denominator: 'MILLION' };
}

function faultConfig(ctx: RouteContext): ReturnType<NonNullable<TranslatorPlugin['routeOptions']>> {
  const faults = ctx.options.faults;
  if (!faults) return undefined;
  if (!faults.abort && !faults.delay) return { error: 'options.faults: set abort or delay' };
  const config: Json = { '@type': HTTP_FAULT };
  if (faults.abort)
    config.abort = { httpStatus: faults.abort.httpStatus, percentage: fraction(faults.abort.percentage) };
  if (faults.delay) {
    config.delay = {
      fixedDelay: toProtoDuration(faults.delay.fixedDelay),
      percentage: fraction(faults.delay.percentage),
    };
  }
  return { typedPerFilterConfig: { [FILTER_NAME]: config } };
}

/** `options.faults`: Envoy's fault filter, configured per route (gRPC clients support it too). */
export const faultsPlugin: TranslatorPlugin = {
  name: 'faults',
  protoFiles: ['envoy/extensions/filters/http/fault/v3/fault.proto'],
  routeOptions: faultConfig,
  httpFilter: { filterName: FILTER_NAME, typedConfig: { '@type': HTTP_FAULT }, proxylessSupported: true },
};
