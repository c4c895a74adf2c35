import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { KubeClient, loadKubeConfig } from '../store/kube/kube-client';
import { UserError } from './errors';

/** The flags every command that reads Kubernetes shares (`serve`, `check`, `get`). */
export interface KubeOptions {
  kube?: boolean;
  kubeconfig?: string;
  namespaces?: string;
}

export interface KubeConnection {
  config: KubeConfig;
  client: KubeClient;
  /** The namespaces to read; all when absent. */
  namespaces?: string[];
  /** What is read, for messages: `Kubernetes at URL (all namespaces)`. */
  source: string;
}

/** Adds `--kube` (described by `what`), `--kubeconfig` and `--namespaces`. */
export function addKubeOptions(command: Command, what: string): Command {
  return command
    .option('--kube', what)
    .option(
      '--kubeconfig <file>',
      'with --kube: the kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else the in-cluster service account)',
    )
    .option('--namespaces <a,b>', 'with --kube: the namespaces to read (default: all)');
}

/** Where `install/` puts Sluice: the namespace of its Deployment and of its discovered functions. */
const DEFAULT_SLUICE_NAMESPACE = 'sluice-system';

/** For commands that read what the control plane keeps (`check`, `get`): where Sluice runs. */
export function addSluiceNamespaceOption(command: Command): Command {
  return command.option(
    '--sluice-namespace <namespace>',
    'with --kube: where Sluice runs (its Deployment `sluice` and the functions it discovered)',
    DEFAULT_SLUICE_NAMESPACE,
  );
}

/** The kubeconfig and a client of its current context; a kubeconfig that does not load is the user's to fix. */
export async function connectKube(options: KubeOptions): Promise<KubeConnection> {
  const namespaces = options.namespaces?.split(',').map((namespace) => namespace.trim());
  if (namespaces?.some((namespace) => namespace === '')) {
    throw new UserError(`--namespaces ${options.namespaces}: give namespace names separated by commas`);
  }
  try {
    const config = await loadKubeConfig(options.kubeconfig);
    const client = new KubeClient(config);
    const scope = namespaces ? `namespaces ${namespaces.join(', ')}` : 'all namespaces';
    return { config, client, namespaces, source: `Kubernetes at ${client.serverUrl} (${scope})` };
  } catch (error) {
    throw new UserError(
      `--kube: cannot load the kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(error as Error).message}`,
    );
  }
}
