import type { Json } from '../../src/translator/plugin';
import { envoyRouter, type EnvoyRequest } from './envoy-routes';

const URI_TEMPLATE_MATCH = {
  name: 'envoy.path.match.uri_template.uri_template_matcher',
  typedConfig: {
    '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig',
  },
};
const URI_TEMPLATE_REWRITE = {
  name: 'envoy.path.rewrite.uri_template.uri_template_rewriter',
  typedConfig: {
    '@type': 'type.googleapis.com/envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig',
  },
};

function templateMatch(pathTemplate: string): Json {
  return {
    pathMatchPolicy: {
      ...URI_TEMPLATE_MATCH,
      typedConfig: { ...URI_TEMPLATE_MATCH.typedConfig, pathTemplate },
    },
  };
}

function templateRewrite(pathTemplateRewrite: string): Json {
  return {
    pathRewritePolicy: {
      ...URI_TEMPLATE_REWRITE,
      typedConfig: { ...URI_TEMPLATE_REWRITE.typedConfig, pathTemplateRewrite },
    },
  };
}

/** One virtual host for every domain; each route named by its index unless it has a name. */
function config(routes: Json[], domains = ['*']): Json {
  return {
    name: 'test',
    virtualHosts: [
      { name: 'vh', domains, routes: routes.map((route, index) => ({ name: `r${index}`, ...route })) },
    ],
  };
}

/** The name of the route `request` takes and the path it forwards, or undefined when none matches. */
function decide(routes: Json[], request: Partial<EnvoyRequest> & { path: string }) {
  const decision = envoyRouter(config(routes))({ method: 'GET', ...request });
  return decision && { route: decision.route.name, forwardedPath: decision.forwardedPath };
}

/** Whether a route matching only with `match` takes a GET of `path`. */
function matches(match: Json, path: string, request: Partial<EnvoyRequest> = {}): boolean {
  return decide([{ match, route: { cluster: 'c' } }], { ...request, path }) !== undefined;
}

describe('envoyRouter: virtual hosts', () => {
  const router = envoyRouter({
    virtualHosts: [
      { name: 'any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'any' } }] },
      {
        name: 'suffix',
        domains: ['*.example.com'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 's' } }],
      },
      {
        name: 'longer-suffix',
        domains: ['*.api.example.com'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'l' } }],
      },
      { name: 'prefix', domains: ['api.*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'p' } }] },
      {
        name: 'exact',
        domains: ['www.example.com', 'Other.Example'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'e' } }],
      },
    ],
  });
  const hostFor = (authority: string) => router({ method: 'GET', path: '/', authority })?.virtualHost.name;

  it('takes an exact domain (any case) first, then the longest suffix wildcard, then a prefix one, then *', () => {
    expect(hostFor('www.example.com')).toBe('exact');
    expect(hostFor('other.example')).toBe('exact');
    expect(hostFor('v1.api.example.com')).toBe('longer-suffix');
    expect(hostFor('a.example.com')).toBe('suffix');
    expect(hostFor('api.internal')).toBe('prefix');
    expect(hostFor('elsewhere')).toBe('any');
  });

  it('never lets a wildcard stand for nothing', () => {
    expect(hostFor('.example.com')).toBe('any');
    expect(hostFor('api.')).toBe('any');
  });

  it('matches nothing when no domain fits', () => {
    const only = envoyRouter(config([{ match: { prefix: '/' }, route: { cluster: 'c' } }], ['a.example']));
    expect(only({ method: 'GET', path: '/', authority: 'b.example' })).toBeUndefined();
    expect(only({ method: 'GET', path: '/', authority: 'a.example' })?.route.name).toBe('r0');
  });
});

describe('envoyRouter: path matching', () => {
  it('takes the first route that matches, in order', () => {
    const routes = [
      { match: { path: '/a' }, route: { cluster: 'c' } },
      { match: { prefix: '/' }, route: { cluster: 'c' } },
      { match: { path: '/b' }, route: { cluster: 'c' } },
    ];
    expect(decide(routes, { path: '/a' })?.route).toBe('r0');
    expect(decide(routes, { path: '/b' })?.route).toBe('r1');
    expect(decide(routes.slice(0, 1), { path: '/b' })).toBeUndefined();
  });

  it('prefix: the start of the path, query included', () => {
    expect(matches({ prefix: '/api' }, '/api')).toBe(true);
    expect(matches({ prefix: '/api' }, '/apis/x')).toBe(true);
    expect(matches({ prefix: '/api' }, '/ap')).toBe(false);
    expect(matches({ prefix: '/a?x' }, '/a?x=1')).toBe(true);
  });

  it('path: the whole path, query and fragment aside', () => {
    expect(matches({ path: '/a/b' }, '/a/b')).toBe(true);
    expect(matches({ path: '/a/b' }, '/a/b?c=d')).toBe(true);
    expect(matches({ path: '/a/b' }, '/a/b#top')).toBe(true);
    expect(matches({ path: '/a/b' }, '/a/b/')).toBe(false);
    expect(matches({ path: '/a/b#top' }, '/a/b#top')).toBe(false);
  });

  it('prefix and path are case sensitive unless caseSensitive is false', () => {
    expect(matches({ path: '/A' }, '/a')).toBe(false);
    expect(matches({ path: '/A', caseSensitive: false }, '/a')).toBe(true);
    expect(matches({ prefix: '/A', caseSensitive: false }, '/a/b')).toBe(true);
  });

  it('safeRegex: a full match of the path without the query', () => {
    const match = { safeRegex: { regex: '/items/[0-9]+' } };
    expect(matches(match, '/items/42')).toBe(true);
    expect(matches(match, '/items/42?x=1')).toBe(true);
    expect(matches(match, '/items/42/more')).toBe(false);
    expect(matches(match, '/v1/items/42')).toBe(false);
    expect(matches({ safeRegex: { regex: '/(?P<id>[a-z]+)' } }, '/abc')).toBe(true);
  });

  it('rejects regexes RE2 refuses', () => {
    expect(() => matches({ safeRegex: { regex: '/(?=a)a' } }, '/a')).toThrow(/look-around/);
    expect(() => matches({ safeRegex: { regex: '/(a)\\1' } }, '/aa')).toThrow(/backreferences/);
    expect(() => matches({ safeRegex: { regex: '/(' } }, '/')).toThrow(/regex/);
    expect(() => matches({ safeRegex: { regex: '/[[:alpha:]]+' } }, '/a')).toThrow(/does not translate/);
  });

  it('rejects match fields it does not model instead of ignoring them', () => {
    expect(() => matches({ prefix: '/', grpc: {} }, '/')).toThrow(/grpc/);
    expect(() => matches({ prefix: '/', path: '/' }, '/')).toThrow(/exactly one path specifier/);
  });
});

describe('envoyRouter: uri_template matching', () => {
  const template = (pathTemplate: string, path: string) => matches(templateMatch(pathTemplate), path);

  it('* and {v}: exactly one non-empty segment of pchar', () => {
    for (const pattern of ['/pets/*', '/pets/{id}', '/pets/{id=*}']) {
      expect(template(pattern, '/pets/42')).toBe(true);
      expect(template(pattern, "/pets/a-b.c_d~e%20!$&'()+,;:@")).toBe(true);
      expect(template(pattern, '/pets/')).toBe(false);
      expect(template(pattern, '/pets/4/2')).toBe(false);
      expect(template(pattern, '/pets/a=b')).toBe(false);
      expect(template(pattern, '/pets/a*b')).toBe(false);
    }
  });

  it('** and {v=**}: the rest of the path, empty or with slashes', () => {
    for (const pattern of ['/files/**', '/files/{path=**}']) {
      expect(template(pattern, '/files/a/b/c.txt')).toBe(true);
      expect(template(pattern, '/files/')).toBe(true);
      expect(template(pattern, '/files')).toBe(false);
    }
    expect(template('/**.mpd', '/content/123/manifest.mpd')).toBe(true);
  });

  it('{v=literal/*}: a variable over several segments', () => {
    expect(template('/v/{name=videos/*}', '/v/videos/1')).toBe(true);
    expect(template('/v/{name=videos/*}', '/v/music/1')).toBe(false);
  });

  it('a literal suffix after the last variable, a trailing slash, the query aside', () => {
    expect(template('/files/{name}.json', '/files/a.json')).toBe(true);
    expect(template('/files/{name}.json', '/files/a.yaml')).toBe(false);
    expect(template('/pets/{id}/', '/pets/1/')).toBe(true);
    expect(template('/pets/{id}/', '/pets/1')).toBe(false);
    expect(template('/pets/{id}', '/pets/1?x=1')).toBe(true);
  });

  it('rejects templates Envoy rejects, for the reason Envoy gives', () => {
    const bad: Array<[string, RegExp]> = [
      ['/a//b', /invalid literal ""/],
      ['/a/{x}.json/b', /a suffix must end the template/],
      ['/{a}/{b}/{c}/{d}/{e}/{f}', /more than 5 variables/],
      ['/{abcdefghijklmnopq}', /longer than 16/],
      ['/{a}/{a}', /repeated variable name/],
      ['/**/*', /glob after "\*\*"/],
      ['/**/{a}', /glob after "\*\*"/],
      ['/{a=**}/{b=*}', /glob after "\*\*"/],
      ['/a=b', /invalid literal "a=b"/],
      ['/pre{a}', /invalid literal "pre\{a\}"/],
      ['/{1a}', /invalid variable name "1a"/],
      ['/{a=}', /empty variable match/],
      ['/{a=b/}', /invalid variable match "b\/"/],
      ['/{a=*b}', /invalid variable match "\*b"/],
      ['/{a', /unmatched variable bracket/],
      ['a', /invalid pattern "a"/],
      ['/a b', /invalid pattern "\/a b"/],
    ];
    for (const [pattern, reason] of bad) expect(() => template(pattern, '/')).toThrow(reason);
  });
});

describe('envoyRouter: headers and query parameters', () => {
  const post = { method: 'POST' };
  const header = (matcher: Json, request: Partial<EnvoyRequest>) =>
    matches({ prefix: '/', headers: [matcher] }, '/', request);

  it(':method exact and safeRegex', () => {
    expect(header({ name: ':method', stringMatch: { exact: 'POST' } }, post)).toBe(true);
    expect(header({ name: ':method', stringMatch: { exact: 'POST' } }, {})).toBe(false);
    expect(header({ name: ':method', stringMatch: { safeRegex: { regex: 'GET|POST' } } }, post)).toBe(true);
    expect(header({ name: ':method', stringMatch: { safeRegex: { regex: 'GET|POS' } } }, post)).toBe(false);
  });

  it('other headers: string matchers, ignoreCase, every value joined by commas', () => {
    const headers = { 'x-canary': 'Yes' };
    expect(header({ name: 'X-Canary', stringMatch: { exact: 'Yes' } }, { headers })).toBe(true);
    expect(header({ name: 'x-canary', stringMatch: { exact: 'yes' } }, { headers })).toBe(false);
    expect(header({ name: 'x-canary', stringMatch: { exact: 'yes', ignoreCase: true } }, { headers })).toBe(
      true,
    );
    expect(header({ name: 'x-canary', stringMatch: { prefix: 'Y' } }, { headers })).toBe(true);
    expect(header({ name: 'x-canary', stringMatch: { suffix: 'es' } }, { headers })).toBe(true);
    expect(header({ name: 'x-canary', stringMatch: { contains: 'e' } }, { headers })).toBe(true);
    const twice = envoyRouter(
      config([{ match: { prefix: '/', headers: [{ name: 'x-a', stringMatch: { exact: '1,2' } }] } }]),
    );
    expect(twice({ method: 'GET', path: '/', headers: { 'x-a': '1', 'X-A': '2' } })).toBeDefined();
  });

  it('presentMatch and invertMatch, the header there or not', () => {
    const headers = { 'x-a': '1' };
    expect(header({ name: 'x-a', presentMatch: true }, { headers })).toBe(true);
    expect(header({ name: 'x-a', presentMatch: true }, {})).toBe(false);
    expect(header({ name: 'x-a', presentMatch: true, invertMatch: true }, {})).toBe(true);
    expect(header({ name: 'x-a', presentMatch: true, invertMatch: true }, { headers })).toBe(false);
    expect(header({ name: 'x-a', presentMatch: false }, {})).toBe(true);
    expect(header({ name: 'x-a', stringMatch: { exact: '2' }, invertMatch: true }, { headers })).toBe(true);
    expect(header({ name: 'x-a', stringMatch: { exact: '1' }, invertMatch: true }, { headers })).toBe(false);
    // A missing header never satisfies an inverted value match.
    expect(header({ name: 'x-a', stringMatch: { exact: '2' }, invertMatch: true }, {})).toBe(false);
  });

  it('query parameters: the first value, decoded; present; missing never matches', () => {
    const query = (matcher: Json, path: string) => matches({ prefix: '/', queryParameters: [matcher] }, path);
    expect(query({ name: 'v', stringMatch: { exact: '1' } }, '/?v=1')).toBe(true);
    expect(query({ name: 'v', stringMatch: { exact: '1' } }, '/?v=2&v=1')).toBe(false);
    expect(query({ name: 'v', stringMatch: { exact: 'a b' } }, '/?x&v=a%20b')).toBe(true);
    expect(query({ name: 'v', stringMatch: { safeRegex: { regex: '[0-9]+' } } }, '/?v=12')).toBe(true);
    expect(query({ name: 'v', presentMatch: true }, '/?v')).toBe(true);
    expect(query({ name: 'v', presentMatch: true }, '/?w=1')).toBe(false);
    expect(query({ name: 'v', stringMatch: { exact: '' } }, '/')).toBe(false);
  });
});

describe('envoyRouter: the forwarded path', () => {
  const forwarded = (route: Json, path: string) => decide([route], { path })?.forwardedPath;

  it('is the request path when nothing rewrites it; undefined for redirects', () => {
    expect(forwarded({ match: { prefix: '/' }, route: { cluster: 'c' } }, '/a?b=c')).toBe('/a?b=c');
    expect(forwarded({ match: { prefix: '/' }, redirect: { pathRedirect: '/x' } }, '/a')).toBeUndefined();
  });

  it('prefixRewrite replaces the prefix matched, or the whole path of a path or regex match', () => {
    expect(forwarded({ match: { prefix: '/api' }, route: { prefixRewrite: '/v1' } }, '/api/x?y=1')).toBe(
      '/v1/x?y=1',
    );
    expect(forwarded({ match: { path: '/api/x' }, route: { prefixRewrite: '/v1/y' } }, '/api/x?y=1')).toBe(
      '/v1/y?y=1',
    );
    expect(
      forwarded({ match: { safeRegex: { regex: '/api/.*' } }, route: { prefixRewrite: '/v1' } }, '/api/x?q'),
    ).toBe('/v1?q');
  });

  it('regexRewrite: RE2 global replace with \\N on the path, the query kept', () => {
    const route = (regex: string, substitution: string) => ({
      match: { prefix: '/' },
      route: { regexRewrite: { pattern: { regex }, substitution } },
    });
    expect(forwarded(route('/api/([^/]+)/([^/]+)', '/v1/\\2/\\1'), '/api/a/b?c=/api/x/y')).toBe(
      '/v1/b/a?c=/api/x/y',
    );
    expect(forwarded(route('o', '0'), '/foo/boo')).toBe('/f00/b00');
    expect(forwarded(route('^.*$', '/all'), '/a/b?c')).toBe('/all?c');
    // RE2 skips the empty match where the previous one ended, where String.replace would not.
    expect(forwarded(route('.*', 'X'), '/abc')).toBe('X');
    expect(forwarded(route('x*', '-'), '/ab')).toBe('-/-a-b-');
    expect(forwarded(route('/(a)', '\\\\\\0\\1'), '/a')).toBe('\\/aa');
    expect(forwarded(route('z', 'y'), '/abc')).toBe('/abc');
    expect(() => forwarded(route('/(a)', '/\\2'), '/a')).toThrow(/invalid \\2/);
    expect(() => forwarded(route('/a', '/\\n'), '/a')).toThrow(/invalid \\n/);
  });

  it('pathRewritePolicy: the template variables matched fill pathTemplateRewrite, the query kept', () => {
    const route = (match: string, rewrite: string) => ({
      match: templateMatch(match),
      route: { cluster: 'c', ...templateRewrite(rewrite) },
    });
    expect(forwarded(route('/api/{a}/x/{b}', '/v1/{b}/{a}'), '/api/1/x/2?q=3')).toBe('/v1/2/1?q=3');
    expect(forwarded(route('/files/{path=**}', '/static/{path}'), '/files/a/b.txt')).toBe('/static/a/b.txt');
    expect(forwarded(route('/f/{name}.json', '/g/{name}.yaml'), '/f/x.json')).toBe('/g/x.yaml');
  });

  it('rejects the rewrites Envoy rejects', () => {
    const prefix = { prefix: '/' };
    const bad: Array<[Json, Json, RegExp]> = [
      [templateMatch('/{a}'), templateRewrite('/{b}'), /not a variable/],
      [templateMatch('/{a}'), templateRewrite('/x//{a}'), /invalid rewrite/],
      [templateMatch('/{a}'), templateRewrite('x/{a}'), /invalid rewrite/],
      [templateMatch('/{a}'), templateRewrite('/x=/{a}'), /invalid rewrite literal/],
      [templateMatch('/{a}'), templateRewrite('/{a'), /unmatched/],
      [prefix, templateRewrite('/x'), /needs a uri_template/],
      [templateMatch('/{a}'), { prefixRewrite: '/x' }, /prefix_rewrite with a path_match_policy/],
      [
        prefix,
        { prefixRewrite: '/x', regexRewrite: { pattern: { regex: 'a' }, substitution: 'b' } },
        /only one/,
      ],
    ];
    for (const [match, action, error] of bad) {
      expect(() => envoyRouter(config([{ match, route: { cluster: 'c', ...action } }]))).toThrow(error);
    }
  });
});
