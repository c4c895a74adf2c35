import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one control plane; one instance per process (tests make their own). */
export class Metrics {
  readonly registry = new Registry();
  readonly translations = new Counter({
    name: 'sluice_translations_total',
    help: 'Translations of the API snapshot into xDS resources.',
    registers: [this.registry],
  });
  readonly translationErrors = new Counter({
    name: 'sluice_translation_errors_total',
    help: 'Resources rejected by translation (counted per translation and resource).',
    registers: [this.registry],
  });
  readonly translationSeconds = new Histogram({
    name: 'sluice_translation_duration_seconds',
    help: 'Time to translate and encode one snapshot.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly connectedProxies = new Gauge({
    name: 'sluice_connected_proxies',
    help: 'Open ADS streams.',
    labelNames: ['proxy'],
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'sluice_xds_pushes_total',
    help: 'xDS responses sent.',
    labelNames: ['type_url', 'mode'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'sluice_leader',
    help: '1 while this replica leads: it runs function discovery and writes statuses (always, without leader election).',
    registers: [this.registry],
  });
  readonly nacks = new Counter({
    name: 'sluice_xds_nacks_total',
    help: 'xDS responses rejected by a client.',
    labelNames: ['type_url', 'proxy'],
    registers: [this.registry],
  });

  constructor(options: { collectProcessMetrics?: boolean } = {}) {
    if (options.collectProcessMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
