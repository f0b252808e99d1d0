// Rendering diagnostics for people (text), machines (json, format_version 1) and CI
// (GitHub workflow annotations). File names are shown joined to `display_root`, the
// repository as the user named it, so they open from where gwctl was run.
#pragma once

#include <ostream>
#include <string>

#include "gwctl/diagnostics.h"

namespace gwctl {

enum class OutputFormat { kText, kJson, kGithub };

struct DiagnosticOutput {
  OutputFormat format = OutputFormat::kText;
  std::string display_root;  // "" or "." for the current directory
  bool color = false;
  size_t files = 0;  // files read, for the summary
};

void WriteDiagnostics(std::ostream& out, const Diagnostics& diagnostics,
                      const DiagnosticOutput& options);

// "examples/customers/acme.yaml:12:5", or the file alone when the line is unknown.
std::string FormatLocation(const Location& location, const std::string& display_root);

}  // namespace gwctl
