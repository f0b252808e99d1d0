#include "api/portal_server.h"

#include <fmt/format.h>

#include "api/http_target.h"

namespace gw {

namespace {

constexpr const char* kStyle =
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "color:#1a1a1a;line-height:1.5}"
    "h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
    "dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}"
    "button{font-size:1rem;padding:.5rem 1.25rem;margin-top:1rem}"
    "button:focus{outline:3px solid #1a5fb4;outline-offset:2px}"
    ".note{color:#555;font-size:.9rem}";

void Secure(HttpResponse& res) {
  res.SetHeader("Content-Security-Policy",
                "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors "
                "'none'; base-uri 'none'");
  res.SetHeader("X-Content-Type-Options", "nosniff");
  res.SetHeader("X-Frame-Options", "DENY");
  res.SetHeader("Referrer-Policy", "no-referrer");
  res.SetHeader("Cache-Control", "no-store");
}

void Page(HttpResponse& res, int status, const std::string& title, const std::string& body) {
  res.status = status;
  Secure(res);
  res.SetContent(fmt::format("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<meta name=\"viewport\" content=\"width=device-width\">"
                             "<title>{0}</title><link rel=\"stylesheet\" href=\"/q/style.css\">"
                             "</head>\n<body><main><h1>{0}</h1>\n{1}</main></body></html>\n",
                             EscapeHtml(title), body),
                 "text/html; charset=utf-8");
}

// A refusal as a page: what went wrong, in words, never a stack of codes.
void ErrorPage(HttpResponse& res, const Status& status) {
  int http = 500;
  std::string title = "Something went wrong";
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kMalformed:
      http = 400;
      title = "This link is not valid";
      break;
    case StatusCode::kNotFound:
      http = 404;
      title = "This message is no longer held";
      break;
    case StatusCode::kFailedPrecondition:
      http = 410;
      title = "This link cannot be used";
      break;
    case StatusCode::kConflict:
    case StatusCode::kUnavailable:
      http = 503;
      title = "Please try again shortly";
      res.SetHeader("Retry-After", "30");
      break;
    default:
      break;
  }
  Page(res, http, title, "<p>" + EscapeHtml(status.message()) + "</p>\n");
}

std::string Described(const LinkView& view) {
  const QuarantinedMessage& m = view.message;
  return fmt::format(
      "<dl><dt>From</dt><dd>{}</dd><dt>Subject</dt><dd>{}</dd><dt>To</dt><dd>{}</dd>"
      "<dt>Received</dt><dd>{}</dd><dt>Held as</dt><dd>{}</dd></dl>\n",
      EscapeHtml(m.sender.empty() ? "<>" : m.sender), EscapeHtml(m.subject),
      EscapeHtml(view.claim.recipient), EscapeHtml(m.received_at), EscapeHtml(m.reason));
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct PortalServer::Impl {
  Service* service = nullptr;
  std::unique_ptr<HttpServer> server;

  // GET: what the link would do, and a button that does it.
  void Confirm(const HttpRequest& req, HttpResponse& res) {
    std::string token = req.Param("t");
    auto view = service->InspectLink(token);
    if (!view.ok()) return ErrorPage(res, view.status());
    Page(res, 200, "Confirm",
         Described(*view) +
             fmt::format("<p>Pressing the button will <strong>{}</strong>.</p>\n"
                         "<form method=\"post\" action=\"/q/link\">"
                         "<input type=\"hidden\" name=\"t\" value=\"{}\">"
                         "<button type=\"submit\">Confirm</button></form>\n"
                         "<p class=\"note\">The link works once. Nothing happens until you "
                         "press the button.</p>\n",
                         EscapeHtml(view->effect), EscapeHtml(token)));
  }

  // POST: acts, once.
  void Act(const HttpRequest& req, HttpResponse& res) {
    auto form = ParseQuery(req.body);
    if (!form || form->count("t") != 1)
      return ErrorPage(res, Status::Invalid("the form was not sent whole"));
    auto done = service->UseLink(form->find("t")->second);
    if (!done.ok()) return ErrorPage(res, done.status());
    Page(res, 200, "Done", "<p>" + EscapeHtml(*done) + "</p>\n");
  }
};

PortalServer::PortalServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PortalServer::~PortalServer() = default;

Result<std::unique_ptr<PortalServer>> PortalServer::Bind(HttpServerOptions http) {
  http.limits.max_body_bytes = 16u << 10;  // a form with one token
  http.error_body = [](HttpResponse& res, int status, const std::string& message) {
    Page(res, status, "This page cannot be shown", "<p>" + EscapeHtml(message) + "</p>\n");
  };
  auto server = HttpServer::Bind(std::move(http));
  if (!server.ok()) return server.status();
  auto impl = std::make_unique<Impl>();
  impl->server = std::move(*server);
  return std::unique_ptr<PortalServer>(new PortalServer(std::move(impl)));
}

void PortalServer::Serve(Service& service) {
  impl_->service = &service;
  HttpServer& s = *impl_->server;
  Impl* self = impl_.get();
  s.RouteInline("GET", "/q/style.css", [](const HttpRequest&, HttpResponse& res) {
    Secure(res);
    res.SetContent(kStyle, "text/css; charset=utf-8");
  });
  s.Route("GET", "/q/link",
          [self](const HttpRequest& req, HttpResponse& res) { self->Confirm(req, res); });
  s.Route("POST", "/q/link",
          [self](const HttpRequest& req, HttpResponse& res) { self->Act(req, res); });
  s.Serve();
}

int PortalServer::port() const {
  return impl_->server->port();
}

std::string PortalServer::url() const {
  return impl_->server->url();
}

void PortalServer::Stop() {
  impl_->server->Stop();
}

}  // namespace gw
