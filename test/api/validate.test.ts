import { parse } from 'yaml';
import { parseResource, fieldPath } from '../../src/api/validate';

function errorsOf(yaml: string): string[] {
  return parseResource(parse(yaml)).errors;
}

describe('parseResource', () => {
  it('accepts the shapes of DESIGN.md and fills in the namespace', () => {
    const result = parseResource(
      parse(`
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, labels: {discovery.sluice.dev/function-discovery: enabled}}
spec: {static: {hosts: [{address: 10.0.0.12, port: 8080}]}}
`),
    );
    expect(result.errors).toEqual([]);
    expect(result.resource?.metadata.namespace).toBe('default');
  });

  it('names unknown fields with their path', () => {
    expect(
      errorsOf(`
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs}
spec: {virtualHost: {domains: ["*"], routes: [{matchers: [{prefx: /a}], directResponseAction: {status: 200}}]}}
`),
    ).toEqual(['spec.virtualHost.routes[0].matchers[0]: unknown field "prefx"']);
  });

  it('rejects ports out of range, naming the field', () => {
    expect(
      errorsOf(`
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: u}
spec: {static: {hosts: [{address: 10.0.0.1, port: 70000}]}}
`),
    ).toEqual(['spec.static.hosts[0].port: must be <= 65535']);
  });

  it('requires exactly one upstream type and one route action', () => {
    expect(
      errorsOf(`
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: u}
spec: {}
`),
    ).toEqual(['spec: set exactly one of static, kube, aws, gcp, azure']);
    expect(
      errorsOf(`
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs}
spec: {virtualHost: {routes: [{directResponseAction: {status: 200}, redirectAction: {hostRedirect: x}}]}}
`),
    ).toEqual([
      'spec.virtualHost.routes[0]: set only one of routeAction, redirectAction, directResponseAction, delegateAction (found redirectAction, directResponseAction)',
    ]);
  });

  it('rejects invalid and non-RE2 regexes', () => {
    const errors = errorsOf(`
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs}
spec:
  virtualHost:
    routes:
    - {matchers: [{regex: "/a(b"}], directResponseAction: {status: 200}}
    - {matchers: [{regex: "/(?=x)", headers: [{name: h, value: "(a)\\\\1", regex: true}]}], directResponseAction: {status: 200}}
`);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(
      /^spec\.virtualHost\.routes\[0\]\.matchers\[0\]\.regex: invalid regex "\/a\(b"/,
    );
    expect(errors[1]).toMatch(/routes\[1\]\.matchers\[0\]\.regex: .*lookaround/);
    expect(errors[2]).toMatch(/routes\[1\]\.matchers\[0\]\.headers\[0\]\.value: .*backreferences/);
  });

  it('checks durations, enums and required fields', () => {
    const errors = errorsOf(`
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs}
spec:
  virtualHost:
    routes:
    - matchers: [{prefix: /, methods: [GOT]}]
      routeAction: {single: {upstream: {name: u}}}
      options: {timeout: 3 seconds}
    - {redirectAction: {responseCode: 300}}
    - {directResponseAction: {status: 99}}
    - routeAction: {single: {upstream: {}}}
`);
    expect(errors).toEqual([
      'spec.virtualHost.routes[0].matchers[0].methods[0]: must be one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH',
      'spec.virtualHost.routes[0].options.timeout: invalid value (expected a duration such as 3s or 250ms)',
      'spec.virtualHost.routes[1].redirectAction.responseCode: must be one of 301, 302, 303, 307, 308',
      'spec.virtualHost.routes[2].directResponseAction.status: must be >= 200',
      'spec.virtualHost.routes[3].routeAction.single.upstream: missing required field "name"',
    ]);
  });

  it('rejects unknown kinds and wrong apiVersions, and keeps Secrets flat', () => {
    expect(
      parseResource({ apiVersion: 'sluice.dev/v1', kind: 'Upstreams', metadata: { name: 'x' } }).errors,
    ).toEqual([
      'kind: must be one of Upstream, VirtualService, RouteTable, Gateway, Secret, Settings (found "Upstreams")',
    ]);
    expect(
      errorsOf('{apiVersion: gloo.solo.io/v1, kind: Secret, metadata: {name: s}, type: tls, data: {a: b}}'),
    ).toEqual(['apiVersion: must be sluice.dev/v1 (found "gloo.solo.io/v1")']);
    expect(
      errorsOf('{apiVersion: sluice.dev/v1, kind: Secret, metadata: {name: s}, type: tls, data: {a: b}}'),
    ).toEqual([]);
    expect(errorsOf('{apiVersion: sluice.dev/v1, kind: Secret, metadata: {name: s}, type: magic}')).toEqual([
      'type: must be one of aws, azure, gcp, tls, generic',
    ]);
  });

  it('formats JSON pointers as field paths', () => {
    expect(fieldPath('/spec/virtualHost/routes/0/matchers/12/headers')).toBe(
      'spec.virtualHost.routes[0].matchers[12].headers',
    );
    expect(fieldPath('/metadata/labels/a~1b')).toBe('metadata.labels.a/b');
  });
});
