// Test support: a child process (gatewayd, gwctl) started by the test, with its stderr
// readable line by line, stopped by the test. Never left running: the destructor kills it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace gwtest {

// A fresh directory under the system's temporary directory, named after `prefix`.
inline std::filesystem::path MakeTempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  return mkdtemp(pattern.data());
}

// A file's whole content ("" when it cannot be read).
inline std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` with sh, waits for it, and returns its output.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class ChildProcess {
 public:
  // `run_as_uid` >= 0 runs the child as that user (a root test simulating a service account).
  explicit ChildProcess(const std::vector<std::string>& argv, int run_as_uid = -1) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(pipe_fds[1], STDERR_FILENO);
      int null = open("/dev/null", O_RDWR);
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      close(pipe_fds[0]);
      if (run_as_uid >= 0 && (setgid(run_as_uid) != 0 || setuid(run_as_uid) != 0)) _exit(126);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(pipe_fds[1]);
    stderr_fd_ = pipe_fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stderr_fd_ >= 0) close(stderr_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // What the child wrote to stderr so far (reading what is waiting in the pipe first).
  const std::string& output() {
    while (stderr_fd_ >= 0 && ReadSome(0)) {
    }
    return output_;
  }

  // Reads stderr until a line contains `needle`; returns that line, or nothing on
  // timeout or exit.
  std::optional<std::string> WaitForLine(
      const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t scanned = output_consumed_;  // continue after the previous match
    while (true) {
      for (size_t end; (end = output_.find('\n', scanned)) != std::string::npos;
           scanned = end + 1) {
        std::string line = output_.substr(scanned, end - scanned);
        if (line.find(needle) != std::string::npos) {
          output_consumed_ = end + 1;
          return line;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !ReadSome(static_cast<int>(left.count()))) return std::nullopt;
    }
  }

  // Reads stderr until it contains `needle` anywhere, also before an earlier match (for
  // lines whose order against the others is not fixed); false on timeout or exit.
  bool WaitForOutput(const std::string& needle,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !ReadSome(static_cast<int>(left.count()))) return false;
    }
    return true;
  }

  void Signal(int signal) { kill(pid_, signal); }

  // Whether the child has exited (without waiting); its output is then read in full.
  bool Exited() {
    if (exited_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exited_ = true;
    while (ReadSome(100)) {
    }
    return true;
  }

  // Waits for exit; returns the exit code, or 128+signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    while (ReadSome(100)) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  bool ReadSome(int timeout_ms) {
    pollfd fd{stderr_fd_, POLLIN, 0};
    if (poll(&fd, 1, timeout_ms) <= 0) return false;
    char buffer[4096];
    ssize_t n = read(stderr_fd_, buffer, sizeof buffer);
    if (n <= 0) return false;
    output_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  bool exited_ = false;
  std::string output_;
  size_t output_consumed_ = 0;
};

// The processes whose parent is `parent` (from /proc): the workers of a server that
// forks, to stop them too when it cannot.
inline std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string pid, name, state;
    pid_t ppid = 0;
    if (stat >> pid >> name >> state >> ppid && ppid == parent) pids.push_back(std::stoi(pid));
  }
  return pids;
}

}  // namespace gwtest
