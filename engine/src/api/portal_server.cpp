#include "api/portal_server.h"

#include <algorithm>

#include <fmt/format.h>

#include "api/http_target.h"
#include "gateway/access.h"
#include "gateway/html.h"

namespace gw {

namespace {

constexpr const char* kStyle =
    "body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;"
    "color:#1a1a1a;line-height:1.5}"
    "h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
    "dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}"
    "button{font-size:1rem;padding:.5rem 1.25rem;margin-top:1rem}"
    "button:focus{outline:3px solid #1a5fb4;outline-offset:2px}"
    ".note{color:#555;font-size:.9rem}"
    "table{border-collapse:collapse;width:100%}caption{text-align:left;font-weight:600}"
    "th,td{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}"
    "td form,form.inline{display:inline}td button{margin:0 .25rem .25rem 0;font-size:.9rem;"
    "padding:.2rem .5rem}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}";

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
    case StatusCode::kPermissionDenied:
      http = 403;
      title = "Not allowed";
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

constexpr const char* kCookie = "gw_session";
constexpr size_t kPreviewBytes = 16u << 10;

// The session cookie's value, or "".
std::string SessionCookie(const HttpRequest& req) {
  std::string header = req.Header("Cookie");
  std::string prefix = std::string(kCookie) + "=";
  for (size_t at = 0; at < header.size();) {
    size_t end = header.find(';', at);
    std::string part = header.substr(at, end == std::string::npos ? end : end - at);
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    if (part.rfind(prefix, 0) == 0) return part.substr(prefix.size());
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

// A form's token against cross-site requests: derived from the session, which another
// site cannot read (the cookie is HttpOnly and SameSite=Strict as well).
std::string CsrfOf(const std::string& session) {
  return HashToken("csrf:" + session);
}

// A button's words for `action`, among the `offered` ones: where the message may be
// released, allowing its sender releases it too (as the report's link does).
const char* ActionLabel(const std::string& action, const std::vector<std::string>& offered) {
  if (action == "release") return "Release";
  if (action == "request") return "Ask for release";
  if (action == "allow") {
    bool releases = std::find(offered.begin(), offered.end(), "release") != offered.end();
    return releases ? "Release and always accept sender" : "Always accept sender";
  }
  if (action == "block") return "Block sender";
  return "Remove from my list";
}

std::string SignInForms() {
  return "<h2>Your held mail</h2>\n"
         "<form method=\"post\" action=\"/q/sign-in\"><label for=\"address\">Your email "
         "address</label><br><input id=\"address\" name=\"address\" type=\"email\" "
         "required autocomplete=\"email\"> <button type=\"submit\">Mail me a sign-in "
         "link</button></form>\n"
         "<h2>Your organisation's administrator</h2>\n"
         "<form method=\"post\" action=\"/q/admin-sign-in\"><label for=\"email\">Email"
         "</label><br><input id=\"email\" name=\"email\" type=\"email\" required "
         "autocomplete=\"username\"><br><label for=\"password\">Password</label><br><input "
         "id=\"password\" name=\"password\" type=\"password\" required "
         "autocomplete=\"current-password\"><br><button type=\"submit\">Sign in</button>"
         "</form>\n";
}

}  // namespace

struct PortalServer::Impl {
  Service* service = nullptr;
  std::unique_ptr<HttpServer> server;
  bool secure = false;  // HTTPS: the cookie is Secure

  static std::optional<std::multimap<std::string, std::string>> Form(const HttpRequest& req) {
    return ParseQuery(req.body);
  }
  static std::string Field(const std::multimap<std::string, std::string>& form,
                           const std::string& name) {
    auto it = form.find(name);
    return it == form.end() ? "" : it->second;
  }

  void SetSession(HttpResponse& res, const std::string& value, int max_age) {
    res.SetHeader("Set-Cookie", fmt::format("{}={}; Path=/q; HttpOnly; SameSite=Strict; "
                                            "Max-Age={}{}",
                                            kCookie, value, max_age, secure ? "; Secure" : ""));
  }

  static void SeeOther(HttpResponse& res, const std::string& where) {
    res.status = 303;
    Secure(res);
    res.SetHeader("Location", where);
  }

  // The signed-in actor, or nullopt (and the sign-in page written).
  std::optional<Actor> Signed(const HttpRequest& req, HttpResponse& res) {
    std::string cookie = SessionCookie(req);
    auto actor = cookie.empty() ? Result<Actor>(Status(StatusCode::kUnauthenticated, ""))
                                : service->SessionActor(cookie);
    if (actor.ok()) return *actor;
    Page(res, 401, "Sign in", SignInForms());
    return std::nullopt;
  }

  void Inbox(const HttpRequest& req, HttpResponse& res) {
    auto actor = Signed(req, res);
    if (!actor) return;
    auto held = service->ListHeld(*actor);
    if (!held.ok()) return ErrorPage(res, held.status());
    std::string csrf = CsrfOf(SessionCookie(req));
    std::string rows;
    for (const HeldView& view : *held) {
      const QuarantinedMessage& m = view.message;
      std::string buttons;
      for (const auto& action : view.actions) {
        buttons += fmt::format(
            "<form method=\"post\" action=\"/q/act\"><input type=\"hidden\" name=\"csrf\" "
            "value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\"><input "
            "type=\"hidden\" name=\"action\" value=\"{}\"><button type=\"submit\">{}"
            "</button></form>",
            csrf, m.id, EscapeHtml(action), ActionLabel(action, view.actions));
      }
      rows += fmt::format(
          "<tr data-id=\"{0}\"><td>{1}</td><td>{2}</td><td><a href=\"/q/message/{0}\">{3}</a>"
          "</td><td>{4}</td><td>{5}</td><td>{6}</td></tr>\n",
          m.id, EscapeHtml(m.received_at), EscapeHtml(m.sender.empty() ? "<>" : m.sender),
          EscapeHtml(m.subject.empty() ? "(no subject)" : m.subject), EscapeHtml(m.reason),
          EscapeHtml(actor->role == Role::kMailboxUser
                         ? view.recipient
                         : fmt::format("{}", fmt::join(m.recipients, ", "))),
          buttons);
    }
    std::string who =
        actor->role == Role::kMailboxUser ? actor->name : "the administrator of " + actor->customer;
    Page(res, 200, "Held mail",
         fmt::format("<p>Signed in as {}. <form class=\"inline\" method=\"post\" "
                     "action=\"/q/sign-out\"><input type=\"hidden\" name=\"csrf\" "
                     "value=\"{}\"><button type=\"submit\">Sign out</button></form></p>\n",
                     EscapeHtml(who), csrf) +
             (held->empty()
                  ? "<p>Nothing is held for you.</p>\n"
                  : "<table><caption>Messages the gateway held, newest first</caption><thead><tr>"
                    "<th scope=\"col\">Received</th><th scope=\"col\">From</th>"
                    "<th scope=\"col\">Subject</th><th scope=\"col\">Held as</th>"
                    "<th scope=\"col\">To</th><th scope=\"col\">Actions</th></tr></thead>"
                    "<tbody>\n" +
                        rows + "</tbody></table>\n"));
  }

  void SignIn(const HttpRequest& req, HttpResponse& res) {
    auto form = Form(req);
    std::string address = form ? Field(*form, "address") : "";
    service->SendSignInLink(address);  // the same answer whatever the address
    Page(res, 200, "Check your mail",
         "<p>If " + EscapeHtml(address) +
             " receives mail through this gateway, a sign-in link is on its way. It works "
             "once, within the hour.</p>\n");
  }

  void AdminSignIn(const HttpRequest& req, HttpResponse& res) {
    auto form = Form(req);
    auto session = form ? service->OpenAdminSession(Field(*form, "email"), Field(*form, "password"))
                        : Result<std::string>(Status(StatusCode::kUnauthenticated, ""));
    if (!session.ok()) {
      return Page(res, 401, "Sign in",
                  "<p>That email and password were not accepted.</p>\n" + SignInForms());
    }
    SetSession(res, *session, 8 * 3600);
    SeeOther(res, "/q/");
  }

  // GET: asks to confirm (mail scanners fetch links); POST: opens the session.
  void SessionLink(const HttpRequest& req, HttpResponse& res) {
    Page(res, 200, "Sign in",
         fmt::format("<form method=\"post\" action=\"/q/session\"><input type=\"hidden\" "
                     "name=\"t\" value=\"{}\"><button type=\"submit\">Show my held mail"
                     "</button></form>\n",
                     EscapeHtml(req.Param("t"))));
  }
  void OpenSession(const HttpRequest& req, HttpResponse& res) {
    auto form = Form(req);
    auto session = form ? service->OpenSession(Field(*form, "t"))
                        : Result<std::string>(Status::Invalid("the form was not sent whole"));
    if (!session.ok()) return ErrorPage(res, session.status());
    SetSession(res, *session, 8 * 3600);
    SeeOther(res, "/q/");
  }

  // The form's token must be the session's: another site cannot post as the user.
  std::optional<Actor> Checked(const HttpRequest& req, HttpResponse& res,
                               const std::multimap<std::string, std::string>& form) {
    auto actor = Signed(req, res);
    if (!actor) return std::nullopt;
    if (Field(form, "csrf") != CsrfOf(SessionCookie(req))) {
      Page(res, 403, "Please try again", "<p>The form expired. <a href=\"/q/\">Back</a></p>\n");
      return std::nullopt;
    }
    return actor;
  }

  void Act(const HttpRequest& req, HttpResponse& res) {
    auto form = Form(req);
    if (!form) return ErrorPage(res, Status::Invalid("the form was not sent whole"));
    auto actor = Checked(req, res, *form);
    if (!actor) return;
    int64_t id = 0;
    try {
      id = std::stoll(Field(*form, "id"));
    } catch (const std::exception&) {
      return ErrorPage(res, Status::Invalid("the form was not sent whole"));
    }
    auto done = service->ActOnHeld(*actor, id, Field(*form, "action"));
    if (!done.ok()) return ErrorPage(res, done.status());
    Page(res, 200, "Done",
         "<p>" + EscapeHtml(*done) +
             "</p><p><a href=\"/q/\">Back to your held "
             "mail</a></p>\n");
  }

  void SignOut(const HttpRequest& req, HttpResponse& res) {
    auto form = Form(req);
    if (!form || !Checked(req, res, *form)) return;
    SetSession(res, "", 0);
    SeeOther(res, "/q/");
  }

  // The message as text: escaped, never rendered, so nothing in it runs or loads.
  void Preview(const HttpRequest& req, HttpResponse& res) {
    auto actor = Signed(req, res);
    if (!actor) return;
    int64_t id = 0;
    try {
      id = std::stoll(req.matches[1]);
    } catch (const std::exception&) {
      return ErrorPage(res, Status(StatusCode::kNotFound, "no such message"));
    }
    auto text = service->PreviewHeld(*actor, id, kPreviewBytes);
    if (!text.ok()) return ErrorPage(res, text.status());
    Page(res, 200, "Held message",
         "<p class=\"note\">The message as it arrived, shown as text: links and images do "
         "nothing here.</p><pre>" +
             EscapeHtml(*text) + "</pre><p><a href=\"/q/\">Back</a></p>\n");
  }

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
  void UseLink(const HttpRequest& req, HttpResponse& res) {
    auto form = Form(req);
    if (!form || form->count("t") != 1)
      return ErrorPage(res, Status::Invalid("the form was not sent whole"));
    auto done = service->UseLink(Field(*form, "t"));
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
  auto impl = std::make_unique<Impl>();
  impl->secure = !http.tls_cert.empty();  // before `http` is handed over
  auto server = HttpServer::Bind(std::move(http));
  if (!server.ok()) return server.status();
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
  auto route = [&](const char* method, const char* pattern,
                   void (Impl::*handler)(const HttpRequest&, HttpResponse&)) {
    s.Route(method, pattern, [self, handler](const HttpRequest& req, HttpResponse& res) {
      (self->*handler)(req, res);
    });
  };
  route("GET", "/q/link", &Impl::Confirm);
  route("POST", "/q/link", &Impl::UseLink);
  route("GET", "/q/", &Impl::Inbox);
  route("POST", "/q/sign-in", &Impl::SignIn);
  route("POST", "/q/admin-sign-in", &Impl::AdminSignIn);
  route("GET", "/q/session", &Impl::SessionLink);
  route("POST", "/q/session", &Impl::OpenSession);
  route("POST", "/q/act", &Impl::Act);
  route("POST", "/q/sign-out", &Impl::SignOut);
  route("GET", "/q/message/{}", &Impl::Preview);
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
