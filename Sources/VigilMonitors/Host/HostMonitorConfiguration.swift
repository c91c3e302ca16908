//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of the host sampler.
///
/// TOML section `[host]`:
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `enabled` | bool | `true` | sample this machine |
/// | `interval` | duration | `"5s"` | time between samples |
/// | `name` | string | the machine's host name | the target name (`host/<name>`) |
/// | `disks` | list of paths | `["/"]` | file systems whose usage is reported |
/// | `interfaces` | list of names | all but `lo` | network interfaces reported |
/// | `processes` | list of names | none | processes (`/proc/<pid>/comm`) whose count, CPU and memory are reported |
/// | `proc_root` | string | `"/proc"` | where procfs is mounted (for containers and tests) |
public struct HostMonitorConfiguration: Sendable, Hashable {
    /// Whether the host is sampled.
    public var enabled: Bool
    /// Time between samples.
    public var interval: Duration
    /// The target name.
    public var name: String
    /// Mount points whose usage is reported.
    public var disks: [String]
    /// Interfaces to report; empty means every interface except `lo`.
    public var interfaces: [String]
    /// Process names whose count, CPU time and resident memory are reported.
    public var processes: [String]
    /// Where procfs is mounted.
    public var procRoot: String

    /// What the sampler reads.
    public var samplerSettings: HostSampler.Settings {
        HostSampler.Settings(disks: disks, interfaces: interfaces, processes: processes, procRoot: procRoot)
    }

    /// Creates a configuration with the defaults listed above.
    public init(
        enabled: Bool = true,
        interval: Duration = .seconds(5),
        name: String = HostMonitorConfiguration.systemHostName(),
        disks: [String] = ["/"],
        interfaces: [String] = [],
        processes: [String] = [],
        procRoot: String = "/proc"
    ) {
        self.processes = processes
        self.enabled = enabled
        self.interval = interval
        self.name = name
        self.disks = disks
        self.interfaces = interfaces
        self.procRoot = procRoot
    }

    /// The machine's host name, or `localhost` when it cannot be read.
    public static func systemHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
