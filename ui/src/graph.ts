/**
 * Who may call whom, as `accord describe` works it out per service: one node per service, one
 * arrow per caller → target pair a policy decided (allowed, partly allowed or denied). Pairs no
 * policy names are allowed by default and left out, or the graph would be every pair.
 */
import { h, s } from './dom.js';

export type Access = 'ALLOWED' | 'PARTIAL' | 'DENIED';

export interface ServiceKey {
  readonly name: string;
  readonly namespace: string;
}

export interface Edge {
  readonly from: ServiceKey;
  readonly to: ServiceKey;
  readonly access: Access;
  readonly decidedBy: readonly string[];
}

export interface Verdict {
  readonly service: string;
  readonly namespace: string;
  readonly access: Access;
  readonly decidedBy: readonly string[];
}

export const keyOf = (service: ServiceKey): string => `${service.namespace}/${service.name}`;

/** The decided pairs, from each target's callers. */
export function edgesOf(callersByTarget: ReadonlyMap<string, { target: ServiceKey; callers: readonly Verdict[] }>): Edge[] {
  const edges: Edge[] = [];
  for (const { target, callers } of callersByTarget.values()) {
    for (const caller of callers) {
      if (caller.decidedBy.length === 0) continue;
      edges.push({ from: { name: caller.service, namespace: caller.namespace }, to: target, access: caller.access, decidedBy: caller.decidedBy });
    }
  }
  return edges.sort((a, b) => keyOf(a.from).localeCompare(keyOf(b.from)) || keyOf(a.to).localeCompare(keyOf(b.to)));
}

const WIDTH = 720;
const HEIGHT = 440;
const NODE_RADIUS = 22;

/** Services on a circle; arrows stop at the node's edge so their heads show. */
export function graphSvg(services: readonly ServiceKey[], edges: readonly Edge[]): SVGSVGElement {
  const cx = WIDTH / 2;
  const cy = HEIGHT / 2;
  const ring = Math.min(cx, cy) - 70;
  const at = new Map<string, { x: number; y: number }>();
  services.forEach((service, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, services.length) - Math.PI / 2;
    at.set(keyOf(service), { x: cx + ring * Math.cos(angle), y: cy + ring * Math.sin(angle) });
  });
  const markers = (['ALLOWED', 'PARTIAL', 'DENIED'] as const).map((access) =>
    s(
      'marker',
      { id: `arrow-${access.toLowerCase()}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: `head-${access.toLowerCase()}` }),
    ),
  );
  const lines = edges.flatMap((edge) => {
    const from = at.get(keyOf(edge.from));
    const to = at.get(keyOf(edge.to));
    if (!from || !to) return [];
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const length = Math.hypot(dx, dy) || 1;
    const ux = dx / length;
    const uy = dy / length;
    // A small sideways offset keeps A→B and B→A apart.
    const ox = -uy * 4;
    const oy = ux * 4;
    const access = edge.access.toLowerCase();
    return [
      s(
        'line',
        {
          class: `edge edge-${access}`,
          x1: (from.x + ux * NODE_RADIUS + ox).toFixed(1),
          y1: (from.y + uy * NODE_RADIUS + oy).toFixed(1),
          x2: (to.x - ux * (NODE_RADIUS + 2) + ox).toFixed(1),
          y2: (to.y - uy * (NODE_RADIUS + 2) + oy).toFixed(1),
          'marker-end': `url(#arrow-${access})`,
          'data-from': keyOf(edge.from),
          'data-to': keyOf(edge.to),
          'data-access': edge.access,
        },
        s('title', {}, `${keyOf(edge.from)} → ${keyOf(edge.to)}: ${edge.access} (${edge.decidedBy.join(', ')})`),
      ),
    ];
  });
  const nodes = services.map((service) => {
    const p = at.get(keyOf(service)) ?? { x: cx, y: cy };
    return s(
      'g',
      { class: 'node', 'data-service': keyOf(service) },
      s('circle', { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: NODE_RADIUS }),
      s('text', { x: p.x.toFixed(1), y: (p.y + NODE_RADIUS + 14).toFixed(1), 'text-anchor': 'middle' }, service.name),
      s('text', { x: p.x.toFixed(1), y: (p.y + NODE_RADIUS + 27).toFixed(1), 'text-anchor': 'middle', class: 'ns' }, service.namespace),
    );
  });
  return s(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: 'img', 'aria-label': 'who may call whom', id: 'access-graph' },
    s('defs', {}, markers),
    lines,
    nodes,
  );
}

/** The same pairs as text, for reading and for screen readers. */
export function edgeTable(edges: readonly Edge[]): HTMLElement {
  if (edges.length === 0) return h('p', { class: 'muted' }, 'No policy restricts any caller: every mesh service may call every other.');
  return h(
    'table',
    { id: 'access-pairs' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Caller'), h('th', {}, 'Target'), h('th', {}, 'Access'), h('th', {}, 'Decided by'))),
    h(
      'tbody',
      {},
      edges.map((edge) =>
        h(
          'tr',
          { 'data-access': edge.access },
          h('td', {}, keyOf(edge.from)),
          h('td', {}, keyOf(edge.to)),
          h('td', {}, h('span', { class: `badge access-${edge.access.toLowerCase()}` }, edge.access)),
          h('td', {}, edge.decidedBy.join(', ')),
        ),
      ),
    ),
  );
}
