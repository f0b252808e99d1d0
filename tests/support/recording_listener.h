// Test support: a loopback server an attacker would run, keeping every byte it is sent.
// Each connection is read until the peer closes it or stays silent for a moment; an
// HTTP request (a head ending in a blank line) is answered 401, anything else (an LDAP
// bind) gets no answer and is closed. Tests assert on what it received: the connections
// made, and whether any byte sequence (a secret) reached it.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hostile_clients.h"
#include "loopback.h"

namespace gwtest {

class RecordingListener {
 public:
  RecordingListener() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address = Loopback();
    socklen_t length = sizeof address;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RecordingListener() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  RecordingListener(const RecordingListener&) = delete;
  RecordingListener& operator=(const RecordingListener&) = delete;

  int port() const { return port_; }  // 0 if it could not listen

  size_t connections() const {
    std::lock_guard lock(mutex_);
    return received_.size();
  }
  // Everything every connection sent, one after another.
  std::string received() const {
    std::lock_guard lock(mutex_);
    std::string all;
    for (const auto& bytes : received_) all += bytes;
    return all;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      Received got = ReadUntil(client, std::chrono::milliseconds(500), [](const std::string& b) {
        return b.find("\r\n\r\n") != std::string::npos;
      });
      if (got.bytes.find("\r\n\r\n") != std::string::npos) {
        SendAll(client,
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      }
      close(client);
      std::lock_guard lock(mutex_);
      received_.push_back(std::move(got.bytes));
    }
  }

  int fd_;
  int port_ = 0;
  std::atomic<bool> stop_ = false;
  mutable std::mutex mutex_;
  std::vector<std::string> received_;
  std::thread thread_;
};

}  // namespace gwtest
