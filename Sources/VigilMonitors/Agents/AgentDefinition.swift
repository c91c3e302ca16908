//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One supervised agent process: iotmonitor's `[agent_NAME]` section.
///
/// The device keys (`watchTimeOut`, `helloTopic`, `watchTopics`, `stateTopics`) go to a
/// ``DeviceDefinition`` of kind `.agent`; this type holds the process keys.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `exec` | string | (required) | shell command line, run by `/bin/bash -c` |
/// | `shell` | string | `"/bin/bash"` | the shell that runs `exec` |
/// | `maxRestarts` | integer | 5 | restarts allowed within `restartWindow` before Vigil gives up |
/// | `restartWindow` | duration | `"60s"` | the sliding window for `maxRestarts` |
/// | `restartBackoff` | duration | `"1s"` | delay before the second restart within the window; doubles after that (the first restart is immediate) |
/// | `restartBackoffMax` | duration | `"30s"` | the largest delay between restarts |
/// | `restartOnSilence` | bool | `false` | restart the agent when its watch topics are silent for `watchTimeOut` |
/// | `stopTimeout` | duration | `"5s"` | SIGTERM to SIGKILL grace when Vigil restarts a silent agent |
/// | `logFile` | string | `<agent_log_directory>/<name>.log` | where stdout and stderr go (appended) |
/// | `environment` | table, or list of `NAME=value` | none | variables set for the agent |
/// | `passEnvironment` | string list | none | names of Vigil's own variables passed on to the agent |
///
/// Agents do not inherit Vigil's environment (it may hold tokens and passwords): they get
/// ``inheritedVariables`` (and `LC_*`) from Vigil, then `passEnvironment`, then `environment`.
public struct AgentDefinition: Sendable, Hashable {
    /// The agent name (`ledboxdaemon` for `[agent_ledboxdaemon]`).
    public var name: String
    /// The command line.
    public var exec: String
    /// The shell that runs ``exec`` with `-c`.
    public var shell: String
    /// The restart policy.
    public var restartPolicy: AgentRestartPolicy
    /// Whether silence on the agent's watch topics restarts it.
    public var restartOnSilence: Bool
    /// The grace period between SIGTERM and SIGKILL when Vigil stops the agent.
    public var stopTimeout: Duration
    /// The file receiving the agent's stdout and stderr.
    public var logFile: String
    /// Variables set for the agent (they win over inherited ones).
    public var environment: [String: String]
    /// Names of Vigil's variables passed on besides ``inheritedVariables``.
    public var passEnvironment: [String]

    /// Creates a definition.
    ///
    /// - Parameters:
    ///   - name: The agent name.
    ///   - exec: The command line.
    ///   - shell: The shell.
    ///   - restartPolicy: The restart policy.
    ///   - restartOnSilence: Whether silence restarts the agent.
    ///   - stopTimeout: SIGTERM to SIGKILL grace.
    ///   - logFile: The log file.
    ///   - environment: Variables set for the agent.
    ///   - passEnvironment: Names of Vigil's variables passed on.
    public init(
        name: String,
        exec: String,
        shell: String = "/bin/bash",
        restartPolicy: AgentRestartPolicy = .init(),
        restartOnSilence: Bool = false,
        stopTimeout: Duration = .seconds(5),
        logFile: String,
        environment: [String: String] = [:],
        passEnvironment: [String] = []
    ) {
        self.name = name
        self.exec = exec
        self.shell = shell
        self.restartPolicy = restartPolicy
        self.restartOnSilence = restartOnSilence
        self.stopTimeout = stopTimeout
        self.logFile = logFile
        self.environment = environment
        self.passEnvironment = passEnvironment
    }

    /// The variables an agent takes from Vigil's environment without being asked: what a login
    /// shell sets (and `LC_*`), none that usually carries a secret.
    public static let inheritedVariables: Set<String> = [
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_RUNTIME_DIR",
    ]

    /// The `PATH` given when Vigil itself has none.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The agent's environment built from Vigil's: ``inheritedVariables`` and `LC_*`, then
    /// ``passEnvironment``, then ``environment``.
    ///
    /// - Parameter parent: Vigil's environment.
    /// - Returns: The variables, as `NAME=value` entries sorted by name.
    public func processEnvironment(inheriting parent: [String: String]) -> [String] {
        var result: [String: String] = [:]
        let passed = Set(passEnvironment)
        for (name, value) in parent where Self.inheritedVariables.contains(name) || name.hasPrefix("LC_") || passed.contains(name) {
            result[name] = value
        }
        if result["PATH"] == nil { result["PATH"] = Self.defaultPath }
        result.merge(environment) { _, configured in configured }
        // Last, so that no configured variable can hide which agent the process is.
        result[Self.markerVariable] = name
        return result.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// The variable that names the agent in its process environment: `VIGIL_AGENT=<name>`.
    ///
    /// `exec` keeps a process's environment but replaces its command line, so an agent whose
    /// command ends in `exec daemon` loses the command-line ``marker`` and is still found by this.
    public static let markerVariable = "VIGIL_AGENT"

    /// How the agent's processes are recognised in `/proc`.
    public var identity: AgentProcess.Identity {
        AgentProcess.Identity(commandLineNeedle: commandLineNeedle, environmentEntry: "\(Self.markerVariable)=\(name)")
    }

    /// Whether a text is a usable variable name (letters, digits, `_`; not starting with a digit).
    public static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }

    /// The tag that identifies the agent's process in its command line: `IOTMONITORMAGIC_<name>`,
    /// as iotmonitor, so agents started by iotmonitor are adopted too. Vigil also marks the
    /// environment (``markerVariable``), which survives `exec`.
    public var marker: String { "IOTMONITORMAGIC_\(name)" }

    /// The script given to the shell: `echo <marker>; <exec>; echo END`.
    ///
    /// The shell stays alive while `exec` runs (it is not the last command), so the marker stays
    /// in a live process's command line.
    public var script: String { "echo \(marker); \(exec); echo END" }

    /// The exact text searched for in `/proc/*/cmdline` (the `;` keeps `led` from matching
    /// `ledbox`, and a `grep` for the marker from matching).
    public var commandLineNeedle: String { "echo \(marker);" }
}

/// When an agent that keeps stopping is restarted, and when Vigil gives up.
///
/// The first restart within ``window`` is immediate; restart *n* (n ≥ 2) waits
/// `backoff × 2^(n-2)`, at most ``maximumBackoff``. When ``maxRestarts`` restarts already happened
/// within ``window``, the next stop makes Vigil give up (and raise an `agent_given_up` event).
public struct AgentRestartPolicy: Sendable, Hashable {
    /// Restarts allowed within ``window``.
    public var maxRestarts: Int
    /// The sliding window.
    public var window: Duration
    /// The delay before the second restart within the window.
    public var backoff: Duration
    /// The largest delay.
    public var maximumBackoff: Duration

    /// Creates a policy.
    public init(maxRestarts: Int = 5, window: Duration = .seconds(60), backoff: Duration = .seconds(1), maximumBackoff: Duration = .seconds(30)) {
        self.maxRestarts = maxRestarts
        self.window = window
        self.backoff = backoff
        self.maximumBackoff = maximumBackoff
    }
}

/// The restart bookkeeping of one agent. Pure: times are passed in.
public struct AgentRestartTracker: Sendable {
    /// What to do after the agent stopped.
    public enum Decision: Sendable, Hashable {
        /// Start it again after this many seconds (0: at once).
        case restart(after: Double)
        /// Stop trying.
        case giveUp
    }

    /// The policy.
    public let policy: AgentRestartPolicy
    private var restarts: [Double] = []

    /// Creates a tracker.
    public init(policy: AgentRestartPolicy) { self.policy = policy }

    /// Restarts counted in the window ending at `now`.
    public func restartsInWindow(at now: Double) -> Int {
        let start = now - policy.window.secondsValue
        return restarts.filter { $0 > start }.count
    }

    /// Decides what to do about an agent that stopped at `now`.
    public mutating func stopped(at now: Double) -> Decision {
        let start = now - policy.window.secondsValue
        restarts.removeAll { $0 <= start }
        if restarts.count >= policy.maxRestarts { return .giveUp }
        if restarts.isEmpty { return .restart(after: 0) }
        let exponent = min(restarts.count - 1, 30)
        let delay = policy.backoff.secondsValue * Double(1 << exponent)
        return .restart(after: min(delay, policy.maximumBackoff.secondsValue))
    }

    /// Records a restart at `now`.
    public mutating func restarted(at now: Double) { restarts.append(now) }

    /// Forgets every counted restart (after Vigil gave up and the agent came back).
    public mutating func reset() { restarts.removeAll() }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
