import type { DestinationTarget, Json } from '../../plugin';
import type { KnownRestFunction } from './functions';

export const LUA_FILTER = 'envoy.filters.http.lua';
export const LUA_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua';
const LUA_PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute';
/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Header values are Envoy format strings: a literal % is written %%. */
function headerIfAbsent(key: string, value: string): Json {
  return { header: { key, value: value.replace(/%/g, '%%') }, appendAction: 'ADD_IF_ABSENT' };
}

/**
 * Adds `name=value` to the query string unless the request has the parameter. Envoy has no route option
 * that adds query parameters, so this is the one job given to Lua; names and values are percent-encoded,
 * so they need no escaping inside the Lua strings.
 */
function fixedQueryScript(parameters: ReadonlyArray<{ name: string; value: string }>): string {
  const additions = parameters
    .map(({ name, value }) => {
      const key = encodeURIComponent(name);
      return `  if not has(query, "${key}") then additions[#additions + 1] = "${key}=${encodeURIComponent(value)}" end`;
    })
    .join('\n');
  return [
    'local function has(query, key)',
    '  local padded = "&" .. query .. "&"',
    '  return padded:find("&" .. key .. "=", 1, true) ~= nil or padded:find("&" .. key .. "&", 1, true) ~= nil',
    'end',
    'function envoy_on_request(handle)',
    '  local headers = handle:headers()',
    '  local path = headers:get(":path")',
    '  local query = path:match("%?(.*)$") or ""',
    '  local additions = {}',
    additions,
    '  if #additions == 0 then return end',
    '  local separator = path:find("?", 1, true) and "&" or "?"',
    '  headers:replace(":path", path .. separator .. table.concat(additions, "&"))',
    'end',
  ].join('\n');
}

/**
 * What the operation declares about its request, applied with stock Envoy: its content type and fixed
 * header values are added when the request lacks them (request_headers_to_add, ADD_IF_ABSENT), fixed query
 * parameters by a per-route Lua script. Optional parameters and values the client must choose are left to
 * the client.
 */
export function requestTransformation(
  fn: KnownRestFunction,
): Pick<DestinationTarget, 'requestHeadersToAdd' | 'typedPerFilterConfig'> {
  const headers: Json[] = [];
  if (fn.requestContentType) headers.push(headerIfAbsent('content-type', fn.requestContentType));
  const fixed = (fn.parameters ?? []).filter((parameter) => parameter.fixedValue !== undefined);
  for (const parameter of fixed) {
    if (parameter.in === 'header' && HEADER_NAME.test(parameter.name))
      headers.push(headerIfAbsent(parameter.name.toLowerCase(), parameter.fixedValue as string));
  }
  const query = fixed
    .filter((parameter) => parameter.in === 'query')
    .map((parameter) => ({ name: parameter.name, value: parameter.fixedValue as string }));
  return {
    ...(headers.length ? { requestHeadersToAdd: headers } : {}),
    ...(query.length
      ? {
          typedPerFilterConfig: {
            [LUA_FILTER]: {
              '@type': LUA_PER_ROUTE_TYPE,
              sourceCode: { inlineString: fixedQueryScript(query) },
            },
          },
        }
      : {}),
  };
}
