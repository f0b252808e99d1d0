// A TCP connection for the engine's small clients (SMTP to Postfix and customers'
// servers, socketmap to gatewayd, IMAP to Dovecot): blocking calls, each bounded by the
// same timeout, errors as kUnavailable naming the server; STARTTLS on request. Not for
// servers: those are Asio's.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gateway/endpoint.h"
#include "gateway/network_policy.h"
#include "gateway/status.h"

namespace gw {

// OpenSSL writes with write(2), which raises SIGPIPE on a connection the peer closed and
// would end the process: the signal is blocked in this thread for the guard's life, and
// one it raised is taken before the mask is restored.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
  }
  ~SigpipeGuard() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      timespec none{0, 0};
      sigtimedwait(&pipe_, nullptr, &none);
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, previous_;
};

class BlockingSocket {
 public:
  BlockingSocket(Endpoint server, std::string protocol, std::chrono::milliseconds timeout)
      : server_(std::move(server)), protocol_(std::move(protocol)), timeout_(timeout) {}
  ~BlockingSocket() {
    if (ssl_) SSL_free(ssl_);
    if (context_) SSL_CTX_free(context_);
    if (fd_ >= 0) close(fd_);
  }
  BlockingSocket(const BlockingSocket&) = delete;
  BlockingSocket& operator=(const BlockingSocket&) = delete;

  // With `networks`, the address the server's name resolves to must pass it (checked on
  // the address connected to, so a name cannot resolve one way for a check and another
  // for the connection).
  Status Connect(const DestinationNetworks* networks = nullptr) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(server_.port);
    if (int rc = getaddrinfo(server_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
      return Unavailable(gai_strerror(rc));
    if (networks) {
      if (Status allowed = networks->Check(found->ai_addr); !allowed.ok()) {
        freeaddrinfo(found);
        return Status(StatusCode::kPermissionDenied,
                      fmt::format("{} {}: {}", protocol_, server_.ToString(), allowed.message()));
      }
    }
    fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd_ < 0 ? -1 : connect(fd_, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (fd_ < 0 || (rc != 0 && errno != EINPROGRESS)) return Unavailable(std::strerror(errno));
    if (!Wait(POLLOUT)) return Unavailable("no connection in time");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return Unavailable(std::strerror(error));
    return Status::Ok();
  }

  Status Send(std::string_view bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      if (ssl_) {
        SigpipeGuard guard;
        int n = SSL_write(ssl_, bytes.data() + sent, static_cast<int>(bytes.size() - sent));
        if (n > 0) {
          sent += static_cast<size_t>(n);
        } else if (!AwaitTls(n, "the server stopped reading")) {
          return Unavailable(tls_problem_);
        }
        continue;
      }
      if (!Wait(POLLOUT)) return Unavailable("the server stopped reading");
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return Unavailable(std::strerror(errno));
      if (n > 0) sent += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  // Appends what arrives to `buffer`; `step` names what was awaited, for the message.
  Status Receive(std::string& buffer, const std::string& step) {
    char chunk[16384];
    if (ssl_) {
      SigpipeGuard guard;
      for (;;) {
        int n = SSL_read(ssl_, chunk, sizeof chunk);
        if (n > 0) {
          buffer.append(chunk, static_cast<size_t>(n));
          return Status::Ok();
        }
        if (!AwaitTls(n, "no answer in time to " + step)) return Unavailable(tls_problem_);
      }
    }
    if (!Wait(POLLIN)) return Unavailable("no answer in time to " + step);
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return Unavailable("closed the connection at " + step);
    if (n < 0 && errno != EAGAIN) return Unavailable(std::strerror(errno));
    if (n > 0) buffer.append(chunk, static_cast<size_t>(n));
    return Status::Ok();
  }

  // TLS from here on (after the protocol's STARTTLS was accepted), opportunistic: the
  // certificate is not checked, as Postfix's `may` does not, so a passive listener
  // learns nothing while an active one could still. SNI names `server_name`.
  Status StartTls(const std::string& server_name) {
    context_ = SSL_CTX_new(TLS_client_method());
    if (!context_) return Unavailable("cannot set up TLS");
    SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
    ssl_ = SSL_new(context_);
    if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) return Unavailable("cannot set up TLS");
    in6_addr literal;  // SNI names hosts, never addresses (RFC 6066)
    if (inet_pton(AF_INET, server_name.c_str(), &literal) != 1 &&
        inet_pton(AF_INET6, server_name.c_str(), &literal) != 1) {
      SSL_set_tlsext_host_name(ssl_, server_name.c_str());
    }
    SigpipeGuard guard;
    for (int n; (n = SSL_connect(ssl_)) != 1;) {
      if (!AwaitTls(n, "no TLS handshake in time")) return Unavailable(tls_problem_);
    }
    return Status::Ok();
  }

  Status Unavailable(const std::string& why) const {
    return Status(StatusCode::kUnavailable,
                  fmt::format("{} {}: {}", protocol_, server_.ToString(), why));
  }
  const Endpoint& server() const { return server_; }

 private:
  bool Wait(short events) {
    pollfd p{fd_, events, 0};
    return poll(&p, 1, static_cast<int>(timeout_.count())) == 1;
  }

  // After an SSL call returned `result` <= 0: waits for what it wants and says true, or
  // says false with tls_problem_ set.
  bool AwaitTls(int result, const std::string& timed_out) {
    int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      if (Wait(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) return true;
      tls_problem_ = timed_out;
      return false;
    }
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    tls_problem_ =
        error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && code == 0)
            ? "closed the TLS connection"
            : fmt::format("TLS: {}", code ? ERR_reason_error_string(code) : "handshake failed");
    return false;
  }

  Endpoint server_;
  std::string protocol_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string tls_problem_;
};

}  // namespace gw
