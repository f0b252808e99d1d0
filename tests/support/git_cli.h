// Test support: runs the git CLI hermetically (no system or user configuration).
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace gwtest {

// Runs `git ARGS` in `dir`; returns its output (stdout and stderr). A failure fails the test.
inline std::string Git(const std::filesystem::path& dir, const std::string& args) {
  std::string command = fmt::format(
      "cd '{}' && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=Test -c "
      "user.email=t@example.com "
      "-c init.defaultBranch=main -c advice.detachedHead=false {} 2>&1",
      dir.string(), args);
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command << "\n" << output;
  return output;
}

}  // namespace gwtest
