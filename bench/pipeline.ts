/** The real translation pipeline, timed per stage: loadSnapshot -> translate -> buildXdsSnapshots. */
import { performance } from 'perf_hooks';
import { loadSnapshot } from '../src/api/load';
import { buildXdsSnapshots } from '../src/control-plane/xds-snapshots';
import type { DiscoveredMap } from '../src/discovery/fds/discovered';
import type { StoreContents } from '../src/store/store';
import { translate, type Translation } from '../src/translator/translate';
import type { ResourceEncoder } from '../src/xds/encode';
import type { XdsSnapshot } from '../src/xds/resources';

export interface StageTimes {
  load: number;
  translate: number;
  build: number;
  total: number;
}

export interface PipelineResult {
  times: StageTimes;
  /** performance.now() when each stage started, and when the last one ended (to attribute GC pauses). */
  starts: { load: number; translate: number; build: number; end: number };
  translation: Translation;
  snapshots: Map<string, XdsSnapshot>;
}

export function runPipeline(
  contents: StoreContents,
  encoder: ResourceEncoder,
  previous: ReadonlyMap<string, XdsSnapshot> = new Map(),
  discovered: DiscoveredMap = new Map(),
): PipelineResult {
  const t0 = performance.now();
  const loaded = loadSnapshot(contents, new Map(), discovered);
  const t1 = performance.now();
  const translation = translate(loaded.snapshot, loaded.reports);
  const t2 = performance.now();
  const snapshots = buildXdsSnapshots(translation.envoy, encoder, translation.reports, previous);
  const t3 = performance.now();
  return {
    times: { load: t1 - t0, translate: t2 - t1, build: t3 - t2, total: t3 - t0 },
    starts: { load: t0, translate: t1, build: t2, end: t3 },
    translation,
    snapshots,
  };
}

export function countResources(snapshots: ReadonlyMap<string, XdsSnapshot>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const snapshot of snapshots.values()) {
    for (const [typeUrl, byName] of snapshot) {
      const short = typeUrl.split('.').pop() as string;
      out[short] = (out[short] ?? 0) + byName.size;
    }
  }
  return out;
}

export function totalBytes(snapshots: ReadonlyMap<string, XdsSnapshot>): number {
  let bytes = 0;
  for (const snapshot of snapshots.values())
    for (const byName of snapshot.values()) for (const r of byName.values()) bytes += r.bytes.length;
  return bytes;
}

/** Errors and warnings the translation reported (a benchmark input must translate cleanly). */
export function reportProblems(translation: Translation): string[] {
  const out: string[] = [];
  for (const report of translation.reports.all()) {
    for (const e of report.errors) out.push(`${report.key.kind} ${report.key.name}: error: ${e}`);
    for (const w of report.warnings) out.push(`${report.key.kind} ${report.key.name}: warning: ${w}`);
  }
  return out;
}
