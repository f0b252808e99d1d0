// Test support: a customer's mail server as the continuity monitor's probe sees it. It
// greets, answers EHLO and MAIL with 250 and RCPT with `rcpt_reply` (any answer, even a
// 5xx, means the server is up), on a loopback port, until destroyed.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "hostile_clients.h"

namespace gwtest {

class SmtpResponder {
 public:
  explicit SmtpResponder(int port, std::string rcpt_reply = "550 5.1.1 no such user\r\n")
      : rcpt_reply_(std::move(rcpt_reply)) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<uint16_t>(port));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listening_ = bind(listener_, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0 &&
                 listen(listener_, 8) == 0;
    if (listening_) thread_ = std::thread([this] { Serve(); });
  }
  ~SmtpResponder() {
    serving_ = false;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    if (thread_.joinable()) thread_.join();
  }
  SmtpResponder(const SmtpResponder&) = delete;
  SmtpResponder& operator=(const SmtpResponder&) = delete;

  bool listening() const { return listening_; }

 private:
  void Serve() {
    while (serving_) {
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      SendAll(client, "220 mx ESMTP\r\n");
      for (const std::string& reply :
           {std::string("250 mx\r\n"), std::string("250 ok\r\n"), rcpt_reply_}) {
        ReadUntil(client, std::chrono::seconds(2),
                  [](const std::string& b) { return b.find('\n') != std::string::npos; });
        SendAll(client, reply);
      }
      close(client);
    }
  }

  std::string rcpt_reply_;
  int listener_ = -1;
  bool listening_ = false;
  std::atomic<bool> serving_{true};
  std::thread thread_;
};

}  // namespace gwtest
