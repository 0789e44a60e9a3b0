import { stringify } from 'yaml';
import { TypeUrl } from '../../../src/xds/contract.js';
import type { MeshTranslator } from '../../../src/mesh/index.js';
import type { Scenario } from './scenario.js';

const SECTIONS: readonly (readonly [string, string])[] = [
  ['listeners', TypeUrl.Listener],
  ['routes', TypeUrl.RouteConfiguration],
  ['clusters', TypeUrl.Cluster],
  ['endpoints', TypeUrl.ClusterLoadAssignment],
];

/** Every proxy's resources as stable YAML: proxies, types and names sorted; notes last. */
export function renderScenario(scenario: Scenario, translator: MeshTranslator): string {
  const proxies = [...scenario.proxies].sort((x, y) => `${x.flavour}/${x.workload}`.localeCompare(`${y.flavour}/${y.workload}`));
  const doc: Record<string, unknown> = {};
  for (const proxy of proxies) {
    const translation = translator.translateWithNotes(scenario.input, proxy.workload, proxy.flavour);
    const sections: Record<string, unknown> = {};
    for (const [section, typeUrl] of SECTIONS) {
      const byName = translation.resources.get(typeUrl) ?? new Map();
      sections[section] = Object.fromEntries([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    const notes = translation.notes.map((n) => `${n.code}: ${n.message}`).sort();
    if (notes.length > 0) sections.notes = notes;
    doc[`${proxy.flavour}/${proxy.workload}`] = sections;
  }
  return stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0, sortMapEntries: false });
}
