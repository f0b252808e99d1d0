// Process exit codes shared by every gwctl command, as CI scripts rely on them.
#pragma once

namespace gwctl {

enum ExitCode : int {
  kExitOk = 0,           // valid / no changes / converged
  kExitInvalid = 1,      // the manifests have errors
  kExitChanges = 2,      // plan: there are changes
  kExitRefused = 3,      // a safety limit refused the plan
  kExitCouldNotRun = 4,  // the environment failed: unreadable input, gateway down, bad usage
};

}  // namespace gwctl
