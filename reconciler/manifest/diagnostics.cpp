#include "gwctl/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace gwctl {

std::string FileAndLine(const Location& location) {
  return location.line > 0 ? location.file + ":" + std::to_string(location.line) : location.file;
}

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

void Diagnostics::Deduplicate() {
  Sort();
  auto same_place = [](const Location& a, const Location& b) {
    return a.file == b.file && a.line == b.line && a.column == b.column;
  };
  std::vector<Diagnostic> kept;
  for (size_t i = 0; i < items_.size(); ++i) {
    const Diagnostic& d = items_[i];
    if (!kept.empty() && same_place(kept.back().location, d.location) &&
        kept.back().message == d.message)
      continue;
    bool schema_here = false;
    for (size_t j = i; j-- > 0 && same_place(items_[j].location, d.location);)
      schema_here |= items_[j].rule == "schema";
    for (size_t j = i + 1; j < items_.size() && same_place(items_[j].location, d.location); ++j) {
      schema_here |= items_[j].rule == "schema";
    }
    if (schema_here && d.rule != "schema" && d.location.line > 0) continue;
    kept.push_back(d);
  }
  items_ = std::move(kept);
  errors_ =
      static_cast<size_t>(std::count_if(items_.begin(), items_.end(), [](const Diagnostic& d) {
        return d.severity == Severity::kError;
      }));
}

}  // namespace gwctl
