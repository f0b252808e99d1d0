#include "gwctl/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace gwctl {

void Diagnostics::Error(Location where, std::string rule, std::string message) {
  Add({Severity::kError, std::move(where), std::move(message), std::move(rule)});
}

void Diagnostics::Warning(Location where, std::string rule, std::string message) {
  Add({Severity::kWarning, std::move(where), std::move(message), std::move(rule)});
}

void Diagnostics::Add(Diagnostic diagnostic) {
  if (diagnostic.severity == Severity::kError) ++errors_;
  items_.push_back(std::move(diagnostic));
}

void Diagnostics::Append(const Diagnostics& other) {
  for (const auto& d : other.items_) Add(d);
}

void Diagnostics::Sort() {
  std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.location.file, a.location.line, a.location.column, a.severity, a.message) <
           std::tie(b.location.file, b.location.line, b.location.column, b.severity, b.message);
  });
}

}  // namespace gwctl
