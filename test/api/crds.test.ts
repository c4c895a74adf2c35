import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { CRD_KUSTOMIZATION, renderCrds } from '../../src/api/crds';
import { PACKAGE_ROOT } from '../../src/package-root';

const CRD_DIR = path.join(PACKAGE_ROOT, 'crds');

type Schema = Record<string, unknown>;

/** Kubernetes' structural schema rules that apply to what the generator can produce. */
function structuralProblems(schema: Schema, at: string, inValueValidation = false): string[] {
  const problems: string[] = [];
  const hasType = typeof schema.type === 'string';
  if (!inValueValidation && !hasType && !schema['x-kubernetes-preserve-unknown-fields'])
    problems.push(`${at}: no type`);
  if (schema.properties && schema.additionalProperties !== undefined)
    problems.push(`${at}: properties with additionalProperties`);
  if (schema.additionalProperties === false) problems.push(`${at}: additionalProperties: false`);
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    problems.push(...structuralProblems(child, `${at}.${name}`));
  }
  if (schema.items) problems.push(...structuralProblems(schema.items as Schema, `${at}[]`));
  if (typeof schema.additionalProperties === 'object')
    problems.push(...structuralProblems(schema.additionalProperties as Schema, `${at}{}`));
  for (const keyword of ['oneOf', 'anyOf', 'allOf']) {
    for (const branch of (schema[keyword] ?? []) as Schema[]) {
      if (branch.type || branch.properties || branch.items)
        problems.push(`${at}.${keyword}: value validations may not declare types or properties`);
      problems.push(...structuralProblems(branch, `${at}.${keyword}`, true));
    }
  }
  if (schema.not) problems.push(...structuralProblems(schema.not as Schema, `${at}.not`, true));
  return problems;
}

describe('CRDs generated from protos/', () => {
  const rendered = renderCrds();

  it('are committed and up to date (run `npm run gen:crds` after changing protos/)', () => {
    const committed = fs
      .readdirSync(CRD_DIR)
      .filter((file) => file.endsWith('.yaml'))
      .sort();
    expect(committed).toEqual([...rendered.keys()].sort());
    for (const [file, text] of rendered) {
      expect(fs.readFileSync(path.join(CRD_DIR, file), 'utf8')).toBe(text);
    }
  });

  it('have structural schemas with a status subresource', () => {
    for (const [file, text] of rendered) {
      if (file === CRD_KUSTOMIZATION) continue;
      const crd = parse(text);
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      const [version] = crd.spec.versions;
      expect(version.subresources).toEqual({ status: {} });
      expect({
        file,
        problems: structuralProblems(version.schema.openAPIV3Schema, 'openAPIV3Schema'),
      }).toEqual({ file, problems: [] });
    }
  });

  it('describe the fields of the protos, with their constraints', () => {
    const upstream = parse(rendered.get('upstreams.sluice.dev.yaml') as string);
    const spec = upstream.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    expect(spec.oneOf).toEqual(
      ['static', 'kube', 'aws', 'gcp', 'azure'].map((type) => ({ required: [type] })),
    );
    const port = spec.properties.static.properties.hosts.items.properties.port;
    expect(port).toMatchObject({ type: 'integer', minimum: 1, maximum: 65535 });
    const vs = parse(rendered.get('virtualservices.sluice.dev.yaml') as string);
    const route =
      vs.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.virtualHost.properties.routes
        .items;
    expect(Object.keys(route.properties)).toEqual(
      expect.arrayContaining([
        'matchers',
        'routeAction',
        'redirectAction',
        'directResponseAction',
        'delegateAction',
        'options',
      ]),
    );
  });
});
