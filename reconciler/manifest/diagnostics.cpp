#include "gwctl/diagnostics.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

namespace {

std::string DisplayPath(const std::string& file, const std::string& root) {
  if (root.empty() || root == ".") return file.empty() ? "." : file;
  if (file.empty()) return root;
  return (std::filesystem::path(root) / file).lexically_normal().generic_string();
}

const char* SeverityName(Severity s) {
  return s == Severity::kError ? "error" : "warning";
}

std::string Plural(size_t n, const char* word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// GitHub's workflow-command escaping: data escapes %, CR, LF; properties also : and ,.
std::string GithubEscape(const std::string& text, bool property) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '%':
        out += "%25";
        break;
      case '\r':
        out += "%0D";
        break;
      case '\n':
        out += "%0A";
        break;
      case ':':
        out += property ? "%3A" : ":";
        break;
      case ',':
        out += property ? "%2C" : ",";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string FormatLocation(const Location& location, const std::string& display_root) {
  std::string path = DisplayPath(location.file, display_root);
  if (location.line <= 0) return path;
  if (location.column <= 0) return fmt::format("{}:{}", path, location.line);
  return fmt::format("{}:{}:{}", path, location.line, location.column);
}

void WriteDiagnostics(std::ostream& out, const Diagnostics& diagnostics,
                      const DiagnosticOutput& options) {
  switch (options.format) {
    case OutputFormat::kJson: {
      nlohmann::json items = nlohmann::json::array();
      for (const auto& d : diagnostics.items()) {
        items.push_back({{"file", DisplayPath(d.location.file, options.display_root)},
                         {"line", d.location.line},
                         {"column", d.location.column},
                         {"severity", SeverityName(d.severity)},
                         {"rule", d.rule},
                         {"message", d.message}});
      }
      nlohmann::json document = {{"format_version", 1},
                                 {"valid", !diagnostics.has_errors()},
                                 {"errors", diagnostics.error_count()},
                                 {"warnings", diagnostics.warning_count()},
                                 {"files", options.files},
                                 {"diagnostics", std::move(items)}};
      out << document.dump(2) << "\n";
      return;
    }
    case OutputFormat::kGithub:
      for (const auto& d : diagnostics.items()) {
        std::string properties =
            "file=" + GithubEscape(DisplayPath(d.location.file, options.display_root), true);
        if (d.location.line > 0) properties += fmt::format(",line={}", d.location.line);
        if (d.location.column > 0) properties += fmt::format(",col={}", d.location.column);
        properties += ",title=" + GithubEscape("gwctl " + d.rule, true);
        out << "::" << SeverityName(d.severity) << " " << properties
            << "::" << GithubEscape(d.message, false) << "\n";
      }
      [[fallthrough]];  // the summary line is useful in the job log too
    case OutputFormat::kText: {
      if (options.format == OutputFormat::kText) {
        for (const auto& d : diagnostics.items()) {
          const char* severity = SeverityName(d.severity);
          std::string label = options.color
                                  ? fmt::format("\033[1;{}m{}\033[0m",
                                                d.severity == Severity::kError ? 31 : 33, severity)
                                  : std::string(severity);
          out << FormatLocation(d.location, options.display_root) << ": " << label << ": "
              << d.message << " [" << d.rule << "]\n";
        }
      }
      std::string summary = diagnostics.has_errors() ? "invalid" : "valid";
      out << fmt::format("{}: {}, {} in {}\n", summary, Plural(diagnostics.error_count(), "error"),
                         Plural(diagnostics.warning_count(), "warning"),
                         Plural(options.files, "file"));
      return;
    }
  }
}

}  // namespace gwctl
