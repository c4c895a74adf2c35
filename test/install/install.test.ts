import * as fs from 'fs';
import * as path from 'path';
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { Metrics } from '../../src/admin/metrics';
import { buildProgram } from '../../src/cli/main';
import { startSluice } from '../../src/control-plane/sluice-server';
import { PACKAGE_ROOT } from '../../src/package-root';
import { MemoryStore } from '../../src/store/memory-store';
import { DEFAULT_GATEWAY_PORT } from '../../src/translator/gateway/gateway-translator';
import { checkBootstrap } from '../helpers/envoy-bootstrap';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const INSTALL_DIR = path.join(PACKAGE_ROOT, 'install');
const CRD_DIR = path.join(PACKAGE_ROOT, 'crds');
const NAMESPACE = 'sluice-system';

/** The documents of a YAML file; a syntax error, a duplicate key or a YAML warning fails the test. */
function documentsOf(file: string): Json[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'), { uniqueKeys: true });
  const problems = docs.flatMap((doc) => [...doc.errors, ...doc.warnings].map((error) => error.message));
  expect({ file, problems }).toEqual({ file, problems: [] });
  return docs.filter((doc) => doc.contents !== null).map((doc) => doc.toJS() as Json);
}

const kustomization = documentsOf(path.join(INSTALL_DIR, 'kustomization.yaml'))[0];
const generatedFiles: string[] = (kustomization.configMapGenerator ?? []).flatMap((generator: Json) =>
  (generator.files as string[]).map((entry) => entry.slice(entry.indexOf('=') + 1)),
);
const manifestFiles = (kustomization.resources as string[]).filter((entry) => !entry.startsWith('../'));
const manifests = manifestFiles.flatMap((file) => documentsOf(path.join(INSTALL_DIR, file)));
const crdFiles = fs
  .readdirSync(CRD_DIR)
  .filter((file) => file !== 'kustomization.yaml' && file.endsWith('.yaml'));
const crds = crdFiles.flatMap((file) => documentsOf(path.join(CRD_DIR, file)));

function find(kind: string, name: string): Json {
  const found = manifests.filter((doc) => doc.kind === kind && doc.metadata.name === name);
  expect({ kind, name, count: found.length }).toEqual({ kind, name, count: 1 });
  return found[0];
}

/** The models of @kubernetes/client-node (generated from Kubernetes' OpenAPI) for each kind install/ uses. */
const KINDS: Record<string, { apiVersion: string; model: string }> = {
  Namespace: { apiVersion: 'v1', model: 'V1Namespace' },
  ServiceAccount: { apiVersion: 'v1', model: 'V1ServiceAccount' },
  Service: { apiVersion: 'v1', model: 'V1Service' },
  ConfigMap: { apiVersion: 'v1', model: 'V1ConfigMap' },
  Deployment: { apiVersion: 'apps/v1', model: 'V1Deployment' },
  PodDisruptionBudget: { apiVersion: 'policy/v1', model: 'V1PodDisruptionBudget' },
  ClusterRole: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1ClusterRole' },
  ClusterRoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1ClusterRoleBinding' },
  Role: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1Role' },
  RoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1RoleBinding' },
  CustomResourceDefinition: { apiVersion: 'apiextensions.k8s.io/v1', model: 'V1CustomResourceDefinition' },
};

type Attribute = { baseName: string; type: string };

function attributesOf(model: string): Attribute[] | undefined {
  const found = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] }>)[model];
  return found?.getAttributeTypeMap?.();
}

/** Fields the Kubernetes API does not know (a typo would be dropped or refused), and values of the wrong type. */
function schemaProblems(value: unknown, type: string, at: string): string[] {
  const list = /^Array<(.+)>$/.exec(type);
  if (list)
    return Array.isArray(value)
      ? value.flatMap((item, index) => schemaProblems(item, list[1], `${at}[${index}]`))
      : [`${at}: not a list`];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (map)
    return isObject
      ? Object.entries(value).flatMap(([key, item]) => schemaProblems(item, map[1], `${at}.${key}`))
      : [`${at}: not a map`];
  const scalar: Record<string, (v: unknown) => boolean> = {
    string: (v) => typeof v === 'string',
    number: (v) => typeof v === 'number',
    boolean: (v) => typeof v === 'boolean',
    IntOrString: (v) => typeof v === 'string' || Number.isInteger(v),
    any: () => true,
    object: () => true,
  };
  if (scalar[type]) return scalar[type](value) ? [] : [`${at}: not ${type}: ${JSON.stringify(value)}`];
  const attributes = attributesOf(type);
  if (!attributes) return [`${at}: no model ${type}`];
  if (!isObject) return [`${at}: not an object (${type})`];
  const types = new Map(attributes.map((attribute) => [attribute.baseName, attribute.type]));
  return Object.entries(value).flatMap(([key, item]) => {
    const itemType = types.get(key);
    return itemType
      ? schemaProblems(item, itemType, `${at}.${key}`)
      : [`${at}.${key}: unknown field of ${type}`];
  });
}

/** (apiGroup, resource, verb) triples a set of RBAC rules grants; wildcards and name/URL rules are refused. */
function grants(rules: Json[]): string[] {
  const out: string[] = [];
  for (const rule of rules) {
    expect(Object.keys(rule).sort()).toEqual(['apiGroups', 'resources', 'verbs']);
    for (const group of rule.apiGroups)
      for (const resource of rule.resources)
        for (const verb of rule.verbs) {
          expect([group, resource, verb]).not.toContain('*');
          out.push(`${group}/${resource}:${verb}`);
        }
  }
  return out.sort();
}

function triples(group: string, resources: string[], verbs: string[]): string[] {
  return resources.flatMap((resource) => verbs.map((verb) => `${group}/${resource}:${verb}`));
}

/** A container port by number or by name. */
function containerPort(container: Json, port: number | string): number {
  const found = (container.ports as Json[]).find((p) => p.containerPort === port || p.name === port);
  expect({ port, found: Boolean(found) }).toEqual({ port, found: true });
  return found?.containerPort;
}

/** The value of `--flag VALUE` in a container's args. */
function flag(args: string[], name: string): string {
  const index = args.indexOf(name);
  expect({ name, present: index >= 0 }).toEqual({ name, present: true });
  return args[index + 1];
}

function onlyContainer(deployment: Json): Json {
  expect(deployment.spec.template.spec.containers).toHaveLength(1);
  return deployment.spec.template.spec.containers[0];
}

function selects(service: Json, deployment: Json): void {
  expect(deployment.metadata.namespace).toBe(service.metadata.namespace);
  expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
  expect(deployment.spec.selector.matchLabels).toEqual(service.spec.selector);
}

describe('install/', () => {
  it('kustomization.yaml lists every file of install/, and the CRDs through crds/kustomization.yaml', () => {
    const listed = [...manifestFiles, ...generatedFiles, 'kustomization.yaml'].sort();
    expect(listed).toEqual(fs.readdirSync(INSTALL_DIR).sort());
    expect(kustomization.resources).toContain('../crds');
    const crdKustomization = documentsOf(path.join(CRD_DIR, 'kustomization.yaml'))[0];
    expect([...crdKustomization.resources].sort()).toEqual([...crdFiles].sort());
    expect(crds.map((crd) => crd.kind)).toEqual(crdFiles.map(() => 'CustomResourceDefinition'));
  });

  it('holds only objects the Kubernetes API knows, every field known and of the right type', () => {
    for (const doc of [...manifests, ...crds]) {
      const where = `${doc.kind}/${doc.metadata?.name}`;
      expect({ where, known: doc.kind in KINDS }).toEqual({ where, known: true });
      const { apiVersion, model } = KINDS[doc.kind];
      expect({ where, apiVersion: doc.apiVersion }).toEqual({ where, apiVersion });
      expect({ where, problems: schemaProblems(doc, model, where) }).toEqual({ where, problems: [] });
    }
    const namespaced = manifests.filter(
      (doc) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(doc.kind),
    );
    expect(namespaced.filter((doc) => doc.metadata.namespace !== NAMESPACE)).toEqual([]);
  });

  it('grants Sluice exactly what it needs: the Sluice resources, statuses, discovered upstreams, its Lease and Secret', () => {
    const plurals: string[] = crds.map((crd) => crd.spec.names.plural);
    expect(grants(find('ClusterRole', 'sluice').rules)).toEqual(
      [
        ...triples('sluice.dev', plurals, ['get', 'list', 'watch']),
        ...triples(
          'sluice.dev',
          plurals.map((plural) => `${plural}/status`),
          ['update'],
        ),
        ...triples('sluice.dev', ['upstreams'], ['create', 'update', 'delete']),
        ...triples('', ['services', 'secrets', 'namespaces', 'pods'], ['get', 'list', 'watch']),
        ...triples('discovery.k8s.io', ['endpointslices'], ['get', 'list', 'watch']),
      ].sort(),
    );
    const lease = find('Role', 'sluice-leader-election');
    expect(grants(lease.rules)).toEqual(
      [
        ...triples('coordination.k8s.io', ['leases'], ['create', 'get', 'update']),
        ...triples('', ['secrets'], ['create', 'update']),
      ].sort(),
    );
    expect(manifests.filter((doc) => ['ClusterRole', 'Role'].includes(doc.kind))).toHaveLength(2);

    const subject = [{ kind: 'ServiceAccount', name: 'sluice', namespace: NAMESPACE }];
    for (const [kind, name, roleKind] of [
      ['ClusterRoleBinding', 'sluice', 'ClusterRole'],
      ['RoleBinding', 'sluice-leader-election', 'Role'],
    ]) {
      const binding = find(kind, name);
      expect(binding.subjects).toEqual(subject);
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name });
    }
    expect(manifests.filter((doc) => doc.kind.endsWith('Binding'))).toHaveLength(2);
    expect(find('ServiceAccount', 'sluice').metadata.namespace).toBe(NAMESPACE);
    expect(find('Deployment', 'sluice').spec.template.spec.serviceAccountName).toBe('sluice');
  });

  it('runs two replicas of `sluice serve --kube` with flags serve has, xDS and admin on every interface', () => {
    const deployment = find('Deployment', 'sluice');
    expect(deployment.spec.replicas).toBe(2);
    const container = onlyContainer(deployment);
    const serve = buildProgram().commands.find((command) => command.name() === 'serve');
    const known = serve?.options.map((option) => option.long) ?? [];
    const args: string[] = container.args;
    expect(args[0]).toBe('serve');
    expect(args.filter((arg) => arg.startsWith('-')).filter((arg) => !known.includes(arg))).toEqual([]);
    expect(args).toContain('--kube');
    const [xdsHost, xdsPort] = flag(args, '--xds-address').split(':');
    const [adminHost, adminPort] = flag(args, '--admin-address').split(':');
    expect([xdsHost, adminHost]).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(containerPort(container, 'xds')).toBe(Number(xdsPort));
    expect(containerPort(container, 'admin')).toBe(Number(adminPort));

    // Leader election: the pod is the Lease's holder, its namespace the Lease's (serve's defaults).
    expect(container.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ]);
    expect(args).not.toContain('--no-leader-election');

    const service = find('Service', 'sluice');
    selects(service, deployment);
    expect(service.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(service.spec.ports).toHaveLength(1);
    expect(containerPort(container, service.spec.ports[0].targetPort)).toBe(Number(xdsPort));
  });

  it('probes paths the admin server serves, on the port it listens on', async () => {
    const container = onlyContainer(find('Deployment', 'sluice'));
    const adminPort = Number(flag(container.args, '--admin-address').split(':')[1]);
    const probes = [container.livenessProbe, container.readinessProbe];
    for (const probe of probes) expect(containerPort(container, probe.httpGet.port)).toBe(adminPort);
    expect(probes.map((probe) => probe.httpGet.path)).toEqual(['/healthz', '/readyz']);

    const sluice = await startSluice({
      store: new MemoryStore(),
      logger: pino({ level: 'silent' }),
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      metrics: new Metrics(),
    });
    try {
      for (const probe of probes) {
        const response = await fetch(`http://127.0.0.1:${sluice.adminPort}${probe.httpGet.path}`);
        expect({ path: probe.httpGet.path, status: response.status }).toEqual({
          path: probe.httpGet.path,
          status: 200,
        });
      }
    } finally {
      await sluice.stop();
    }
  });

  it('runs every container as non-root on a read-only root file system, with requests and limits', () => {
    // What the namespace's Pod Security Standard demands, and then some.
    expect(find('Namespace', NAMESPACE).metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    const deployments = manifests.filter((doc) => doc.kind === 'Deployment');
    expect(deployments.map((deployment) => deployment.metadata.name).sort()).toEqual([
      'gateway-proxy',
      'sluice',
    ]);
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const container of pod.containers) {
        expect(container.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory']);
        expect(Object.keys(container.resources.limits).sort()).toEqual(['cpu', 'memory']);
      }
    }
  });

  it('gives gateway-proxy a valid Envoy bootstrap that streams ADS from the sluice Service', () => {
    const [generator] = kustomization.configMapGenerator;
    expect(generator).toMatchObject({ name: 'gateway-proxy-bootstrap', namespace: NAMESPACE });
    const [key, file] = generator.files[0].split('=');
    const { decoded, violations, adsTargets } = checkBootstrap(documentsOf(path.join(INSTALL_DIR, file))[0]);
    expect(violations).toEqual([]);
    const service = find('Service', 'sluice');
    expect(adsTargets).toEqual([
      `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`,
    ]);
    expect(decoded).toMatchObject({
      node: { metadata: { role: 'default~gateway-proxy' } },
      dynamicResources: { adsConfig: { apiType: 'GRPC', transportApiVersion: 'V3' } },
      admin: { address: { socketAddress: { address: '127.0.0.1' } } },
      layeredRuntime: { layers: [{ staticLayer: { 're2.max_program_size.error_level': 1000 } }] },
    });

    const deployment = find('Deployment', 'gateway-proxy');
    const pod = deployment.spec.template.spec;
    const envoy = onlyContainer(deployment);
    const volume = (pod.volumes as Json[]).find((v) => v.configMap?.name === generator.name);
    const mount = (envoy.volumeMounts as Json[]).find((m) => m.name === volume?.name);
    expect(volume?.configMap.items).toEqual([{ key, path: key }]);
    expect(flag(envoy.args, '-c')).toBe(`${mount?.mountPath}/${key}`);
    // Each Envoy is its own node (its pod's name); all of them are the proxy default~gateway-proxy.
    expect(flag(envoy.args, '--service-node')).toBe('$(POD_NAME)');
    expect(envoy.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]);
  });

  it('publishes the gateway (default Gateway port) on port 80 of a LoadBalancer', () => {
    const deployment = find('Deployment', 'gateway-proxy');
    const service = find('Service', 'gateway-proxy');
    selects(service, deployment);
    expect(service.spec.type).toBe('LoadBalancer');
    expect(service.spec.ports).toHaveLength(1);
    expect(service.spec.ports[0].port).toBe(80);
    expect(containerPort(onlyContainer(deployment), service.spec.ports[0].targetPort)).toBe(
      DEFAULT_GATEWAY_PORT,
    );
  });
});
