// gatewayd serving: the store, the tokens, the admin API, the mail lookups and
// continuity, domain verification and housekeeping, started from `flags` and stopped by
// SIGTERM/SIGINT (SIGHUP re-reads the tokens). Returns the exit code.
#pragma once

#include "gatewayd/flags.h"

namespace gatewayd {

int Serve(ServeFlags flags);

}  // namespace gatewayd
