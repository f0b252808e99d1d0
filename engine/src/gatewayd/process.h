// What gatewayd's parts share about this process: its log, its replica name, and the
// key files it reads.
#pragma once

#include <string>

#include "gateway/status.h"

namespace gatewayd {

// One line on stderr, prefixed "gatewayd: " (journald adds the time).
void Log(const std::string& message);

// Tells systemd (Type=notify) of a state change, "READY=1", "RELOADING=1", "STOPPING=1";
// nothing when not started by systemd ($NOTIFY_SOCKET unset).
void NotifySystemd(const std::string& state);

// The first line of a key file; kInvalidArgument naming the file when there is none.
gw::Result<std::string> ReadKeyFile(const std::string& path);

// A file's whole content; kUnavailable naming it when it cannot be read.
gw::Result<std::string> ReadWholeFile(const std::string& path);

// The default replica name: this host and process.
std::string DefaultReplicaName();

// Whether `replica` is a default name of this host whose process no longer exists: a
// gatewayd that crashed here, whose job leases need not be waited out.
bool ReplicaGone(const std::string& replica);

}  // namespace gatewayd
