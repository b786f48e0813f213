// Application: the running server as services in one group (swift-service-lifecycle) — built by one function
// that `uplinkdns serve` and the tests call, stopped in order on SIGTERM/SIGINT, reloaded on SIGHUP.

import Logging
import ServiceLifecycle
import UnixSignals

/// The server and the service group that runs it. `build` loads the config's zones, binds every address and starts
/// answering; `run` serves until SIGTERM or SIGINT (or `shutdown()`), reloads on SIGHUP, and stops the parts in
/// order: SIGHUP handling, then `DNSServer.stopOrder` (the control API, the listeners, the query log, the notifier,
/// the health module, the builder).
public struct Application: Sendable {
    /// The server (the owner of runtime state).
    public let server: DNSServer
    private let group: ServiceGroup

    /// Builds the application for `config`: zones loaded and compiled, sockets bound, health applied, answering.
    /// `listen`/`control` override the config as `uplinkdns serve --listen/--control` do. Throws with every load
    /// error, or the first bind error.
    public static func build(
        config: Config, listen: [ListenAddress]? = nil, control: ListenAddress?? = nil, logger: Logger,
        signals: Bool = true
    ) throws -> Application {
        let server = try DNSServer(config: config, listen: listen, control: control, logger: logger)
        do {
            try server.start()
        } catch {
            server.stop()
            throw error
        }
        // A service group stops its services in the reverse of their order: the server's stop order, reversed.
        var services: [any Service] = server.stopOrder.reversed().map { part in
            part.name == "control"
                ? StopOnShutdown(
                    name: part.name,
                    stop: {
                        SystemdNotify.send(["STOPPING=1", "STATUS=stopping"])
                        part.stop()
                    })
                : StopOnShutdown(name: part.name, stop: part.stop)
        }
        if signals { services.append(ReloadOnHangup(server: server, logger: logger)) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [],
                logger: logger))
        return Application(server: server, group: group)
    }

    /// Serves until shut down (a signal or `shutdown()`), then stops every part in order.
    public func run() async throws {
        // systemd (Type=notify): the server answers from here on.
        SystemdNotify.send(["READY=1", "STATUS=\(server.servingStatus())"])
        try await group.run()
    }

    /// Stops the application gracefully (what SIGTERM does).
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}

/// A part of the server that runs from `build` until the group shuts down, and then stops.
struct StopOnShutdown: Service, CustomStringConvertible {
    let name: String
    let stop: @Sendable () -> Void
    var description: String { name }

    func run() async throws {
        try? await gracefulShutdown()
        stop()
    }
}

/// SIGHUP reloads the config and every zone (on the builder; the outcome is logged).
struct ReloadOnHangup: Service, CustomStringConvertible {
    let server: DNSServer
    let logger: Logger
    var description: String { "reload on SIGHUP" }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading")
            server.reload { _ in }
        }
    }
}
