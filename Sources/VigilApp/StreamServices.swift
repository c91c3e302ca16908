//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
import VigilCore
public import VigilMonitors
public import VigilWeb

/// The stream snapshot exporters serve the main `/metrics` too.
extension MetricsSnapshotExporter: MetricsExporter {}

/// So do the hub's per-target series.
extension SeriesRegistry: MetricsExporter {}

/// The stream pollers (Visionaire, MediaMTX), their metric exporters and the seed-004 exporter
/// listener, built from the configuration.
struct StreamServices {
    /// The services to run, in order.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    /// The exporters to add to the main `/metrics`.
    var exporters: [any MetricsExporter] = []

    init(configuration: VigilConfiguration, hub: Hub, ownership: WorkOwnership? = nil, logger: (String) -> Logger) {
        if configuration.visionaire.enabled {
            let exporter = MetricsSnapshotExporter()
            exporters.append(exporter)
            services.append(
                .init(
                    service: VisionairePoller(
                        configuration: configuration.visionaire,
                        exporter: exporter,
                        hub: hub,
                        logger: logger("vigil.visionaire"),
                        clock: hub.clock,
                        ownership: ownership
                    )
                )
            )
            if configuration.visionaire.exporterPort > 0 {
                services.append(
                    .init(
                        service: buildMetricsListener(
                            exporter: exporter,
                            host: configuration.visionaire.exporterHost,
                            port: configuration.visionaire.exporterPort,
                            // As the main /metrics: the token guards it beyond loopback (required there).
                            token: WebConfiguration.isLoopback(host: configuration.visionaire.exporterHost) ? nil : configuration.http.token,
                            idleTimeout: configuration.http.idleTimeout,
                            logger: logger("vigil.visionaire.exporter")
                        )
                    )
                )
            }
        }
        if configuration.mediamtx.enabled {
            let exporter = MetricsSnapshotExporter()
            exporters.append(exporter)
            services.append(
                .init(
                    service: MediaMTXPoller(
                        configuration: configuration.mediamtx,
                        exporter: exporter,
                        hub: hub,
                        logger: logger("vigil.mediamtx"),
                        clock: hub.clock,
                        ownership: ownership
                    )
                )
            )
        }
    }
}

/// Builds an extra metrics listener: `GET /metrics` with one exporter's text, 404 on every other
/// path. The seed-004 exporter (`exporter_port`, as the seed's `ThreadingHTTPServer`) and gxydb-api's
/// `:8081/metrics` (`[janus] gxydb_metrics_listen`) are such listeners. Given a token, `/metrics` needs
/// `Authorization: Bearer <token>` (401 otherwise, counted in `vigil_http_requests_unauthorized_total`);
/// the caller passes one beyond loopback, as for the main `/metrics`, and the configuration refuses
/// such a listener without one.
///
/// - Parameters:
///   - exporter: What `/metrics` shows.
///   - host: The address to bind.
///   - port: The port (0 picks a free one).
///   - token: The token `/metrics` needs, if any.
///   - idleTimeout: How long a connection may sit without a request.
///   - onServerRunning: Called with the bound port.
///   - logger: Logger for the listener.
/// - Returns: A Hummingbird application (a `Service`).
public func buildMetricsListener(
    exporter: any MetricsExporter,
    host: String,
    port: Int,
    token: String? = nil,
    idleTimeout: Duration = .seconds(60),
    serverName: String = "vigil-stream-exporter",
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
    logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    // The main listener's guard: the header only, refusals counted.
    if let token { router.add(middleware: BearerTokenMiddleware(token: token, acceptsQueryToken: false)) }
    router.get("/metrics") { _, _ in
        var buffer: [UInt8] = []
        exporter.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: prometheusContentType], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout))),
        configuration: .init(address: .hostname(host, port: port), serverName: serverName),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger
    )
}
