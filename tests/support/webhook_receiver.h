// A webhook receiver for tests: an HTTP server on a kernel-chosen loopback port that
// records every POST (path, body, X-Gateway-Signature); one path can be made to answer 500.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace gwtest {

class WebhookReceiver {
 public:
  struct Request {
    std::string path, body, signature;
  };
  WebhookReceiver() {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      requests_.push_back({req.path, req.body, req.get_header_value("X-Gateway-Signature")});
      res.status = failing_ == req.path ? 500 : 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void Fail(const std::string& path) {
    std::lock_guard lock(mutex_);
    failing_ = path;
  }
  std::vector<Request> Take() {
    std::lock_guard lock(mutex_);
    return std::exchange(requests_, {});
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Request> requests_;
  std::string failing_;
};

}  // namespace gwtest
