//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import VigilAnnouncer
public import VigilWeb

/// The Announcer behind VigilWeb's announce routes: decodes a request body into an
/// ``Announcement`` and submits it.
public struct AnnouncerIntake: AnnouncementIntake {
    private let announcer: Announcer

    /// Creates the adapter.
    public init(announcer: Announcer) {
        self.announcer = announcer
    }

    public func submit(_ kind: AnnouncementKind, body: [UInt8]) async -> AnnouncementIntakeResult {
        let announcement: Announcement
        do throws(AnnouncementError) {
            switch kind {
            case .channel: announcement = try Announcement.channel(json: Data(body))
            case .users: announcement = try Announcement.users(json: Data(body))
            }
        } catch {
            return .badBody(error.description)
        }
        let receipt: Announcer.Receipt
        do throws(Announcer.SubmitError) {
            receipt = try await announcer.submit(announcement)
        } catch .invalid(let reason) {
            return .invalid(reason)
        } catch {
            return .busy(error.description)
        }
        return accepted(receipt)
    }

    public func retry(id: String) async -> AnnouncementIntakeResult {
        do throws(Announcer.RetryError) {
            return accepted(try await announcer.retry(id: id))
        } catch .notFound {
            return .notFound(Announcer.RetryError.notFound.description)
        } catch .notFailed {
            return .conflict(Announcer.RetryError.notFailed.description)
        } catch {
            return .busy(error.description)
        }
    }

    private func accepted(_ receipt: Announcer.Receipt) -> AnnouncementIntakeResult {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return .accepted(receipt: Array((try? encoder.encode(receipt)) ?? Data("{}".utf8)))
    }
}
