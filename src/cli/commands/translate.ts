import type { Command } from 'commander';
import { decodeToJson } from '../../xds/proto-json';
import { redactSecrets } from '../../xds/redact';
import { messageNameOf, PUSH_ORDER } from '../../xds/type-urls';
import type { XdsSnapshot } from '../../xds/resources';
import { UserError } from '../errors';
import { translateDirectory } from '../offline';
import { parseFormat, printData } from '../output';
import { discoverDirectory } from '../discovery';

/** Every proxy's resources, or one proxy's; a resource shared by several proxies is listed once. */
function collect(snapshots: Map<string, XdsSnapshot>, proxy: string | undefined): Record<string, unknown[]> {
  const chosen = proxy
    ? [...snapshots].filter(([key]) => key === proxy || key.split('~')[1] === proxy)
    : [...snapshots];
  if (proxy && chosen.length === 0) {
    throw new UserError(
      `--proxy ${proxy}: no such proxy; proxies are ${[...snapshots.keys()].join(', ') || '(none)'}`,
    );
  }
  const xds: Record<string, unknown[]> = {};
  for (const typeUrl of PUSH_ORDER) {
    const byName = new Map<string, unknown>();
    for (const [, snapshot] of chosen) {
      for (const resource of snapshot.get(typeUrl)?.values() ?? []) {
        if (byName.has(resource.name)) continue;
        const messageName = messageNameOf(typeUrl);
        byName.set(resource.name, redactSecrets(messageName, decodeToJson(messageName, resource.bytes)));
      }
    }
    if (byName.size > 0)
      xds[typeUrl] = [...byName.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, json]) => json);
  }
  return xds;
}

export function registerTranslate(program: Command): void {
  program
    .command('translate')
    .description("translate a config directory once and print the xDS resources and every resource's status")
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.')
    .option('--discover', 'run function discovery once before translating')
    .option('--proxy <name>', 'only the resources of this proxy (NAMESPACE~NAME or NAME)')
    .option('-o, --output <format>', 'json or yaml', 'json')
    .action(async (options: { configDir: string; discover?: boolean; proxy?: string; output: string }) => {
      const format = parseFormat(options.output, ['json', 'yaml']) as 'json' | 'yaml';
      if (options.discover) await discoverDirectory(options.configDir);
      const result = await translateDirectory(options.configDir);
      printData({ xds: collect(result.snapshots, options.proxy), reports: result.reports }, format);
    });
}
