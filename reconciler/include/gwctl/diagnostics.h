// Diagnostics: mistakes in the user's input, each at a location, collected rather than
// thrown so that one run reports every mistake in the repository. Failures of the
// environment (an unreadable directory, a gateway that is down) are gw::Status, not
// diagnostics. They render for people (text), machines (json, format_version 1) and CI
// (GitHub workflow annotations), file names joined to the repository as the user named
// it, so they open from where gwctl was run.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace gwctl {

// A place in the repository. `file` is relative to the repository root, '/'-separated
// ("customers/acme.yaml"); empty for the repository as a whole. Line and column are
// 1-based; 0 means "the whole file" (or "the whole line").
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
};

// "customers/acme.yaml:12", for naming another place inside a message.
std::string FileAndLine(const Location& location);

enum class Severity { kError, kWarning };

struct Diagnostic {
  Severity severity = Severity::kError;
  Location location;
  std::string message;
  std::string rule;  // a stable id such as "domain-duplicate", for filtering and docs
};

class Diagnostics {
 public:
  void Error(Location where, std::string rule, std::string message);
  void Warning(Location where, std::string rule, std::string message);
  void Add(Diagnostic diagnostic);
  void Append(const Diagnostics& other);

  // Orders by file, line, column, then severity and message: the order people read in.
  void Sort();

  // Sorts, then keeps one diagnostic per message and place (a mistake in defaults.yaml
  // is found through every customer that inherits it), and one per value: where the
  // schema already rejected a value, the rules' findings at the same place are dropped.
  void Deduplicate();

  const std::vector<Diagnostic>& items() const { return items_; }
  size_t error_count() const { return errors_; }
  size_t warning_count() const { return items_.size() - errors_; }
  bool has_errors() const { return errors_ > 0; }

 private:
  std::vector<Diagnostic> items_;
  size_t errors_ = 0;
};

// How diagnostics are rendered (WriteDiagnostics).
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
