// One connection of the admin HTTP server: heads, bodies within the server's budget,
// dispatch to a worker or inline, answers, keep-alive and every deadline (http_core.h).
#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "api/http_core.h"
#include "api/http_target.h"

namespace gw::httpd {

namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

template <typename Stream>
class Session : public Connection {
 public:
  template <typename... Args>
  Session(ServerCore& server, Args&&... args)
      : server_(server), stream_(std::forward<Args>(args)...) {}

  // The first head's deadline runs from accept, across the TLS handshake.
  void Start() override {
    Transport().socket().set_option(tcp::no_delay(true));
    NewParser();
    Transport().expires_after(server_.options.limits.head_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = Self()](beast::error_code ec) {
                                if (ec) return self->Fail(ec);
                                self->ReadHead();
                              });
    } else {
      ReadHead();
    }
  }

  void Close() override {
    if (closed) return;
    closed = true;
    ReleaseBody();
    beast::error_code ignored;
    Transport().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Transport().close();
    server_.Unregister(*this);
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Transport() { return beast::get_lowest_layer(stream_); }
  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }

  void Enter(Phase next) {
    phase = next;
    // Only a connection without a complete request head may be displaced.
    server_.admission.Enter(admitted, next == Phase::kIdle   ? Admission::State::kIdle
                                      : next == Phase::kHead ? Admission::State::kPartial
                                                             : Admission::State::kBusy);
  }

  void ReleaseBody() {
    server_.ReleaseBody(reserved_);
    reserved_ = 0;
  }

  void NewParser() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.limits.max_head_bytes));
    parser_->body_limit(server_.options.limits.max_body_bytes);
  }

  // Between requests: wait for the first byte of the next one within the idle timeout.
  void ReadNext() {
    NewParser();
    if (buffer_.size() > 0) return NextHead();  // pipelined
    Enter(Phase::kIdle);
    Transport().expires_after(server_.options.limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = Self()](beast::error_code ec, size_t bytes) {
                              if (ec) return self->Fail(ec);
                              self->buffer_.commit(bytes);
                              self->NextHead();
                            });
  }

  // A later request's head: its deadline runs from its first byte.
  void NextHead() {
    Enter(Phase::kHead);
    Transport().expires_after(server_.options.limits.head_timeout);
    ReadHead();
  }

  void ReadHead() {
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](beast::error_code ec, size_t) {
                              if (ec) return self->Fail(ec);
                              self->OnHead();
                            });
  }

  // The head is complete: route it, let the owner check it, and only then read a body.
  void OnHead() {
    const auto& head = parser_->get();
    keep_alive_ = head.keep_alive();
    request_ = std::make_shared<HttpRequest>();
    HttpRequest& request = *request_;
    request.method = std::string(head.method_string());
    std::string_view target(head.target().data(), head.target().size());
    size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    request.remote_address = address;
    for (const auto& field : head)
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));

    if (target.empty() || target.front() != '/')
      return Refuse(400, "the request target must be a path");
    auto segments = DecodePath(request.path);
    if (!segments.ok()) return Refuse(400, segments.status().message());
    if (question != std::string_view::npos) {
      auto params = ParseQuery(target.substr(question + 1));
      if (!params) return Refuse(400, "the query has an invalid %-escape");
      request.params = std::move(*params);
    }
    std::string allowed;
    std::vector<std::string> captures;
    for (const auto& entry : server_.routes) {
      if (!entry.Matches(*segments, captures)) continue;
      if (entry.method == request.method) {
        route_ = &entry;
        break;
      }
      allowed += (allowed.empty() ? "" : ", ") + entry.method;
    }
    if (!route_) {
      if (allowed.empty()) return Refuse(404, "no such resource");
      HttpResponse response = server_.ErrorAnswer(
          405, fmt::format("{} is not allowed here; use {}", request.method, allowed));
      response.SetHeader("Allow", allowed);
      return Answer(std::move(response));
    }
    request.route = route_->pattern_text;
    request.matches.push_back(request.path);
    for (auto& capture : captures) request.matches.push_back(std::move(capture));

    if (server_.options.check_head) {
      if (auto refusal = server_.options.check_head(request)) return Answer(std::move(*refusal));
    }
    if (!parser_->is_done()) {
      // Chunked bodies may grow to the limit: reserve all of it.
      reserved_ = parser_->content_length().value_or(server_.options.limits.max_body_bytes);
      if (!server_.ReserveBody(reserved_)) {
        reserved_ = 0;
        HttpResponse busy = server_.ErrorAnswer(
            503, "the gateway is receiving too many request bodies at once; try again");
        busy.SetHeader("Retry-After", "1");
        return Answer(std::move(busy));
      }
    }
    if (!beast::iequals(head[http::field::expect], "100-continue") || parser_->is_done()) {
      return ReadBody();
    }
    Transport().expires_after(server_.options.limits.write_timeout);
    auto proceed =
        std::make_shared<http::response<http::empty_body>>(http::status::continue_, head.version());
    http::async_write(stream_, *proceed, [self = Self(), proceed](beast::error_code ec, size_t) {
      if (ec) return self->Fail(ec);
      self->ReadBody();
    });
  }

  void ReadBody() {
    if (parser_->is_done()) return Dispatch();
    Enter(Phase::kBody);
    Transport().expires_after(server_.options.limits.body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->Fail(ec);
      self->Dispatch();
    });
  }

  void Dispatch() {
    Transport().expires_never();
    request_->body = std::move(parser_->get().body());
    const RouteEntry* route = route_;
    if (route->inline_answer) return Answer(Run(*route, *request_));
    Enter(Phase::kHandling);
    asio::post(server_.workers, [self = Self(), route, request = request_] {
      HttpResponse response = self->Run(*route, *request);
      asio::post(self->server_.io, [self, response = std::move(response)]() mutable {
        self->Answer(std::move(response));
      });
    });
  }

  HttpResponse Run(const RouteEntry& route, const HttpRequest& request) {
    HttpResponse response;
    try {
      route.handler(request, response);
    } catch (const std::exception&) {
      response = server_.ErrorAnswer(500, "internal error");
    }
    return response;
  }

  // Answers a request that could not be read or routed.
  void Refuse(int status, const std::string& message) {
    if (!request_) {
      request_ = std::make_shared<HttpRequest>();
      request_->remote_address = address;
    }
    Answer(server_.ErrorAnswer(status, message));
  }

  // Sends the answer; the connection stays open for the next request only if this one
  // was read whole (an answer made before the body was read closes it).
  void Answer(HttpResponse answer) {
    if (closed) return;
    ReleaseBody();
    if (!parser_->is_done()) keep_alive_ = false;
    if (server_.options.on_answer) server_.options.on_answer(*request_, answer);
    request_.reset();
    route_ = nullptr;
    Enter(Phase::kWriting);
    bool keep = keep_alive_ && !server_.stopping;
    response_.emplace(static_cast<http::status>(answer.status), 11);
    if (!answer.body.empty() || answer.status != 204)
      response_->set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) response_->insert(name, value);
    response_->body() = std::move(answer.body);
    response_->keep_alive(keep);
    response_->prepare_payload();
    Transport().expires_after(server_.options.limits.write_timeout);
    http::async_write(stream_, *response_, [self = Self(), keep](beast::error_code ec, size_t) {
      self->response_.reset();
      if (ec) return self->Close();
      if (!keep) return self->Linger();
      self->ReadNext();
    });
  }

  // Closing with unread request bytes makes the kernel send a reset, which can destroy
  // the answer before the client reads it: stop sending, then discard what the client
  // still sends for a moment (bounded in time and bytes) before closing.
  void Linger() {
    if constexpr (kTls) {
      Close();
    } else {
      beast::error_code ignored;
      Transport().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Enter(Phase::kIdle);
      Transport().expires_after(std::chrono::seconds(2));
      Discard(1u << 20);
    }
  }

  void Discard(size_t budget) {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = Self(), budget](beast::error_code ec, size_t bytes) {
                              if (ec || bytes >= budget) return self->Close();
                              self->Discard(budget - bytes);
                            });
  }

  void Fail(beast::error_code ec) {
    if (closed) return;
    if (ec == http::error::body_limit) {
      ++server_.too_large;
      return Refuse(413, fmt::format("the request body is larger than {} bytes",
                                     server_.options.limits.max_body_bytes));
    }
    if (ec == http::error::header_limit) {
      ++server_.too_large;
      return Refuse(431, fmt::format("the request head is larger than {} bytes",
                                     server_.options.limits.max_head_bytes));
    }
    if (ec == beast::error::timeout) ++server_.timed_out;
    // A request that cannot be parsed gets a 400; a client that went away, nothing.
    if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message &&
        phase != Phase::kIdle) {
      return Refuse(400, "the request could not be read: " + ec.message());
    }
    Close();
  }

  ServerCore& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::shared_ptr<HttpRequest> request_;  // from its head until it is answered
  const RouteEntry* route_ = nullptr;
  size_t reserved_ = 0;  // of the server's body budget
  bool keep_alive_ = false;
};

}  // namespace

std::shared_ptr<Connection> MakeSession(ServerCore& server, tcp::socket socket,
                                        asio::ssl::context* tls) {
  if (tls) {
    return std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(server,
                                                                           std::move(socket), *tls);
  }
  return std::make_shared<Session<beast::tcp_stream>>(server, std::move(socket));
}

}  // namespace gw::httpd
