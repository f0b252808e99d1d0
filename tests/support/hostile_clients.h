// Test support: clients that misbehave on purpose. SlowClients holds many connections
// open, each sending a request head one byte at a time (reconnecting when the server
// closes one, as an attacker would); RawExchange sends bytes and reads whatever comes
// back; ProcessRssKib reads a process's resident memory.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/http_server.h"

namespace gwtest {

inline int PortOf(const std::string& url) {
  return std::stoi(url.substr(url.rfind(':') + 1));
}

// Connects to 127.0.0.1:port from `from` (any 127.x.y.z address is this machine).
inline int ConnectLoopback(int port, const char* from = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

struct Received {
  std::string bytes;
  bool closed = false;  // the peer closed (or reset) the connection
};

// Reads until the peer closes, `timeout` passes, or `done(bytes)` holds.
inline Received ReadUntil(int fd, std::chrono::milliseconds timeout,
                          const std::function<bool(const std::string&)>& done = nullptr) {
  Received got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[16384];
  while (!done || !done(got.bytes)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      got.closed = true;
      break;
    }
    got.bytes.append(buffer, static_cast<size_t>(n));
  }
  return got;
}

inline std::string ReadFor(int fd, std::chrono::milliseconds timeout, size_t enough = 1 << 20) {
  return ReadUntil(fd, timeout, [enough](const std::string& b) { return b.size() >= enough; })
      .bytes;
}

// Whether the server closes `fd` within `timeout` (what it sends first is dropped).
inline bool ClosedWithin(int fd, std::chrono::milliseconds timeout) {
  return ReadUntil(fd, timeout).closed;
}

// Sends `request` on a new connection and returns what the server answers within
// `timeout`: until it closes the connection or the answer is complete.
inline std::string RawExchange(int port, std::string_view request,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  SendAll(fd, request);
  auto complete = [](const std::string& answer) {
    size_t head_end = answer.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    size_t length_at = answer.find("Content-Length: ");
    size_t length = length_at == std::string::npos ? 0 : std::stoul(answer.substr(length_at + 16));
    return answer.size() >= head_end + 4 + length;
  };
  std::string answer = ReadUntil(fd, timeout, complete).bytes;
  close(fd);
  return answer;
}

inline int StatusOf(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(answer.substr(9, 3)) : 0;
}

inline long ProcessRssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

class SlowClients {
 public:
  SlowClients(int port, int count, std::string head_start = "GET /v1/partn",
              std::chrono::milliseconds interval = std::chrono::seconds(1))
      : port_(port), head_start_(std::move(head_start)), interval_(interval) {
    gw::RaiseOpenFileLimit();  // for the test's own sockets
    for (int i = 0; i < count; ++i) fds_.push_back(Open());
    thread_ = std::thread([this] { Trickle(); });
  }
  ~SlowClients() { Stop(); }
  SlowClients(const SlowClients&) = delete;
  SlowClients& operator=(const SlowClients&) = delete;

  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  int connected() const { return connected_; }
  int reconnects() const { return reconnects_; }

 private:
  int Open() {
    int fd = ConnectLoopback(port_);
    if (fd >= 0 && SendAll(fd, head_start_)) {
      ++connected_;
      return fd;
    }
    if (fd >= 0) close(fd);
    return -1;
  }

  void Trickle() {
    while (!stop_) {
      auto next = std::chrono::steady_clock::now() + interval_;
      for (int& fd : fds_) {
        if (stop_) break;
        char c = 't';
        if (fd >= 0 && send(fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) continue;
        if (fd >= 0) close(fd);
        ++reconnects_;
        fd = Open();
      }
      while (!stop_ && std::chrono::steady_clock::now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  int port_;
  std::string head_start_;
  std::chrono::milliseconds interval_;
  std::vector<int> fds_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connected_{0}, reconnects_{0};
};

}  // namespace gwtest
