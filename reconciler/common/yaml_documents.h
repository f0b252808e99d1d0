// Reading YAML into LocatedDocuments (gwctl/manifests.h), with the YAML 1.2 core schema:
// `yes`, `no`, `on` and `08:00` are strings, not booleans or sexagesimal numbers.
// Duplicate keys, non-string keys, anchors that expand past a size limit, invalid UTF-8
// and files over a size limit are diagnostics; the parser never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gwctl/diagnostics.h"
#include "gwctl/manifests.h"
#include "gwctl/validate.h"

namespace gwctl {

// Parses every document of one file. `file` is the repository-relative name used in
// diagnostics. Empty documents (only comments) are skipped.
std::vector<LocatedDocument> ParseYamlDocuments(const std::string& file, std::string_view text,
                                                Diagnostics& diagnostics,
                                                const YamlLimits& limits = {});

// Position of the first invalid UTF-8 byte (1-based line, column), if any.
bool FindInvalidUtf8(std::string_view text, int& line, int& column);

}  // namespace gwctl
