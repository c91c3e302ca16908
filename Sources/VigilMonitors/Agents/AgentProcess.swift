//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting, finding and stopping agent processes (Linux: `posix_spawn` and `/proc`).
public enum AgentProcess {
    /// Why a process could not be started.
    public struct SpawnError: Error, CustomStringConvertible {
        /// The `errno`-style code.
        public var code: Int32
        /// What failed.
        public var operation: String

        public var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
    }

    /// glibc's `POSIX_SPAWN_SETSID` (not exported to Swift): the child starts a new session.
    static let setSessionFlag: Int32 = 0x80

    /// Starts `shell -c script` detached in its own session, with stdin from `/dev/null`, stdout
    /// and stderr appended to `logFile`, no other file descriptor of Vigil's, default signal
    /// dispositions, an empty signal mask (Vigil ignores some signals; its agents must not
    /// inherit that) and exactly the given environment (none of Vigil's own variables).
    ///
    /// The child is Vigil's child until Vigil exits; then init adopts it and it keeps running.
    ///
    /// - Parameters:
    ///   - shell: The shell.
    ///   - script: The script given to `shell -c`.
    ///   - logFile: Where stdout and stderr go.
    ///   - environment: `NAME=value` entries (``AgentDefinition/processEnvironment(inheriting:)``).
    /// - Returns: The process id (also the process group and session id).
    /// - Throws: ``SpawnError`` when the log file cannot be opened or the spawn fails.
    public static func spawn(shell: String, script: String, logFile: String, environment: [String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        let flags = setSessionFlag | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of Vigil's may leak into the agent: a listening socket or the store kept
        // open by an agent would outlive Vigil (and block its restart on the same port).
        closeInheritedDescriptors(&actions)

        let arguments = [shell, "-c", script]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, shell, &actions, &attributes, &argv, &envp)
        guard result == 0 else { throw SpawnError(code: result, operation: "posix_spawn \(shell)") }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not export; looked up at run time.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// Adds actions that close every descriptor from 3 up in the child.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        // Older C libraries: close what is open now, except descriptors marked close-on-exec.
        guard let directory = opendir("/proc/self/fd") else { return }
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if let fd = Int32(name), fd > 2 { descriptors.append(fd) }
        }
        let listing = dirfd(directory)
        closedir(directory)
        for fd in descriptors where fd != listing && fcntl(fd, F_GETFD) >= 0 && fcntl(fd, F_GETFD) & FD_CLOEXEC == 0 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    /// Vigil's own environment, read from `environ`.
    public static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }

    /// Appends a line to a log file, creating its folder when missing.
    public static func appendLine(_ line: String, to path: String) {
        makeParentDirectory(of: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Creates the folders above a file path (like `mkdir -p` of its parent).
    public static func makeParentDirectory(of path: String) {
        var components = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        guard !components.isEmpty else { return }
        var current = path.hasPrefix("/") ? "" : "."
        if components.first == "" { components = components.dropFirst() }
        for component in components where !component.isEmpty {
            current += "/" + component
            mkdir(current, 0o755)
        }
    }

    /// Reaps a child of Vigil that has exited. Returns `true` when `pid` is a child of this process
    /// that exited (now reaped), `false` when it still runs or is not our child.
    public static func reapIfExited(_ pid: Int32) -> Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid
    }

    /// How one agent's processes are recognised.
    ///
    /// A process is the agent's when its command line contains ``commandLineNeedle`` (iotmonitor's
    /// marker, kept so that agents started by iotmonitor are adopted) or its environment holds
    /// ``environmentEntry`` exactly (Vigil's marker, which survives `exec`; readable for processes
    /// of Vigil's own user, or all of them when Vigil runs as root).
    public struct Identity: Sendable, Hashable {
        /// Text searched for in `/proc/<pid>/cmdline`, NULs read as spaces.
        public var commandLineNeedle: String
        /// A `NAME=value` entry searched for in `/proc/<pid>/environ`.
        public var environmentEntry: String

        /// Creates an identity.
        public init(commandLineNeedle: String, environmentEntry: String) {
            self.commandLineNeedle = commandLineNeedle
            self.environmentEntry = environmentEntry
        }

        /// Whether the process with this command line (and, read only when needed, environment)
        /// is the agent's.
        func matches(commandLine: String, environment: () -> [UInt8]?) -> Bool {
            if commandLine.contains(commandLineNeedle) { return true }
            guard let environment = environment() else { return false }
            let wanted = Array(environmentEntry.utf8)
            return environment.split(separator: 0, omittingEmptySubsequences: true).contains { $0.elementsEqual(wanted) }
        }
    }

    /// Whether a process exists (not a zombie: its command line is empty) and is the agent's.
    public static func isRunning(_ pid: Int32, _ identity: Identity) -> Bool {
        guard let commandLine = commandLine(of: pid) else { return false }
        return identity.matches(commandLine: commandLine) { procFile(pid, "environ") }
    }

    /// Finds running agent processes.
    ///
    /// - Parameter identities: How each agent is recognised, mapped to a key.
    /// - Returns: For each key found, one process id: the session leader among the matches (the
    ///   shell Vigil started, or what it `exec`ed into) or, when none leads a session (agents
    ///   started by iotmonitor), the lowest (the shell comes before its children).
    public static func scan<Key: Hashable>(for identities: [Key: Identity], procRoot: String = "/proc") -> [Key: Int32] {
        guard !identities.isEmpty, let directory = opendir(procRoot) else { return [:] }
        defer { closedir(directory) }
        let me = getpid()
        var found: [Key: (pid: pid_t, leader: Bool)] = [:]
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = pid_t(name), pid != me, let commandLine = commandLine(of: pid, procRoot: procRoot) else { continue }
            var environment: [UInt8]??
            let readEnvironment = {
                if environment == nil { environment = procFile(pid, "environ", procRoot: procRoot) }
                return environment ?? nil
            }
            for (key, identity) in identities where identity.matches(commandLine: commandLine, environment: readEnvironment) {
                let leader = getsid(pid) == pid
                if let existing = found[key], existing.leader && !leader || existing.leader == leader && existing.pid < pid { continue }
                found[key] = (pid, leader)
            }
        }
        return found.mapValues(\.pid)
    }

    /// The command line of a process with its NUL separators turned into spaces, or `nil` when the
    /// process does not exist or is a zombie.
    public static func commandLine(of pid: Int32, procRoot: String = "/proc") -> String? {
        guard let bytes = procFile(pid, "cmdline", procRoot: procRoot), !bytes.isEmpty else { return nil }
        return String(decoding: bytes.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    /// The contents of `/proc/<pid>/<file>`, at most 1 MiB, or `nil` when it cannot be read (no
    /// such process, or another user's environment).
    package static func procFile(_ pid: Int32, _ file: String, procRoot: String = "/proc") -> [UInt8]? {
        let fd = open("\(procRoot)/\(pid)/\(file)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// Sends a signal to a process group (the agent's session), falling back to the process.
    public static func signalGroup(_ pid: Int32, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}
