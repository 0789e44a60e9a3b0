/**
 * The HTTP/2 receive windows a simulated Envoy opens its xDS connection with: Envoy's defaults
 * (Http2ProtocolOptions `initial_stream_window_size` and `initial_connection_window_size`, both
 * 256 MiB). grpc-js's own default is 64 KiB for a stream and for the whole connection; with
 * thousands of simulated proxies sharing a few connections, a push to all of them then moves
 * 64 KiB per connection per window update, and the benchmark measures that instead of the
 * control plane, which also does more work per stalled write (docs/benchmarks.md, `fleet`, ninth round).
 * grpc-js applies the option to both windows.
 */
export const ENVOY_HTTP2_WINDOW_OPTIONS = { 'grpc-node.flow_control_window': 256 * 1024 * 1024 } as const;
