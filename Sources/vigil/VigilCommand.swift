//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import VigilApp

/// `vigil`: watch real-time communication and media infrastructure.
@main
struct VigilCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Watch Janus gateways, MQTT devices and agents, media streams and hosts; announce over XMPP.",
        version: vigilVersion,
        subcommands: [Serve.self, Agent.self, Config.self, Alerts.self, Import.self, Version.self],
        defaultSubcommand: Serve.self
    )

    static func main() async {
        // iotmonitor answers `-v` with its version; so do we (ArgumentParser only knows --version).
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["-v"] || arguments == ["--version"] {
            print("vigil \(vigilVersion)")
            return
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("vigil: configuration error: \(error)\n".utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}

/// `vigil serve`: run the service.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run Vigil (the default command).")

    @Option(name: .shortAndLong, help: "The configuration file (default: $VIGIL_CONFIG, else built-in defaults).")
    var config: String?

    func run() async throws {
        let configuration = try Self.load(config)
        try VigilLogHandler.bootstrap(configuration.log)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "vigil")
        logger.logLevel = configuration.log.level
        let application = try VigilApplication(configuration: configuration, registry: registry, logger: logger)
        do {
            try await application.run()
        } catch {
            logger.error("Vigil stopped after a failure", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// The configuration from `--config`, else `$VIGIL_CONFIG`, else the built-in defaults.
    static func load(_ config: String?) throws -> VigilConfiguration {
        let environment = ProcessInfo.processInfo.environment
        let path = config ?? environment["VIGIL_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        return try path.map { try VigilConfiguration.load(path: $0, environment: environment) }
            ?? VigilConfiguration.defaults(environment: environment)
    }
}

/// `vigil agent`: sample this host and push to a central Vigil.
struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample this host and push the samples to a central Vigil (no store, no web server).",
        discussion: """
            Pushes over MQTT (mqtt://broker:1883, topic <prefix>/<name>/metrics, retained status with a \
            Last Will) or HTTP (http://central:8080, POST /api/v1/ingest/host with a bearer token). \
            Settings may also come from the [agent] section of --config and VIGIL_AGENT_* variables \
            (prefer VIGIL_AGENT_TOKEN to --token: a command line is visible to every local user).
            """
    )

    @Option(help: "The central: mqtt://host:port or http(s)://host:port.")
    var push: String?

    @Option(help: "The bearer token for HTTP (one of the central's [host_ingest] tokens).")
    var token: String?

    @Option(help: "The host name reported (default: this machine's host name).")
    var name: String?

    @Option(help: "Time between samples (default 5s).")
    var interval: String?

    @Option(name: .shortAndLong, help: "A configuration file with an [agent] section.")
    var config: String?

    func run() async throws {
        let settings = try HostAgentSettings.resolve(
            path: config,
            commandLine: .init(push: push, token: token, name: name, interval: interval)
        )
        try VigilLogHandler.bootstrap(LogConfiguration())
        var logger = Logger(label: "vigil.agent")
        logger.logLevel = .info
        do {
            try await HostAgentRunner.run(settings, logger: logger)
        } catch {
            logger.error("Vigil agent stopped after a failure", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

/// `vigil config check FILE`.
struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a configuration file; exit 0 when valid, 2 when not.")

        @Argument(help: "The TOML file to check.")
        var file: String

        func run() async throws {
            let configuration = try VigilConfiguration.load(path: file)
            for warning in configuration.warnings { print("warning: \(warning)") }
            print("\(file): OK")
        }
    }
}

/// `vigil alerts export-prometheus`.
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with alert rules.",
        subcommands: [ExportPrometheus.self]
    )

    struct ExportPrometheus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-prometheus",
            abstract: "Print Prometheus alerting rules equivalent to the configured alert rules."
        )

        @Option(name: .shortAndLong, help: "The configuration file (default: $VIGIL_CONFIG, else built-in defaults).")
        var config: String?

        func run() async throws {
            let configuration = try Serve.load(config)
            print(PrometheusRuleExport.yaml(configuration.alerting.rules), terminator: "")
        }
    }
}

/// `vigil import iotmonitor-leveldb DIR`.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import state from the systems Vigil replaces.",
        subcommands: [IotmonitorLevelDB.self]
    )

    struct IotmonitorLevelDB: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "iotmonitor-leveldb",
            abstract: "Copy iotmonitor's stored states (its iotdb.leveldb folder) into Vigil's store.",
            discussion: """
                Run it with Vigil stopped, or restart Vigil after it: the device watchdog reads stored \
                states at start-up. The LevelDB folder is only read; iotmonitor should be stopped so \
                that the folder is complete.
                """
        )

        @Argument(help: "iotmonitor's LevelDB folder (iotdb.leveldb in its working directory).")
        var directory: String

        @Option(name: .shortAndLong, help: "The configuration file naming the store (default: $VIGIL_CONFIG, else built-in defaults).")
        var config: String?

        @Flag(help: "Read and count without writing.")
        var dryRun = false

        func run() async throws {
            let configuration = try Serve.load(config)
            let summary: IotmonitorImport.Summary
            do {
                summary = try await IotmonitorImport.run(directory: directory, configuration: configuration, dryRun: dryRun)
            } catch {
                FileHandle.standardError.write(Data("vigil: import failed: \(error)\n".utf8))
                throw ExitCode(1)
            }
            for example in summary.refusedExamples { print("skipped \(example): not an MQTT topic name") }
            let verb = dryRun ? "would import" : "imported"
            print("\(verb) \(summary.imported) states from \(directory) (\(summary.refused) keys skipped, \(summary.deleted) deleted keys)")
        }
    }
}

/// `vigil version`.
struct Version: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")

    func run() async throws {
        print("vigil \(vigilVersion)")
    }
}
