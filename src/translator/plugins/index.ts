import type { TranslatorPlugin } from '../plugin';
import { corsPlugin } from './cors';
import { faultsPlugin } from './faults';
import { kubePlugin } from './kube';
import { staticPlugin } from './static';

/** Every plugin, in HTTP filter order. A new plugin is one folder plus one line here. */
export const PLUGINS: readonly TranslatorPlugin[] = [staticPlugin, kubePlugin, faultsPlugin, corsPlugin];
