import { loadSnapshot, type AcceptedResource } from '../../src/api/load';
import { keyString } from '../../src/api/resource';
import { contentsOf, UPSTREAMS } from '../helpers/translate-yaml';

const BAD_PETSTORE = `
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.12, port: 99999}]}}
`;

describe('loadSnapshot', () => {
  it('keeps valid resources and rejects invalid ones with the field and file:line', () => {
    const loaded = loadSnapshot(contentsOf(`${BAD_PETSTORE}---${UPSTREAMS.split('---')[1]}`));
    expect([...loaded.snapshot.upstreams.keys()]).toEqual(['default/canary']);
    expect(loaded.reports.get({ kind: 'Upstream', namespace: 'default', name: 'petstore' })?.errors).toEqual([
      'spec.static.hosts[0].port: must be <= 65535 (test.yaml:1)',
    ]);
  });

  it('rejects a resource defined twice, naming both places', () => {
    const loaded = loadSnapshot(contentsOf(`${UPSTREAMS}---${UPSTREAMS.split('---')[0]}`));
    expect(loaded.snapshot.upstreams.has('default/petstore')).toBe(false);
    expect(loaded.reports.get({ kind: 'Upstream', namespace: 'default', name: 'petstore' })?.errors).toEqual([
      'defined twice: test.yaml:1 and test.yaml:3; keep one',
    ]);
  });

  it('serves the last accepted version when an edit makes a resource invalid', () => {
    const good = loadSnapshot(contentsOf(UPSTREAMS));
    const lastGood = new Map<string, AcceptedResource>(
      [...good.valid].map(([id, resource]) => [id, { resource, location: good.locations.get(id) ?? {} }]),
    );
    const loaded = loadSnapshot(contentsOf(`${BAD_PETSTORE}---${UPSTREAMS.split('---')[1]}`), lastGood);
    const petstore = loaded.snapshot.upstreams.get('default/petstore');
    expect(petstore?.spec?.static?.hosts[0].port).toBe(8080);
    const key = { kind: 'Upstream' as const, namespace: 'default', name: 'petstore' };
    expect(loaded.reports.get(key)?.errors).toEqual([
      'spec.static.hosts[0].port: must be <= 65535 (test.yaml:1); still serving the last accepted version',
    ]);
    expect(loaded.reports.hasErrors(key)).toBe(false);
  });

  it('keeps serving the resources of a file whose YAML no longer parses', () => {
    const good = loadSnapshot({
      resources: contentsOf(UPSTREAMS).resources.map((r) => ({
        ...r,
        location: { file: 'a.yaml', line: 1 },
      })),
      errors: [],
    });
    const lastGood = new Map<string, AcceptedResource>(
      [...good.valid].map(([id, resource]) => [id, { resource, location: { file: 'a.yaml' } }]),
    );
    const loaded = loadSnapshot(
      {
        resources: [],
        errors: [{ location: { file: 'a.yaml', line: 7 }, message: 'YAML syntax error: bad indentation' }],
      },
      lastGood,
    );
    expect([...loaded.snapshot.upstreams.keys()].sort()).toEqual(['default/canary', 'default/petstore']);
    expect(loaded.fileProblems).toEqual([
      { file: 'a.yaml:7', message: 'YAML syntax error: bad indentation' },
    ]);
    expect(loaded.reports.get({ kind: 'Upstream', namespace: 'default', name: 'canary' })?.errors).toEqual([
      'YAML syntax error: bad indentation (a.yaml:7); still serving the last accepted version',
    ]);
    expect(keyString({ kind: 'Upstream', namespace: 'default', name: 'canary' })).toBe(
      'Upstream/default/canary',
    );
  });
});
