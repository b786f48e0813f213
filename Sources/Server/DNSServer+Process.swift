// DNSServer+Process: the process around the server — the user it runs as after binding (signals: `Application`).

import CUplinkSys
import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import Responder
import Synchronization
import Uplinks
import Zones

extension DNSServer {
    /// Runs as `user` from now on (`server.user`): after every socket is bound, the state directory (and what is in
    /// it) is given to the user, then the supplementary groups, the group and the user are set — in that order, so
    /// that nothing can be regained. glibc applies setuid to every thread. Started as that user already: nothing
    /// to do; as anyone else but root: an error.
    func dropPrivileges(to user: String, stateDirectory: String) throws {
        guard let pw = getpwnam(user) else {
            throw PrivilegeError(description: "server.user: no user '\(user)' on this system")
        }
        let (uid, gid) = (pw.pointee.pw_uid, pw.pointee.pw_gid)
        if getuid() == uid && geteuid() == uid { return }
        guard geteuid() == 0 else {
            throw PrivilegeError(
                description: "server.user is \(user), but the server runs as uid \(geteuid()), not root")
        }
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        var paths = [stateDirectory]
        paths +=
            (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory))?.map {
                (stateDirectory as NSString).appendingPathComponent($0)
            } ?? []
        for p in paths { _ = chown(p, uid, gid) }
        var groups = [gid]
        guard setgroups(1, &groups) == 0, setgid(gid) == 0, setuid(uid) == 0, setuid(0) != 0 else {
            throw PrivilegeError(description: "cannot drop privileges to \(user): \(String(cString: strerror(errno)))")
        }
        logger.notice("running as \(user) (uid \(uid), gid \(gid))")
    }
}
