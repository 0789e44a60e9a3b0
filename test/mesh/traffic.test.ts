import { describe, expect, it } from 'vitest';
import { MeshTranslator } from '../../src/mesh/index.js';
import { scenarioFrom } from './support/scenario.js';
import { envoyOutbound, grpcDial } from './support/simulate.js';

const { input } = scenarioFrom({
  mesh: { trustDomain: 'shop.example' },
  workloads: [
    {
      id: 'web-1',
      service: 'web',
      address: '10.0.0.1',
      port: 8080,
      meshPort: 15006,
      upstreams: [
        { service: 'cart', localPort: 9001 },
        { service: 'db', namespace: 'data', localPort: 9002 },
      ],
    },
    { id: 'cart-a', service: 'cart', serviceAccount: 'cart-svc', address: '10.0.1.1', port: 8080, meshPort: 15006, labels: { track: 'stable' } },
    { id: 'cart-b', service: 'cart', serviceAccount: 'cart-svc', address: '10.0.1.2', port: 8080, meshPort: 15006, labels: { track: 'canary' } },
    { id: 'cart-c', service: 'cart', serviceAccount: 'cart-svc', address: '10.0.1.3', port: 8080, meshPort: 15006, labels: { track: 'stable' }, health: 'UNHEALTHY' },
    { id: 'db-1', service: 'db', namespace: 'data', address: '10.0.2.1', port: 5432, meshPort: 15432, protocol: 'tcp' },
  ],
  trafficPolicies: [
    {
      metadata: { name: 'cart' },
      spec: {
        target: 'cart',
        split: [
          { name: 'stable', labels: { track: 'stable' }, weight: 95 },
          { name: 'canary', labels: { track: 'canary' }, weight: 5 },
        ],
      },
    },
  ],
});

describe('where calls go', () => {
  const translator = new MeshTranslator();

  it('an Envoy app’s HTTP call on its local port reaches the destination’s healthy subset endpoints at their mesh port, over mTLS to its identity', () => {
    expect(envoyOutbound(translator.translate(input, 'web-1', 'envoy'), 9001)).toEqual([
      {
        cluster: 'outbound.stable.cart.default',
        weight: 95,
        endpoints: ['10.0.1.1:15006'],
        sni: 'outbound.stable.cart.default',
        san: ['spiffe://shop.example/ns/default/sa/cart-svc'],
      },
      {
        cluster: 'outbound.canary.cart.default',
        weight: 5,
        endpoints: ['10.0.1.2:15006'],
        sni: 'outbound.canary.cart.default',
        san: ['spiffe://shop.example/ns/default/sa/cart-svc'],
      },
    ]);
  });

  it('a TCP upstream in another namespace is reached through tcp_proxy', () => {
    expect(envoyOutbound(translator.translate(input, 'web-1', 'envoy'), 9002)).toEqual([
      { cluster: 'outbound.db.data', weight: 1, endpoints: ['10.0.2.1:15432'], sni: 'outbound.db.data', san: ['spiffe://shop.example/ns/data/sa/db'] },
    ]);
  });

  it('a proxyless client reaches the same endpoints by either dial target', () => {
    const resources = translator.translate(input, 'web-1', 'grpc');
    const expected = [
      { cluster: 'outbound.stable.cart.default', weight: 95, endpoints: ['10.0.1.1:15006'], san: ['spiffe://shop.example/ns/default/sa/cart-svc'] },
      { cluster: 'outbound.canary.cart.default', weight: 5, endpoints: ['10.0.1.2:15006'], san: ['spiffe://shop.example/ns/default/sa/cart-svc'] },
    ];
    expect(grpcDial(resources, 'cart')).toEqual(expected);
    expect(grpcDial(resources, 'cart.default')).toEqual(expected);
  });
});
