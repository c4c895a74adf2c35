import { keyString, type Kind, type Status } from '../api/resource';
import { isApiError, type KubeClient, type KubeObject } from '../store/kube/kube-client';
import { DEPLOYMENTS } from '../store/kube/resource-types';
import type { ClusterTranslation } from './cluster';
import type { ResourceReportRow } from './offline';

/** The control plane's Deployment, as install/sluice.yaml names it. */
export const SLUICE_DEPLOYMENT = 'sluice';

interface Deployment extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    readyReplicas?: number;
    conditions?: Array<{ type: string; status: string; message?: string }>;
  };
}

export interface DeploymentCheck {
  problem?: ResourceReportRow;
  /** Said on stderr when the Deployment cannot be read (the account may not): nothing is known of it. */
  note?: string;
}

/** Problems of the Sluice Deployment: missing, scaled to zero, no replica ready, or not Available. */
export async function checkSluiceDeployment(client: KubeClient, namespace: string): Promise<DeploymentCheck> {
  const row = (state: string, reason: string): DeploymentCheck => ({
    problem: { kind: 'Deployment', namespace, name: SLUICE_DEPLOYMENT, state, reasons: [reason] },
  });
  let deployment: Deployment | undefined;
  try {
    deployment = await client.find<Deployment>(DEPLOYMENTS, namespace, SLUICE_DEPLOYMENT);
  } catch (error) {
    if (!isApiError(error, 401) && !isApiError(error, 403)) throw error;
    return {
      note: `cannot read Deployment ${namespace}/${SLUICE_DEPLOYMENT}, so whether Sluice runs is not checked: ${(error as Error).message}`,
    };
  }
  if (!deployment) {
    return row(
      'Missing',
      `not found: is Sluice installed (kubectl apply -k install/)? --sluice-namespace says where it runs`,
    );
  }
  const wanted = deployment.spec?.replicas ?? 1;
  const ready = deployment.status?.readyReplicas ?? 0;
  const unavailable = deployment.status?.conditions?.find(
    (condition) => condition.type === 'Available' && condition.status === 'False',
  );
  if (wanted === 0) return row('NotReady', 'scaled to zero replicas: nothing serves xDS or writes statuses');
  if (ready === 0 || unavailable) {
    const why = unavailable?.message ? `: ${unavailable.message}` : '';
    return row(
      'NotReady',
      `${ready} of ${wanted} replicas ready${why} (kubectl -n ${namespace} describe deploy/${SLUICE_DEPLOYMENT})`,
    );
  }
  return {};
}

/**
 * Resources this translation accepts but whose stored status, written by the control plane, says
 * Rejected: the control plane sees something this check does not (other discovered functions, an
 * older version), or has not caught up with the latest edit.
 */
export function rejectedByControlPlane(cluster: ClusterTranslation): ResourceReportRow[] {
  return cluster.reports.flatMap((row) => {
    if (row.state !== 'Accepted') return [];
    const key = { kind: row.kind as Kind, namespace: row.namespace, name: row.name };
    const stored = cluster.storedStatuses.get(keyString(key));
    if (stored?.state !== 'Rejected') return [];
    const generation = cluster.loaded.documents.get(keyString(key))?.metadata.generation;
    const reasons = stored.reasons?.length ? stored.reasons : ['(no reason given)'];
    return [
      {
        ...row,
        state: 'Rejected',
        reasons: reasons.map((reason) => `${reportedBy(stored, generation)}: ${reason}`),
      },
    ];
  });
}

function reportedBy(status: Status, generation: number | undefined): string {
  const who = `reported by ${status.reportedBy ?? 'the control plane'}`;
  const observed = status.observedGeneration;
  return observed !== undefined && generation !== undefined && observed < generation
    ? `${who} for generation ${observed} (now ${generation})`
    : who;
}
