#include "status_server.h"

#include <httplib.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gwctl/webhook.h"
#include "text.h"

namespace gwctl::cli {

namespace {

std::string Escape(const std::string& text) {
  std::string out;
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

constexpr const char* kPageStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
.state{font-weight:600}.in-sync{color:#1a7f37}.failed,.conflict{color:#cf222e}
.drifted,.pending{color:#9a6700}code{font-size:.95em}.muted{color:#666}
)";

// Up to this many customers the page lists them all; above it, only those not in sync
// (a partner opens the page to find what is wrong, not to scroll 5,000 green rows).
constexpr size_t kPageListsAllUpTo = 200;

// Re-renders the table from /status every 5 s; the page is complete without it.
constexpr const char* kPageScript = R"(
async function refresh(){
  try{
    let s=await (await fetch('/status?state=failed,conflict,drifted,pending')).json();
    const inSync=s.customerStates['in-sync']||0;
    const total=Object.values(s.customerStates).reduce((a,b)=>a+b,0);
    if(total<=LIST_ALL_UP_TO)s=await (await fetch('/status')).json();
    const esc=t=>String(t??'').replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
    document.getElementById('summary').innerHTML=
      'Applied commit <code>'+esc((s.appliedCommit||'none').slice(0,12))+'</code>; branch at <code>'+
      esc((s.branchCommit||'').slice(0,12))+'</code>; last pass: <b id="last-result">'+esc(s.lastPass.result)+
      '</b> ('+esc(s.passes)+' passes)'+(s.lastPass.error?'<br><span class="failed">'+esc(s.lastPass.error)+'</span>':'')+
      (s.rejectedCommit?'<br><span class="failed">Not applied: commit <code>'+esc(s.rejectedCommit.slice(0,12))+'</code>: '+esc(s.rejectedReason)+'</span>':'');
    document.getElementById('customers').innerHTML=s.customers.map(c=>
      '<tr data-customer="'+esc(c.name)+'"><td>'+esc(c.name)+'</td><td class="state '+esc(c.state)+'">'+esc(c.state)+
      '</td><td><code>'+esc((c.appliedCommit||'').slice(0,12))+'</code></td><td>'+esc(c.lastError)+
      '</td><td>'+esc(c.nextRetry||'')+'</td></tr>').join('');
    document.getElementById('unlisted').textContent=total>LIST_ALL_UP_TO&&inSync?
      inSync+' customers in sync are not listed (/status?state=in-sync lists them).':'';
    document.body.dataset.refreshed='yes';
  }catch(e){}
}
setInterval(refresh,5000);refresh();
)";

}  // namespace

std::string StatusPage(const LoopStatus& status) {
  bool list_all = status.customers.size() <= kPageListsAllUpTo;
  size_t unlisted = 0;
  std::string rows;
  for (const auto& [name, c] : status.customers) {
    if (!list_all && c.state == "in-sync") {
      ++unlisted;
      continue;
    }
    rows += fmt::format(
        "<tr data-customer=\"{0}\"><td>{0}</td><td class=\"state {1}\">{1}</td><td><code>{2}</code>"
        "</td><td>{3}</td><td>{4}</td></tr>\n",
        Escape(name), Escape(c.state), Escape(c.applied_commit.substr(0, 12)), Escape(c.last_error),
        c.next_retry ? IsoTime(*c.next_retry) : "");
  }
  std::string error = status.last_error.empty()
                          ? ""
                          : "<br><span class=\"failed\">" + Escape(status.last_error) + "</span>";
  if (!status.rejected_commit.empty()) {
    error +=
        fmt::format("<br><span class=\"failed\">Not applied: commit <code>{}</code>: {}</span>",
                    Escape(status.rejected_commit.substr(0, 12)), Escape(status.rejected_reason));
  }
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>gwctl run</title><style>{}</style></head><body>\n"
      "<h1>gwctl run</h1>\n<p id=\"summary\">Applied commit <code>{}</code>; branch at "
      "<code>{}</code>; last pass: <b id=\"last-result\">{}</b> ({} passes){}</p>\n"
      "<table><thead><tr><th>customer</th><th>state</th><th>commit</th><th>last error</th>"
      "<th>next retry</th></tr></thead>\n<tbody id=\"customers\">\n{}</tbody></table>\n"
      "<p id=\"unlisted\">{}</p>\n"
      "<p class=\"muted\">Read-only. Also: <a href=\"/status\">/status</a>, "
      "<a href=\"/metrics\">/metrics</a>.</p>\n<script>const LIST_ALL_UP_TO={};{}</script>"
      "</body></html>\n",
      kPageStyle,
      Escape(status.applied_commit.empty() ? "none" : status.applied_commit.substr(0, 12)),
      Escape(status.branch_commit.substr(0, 12)), Escape(status.last_result), status.passes, error,
      rows,
      unlisted
          ? fmt::format("{} customers in sync are not listed (/status?state=in-sync lists them).",
                        unlisted)
          : "",
      kPageListsAllUpTo, kPageScript);
}

StatusServer::StatusServer(ReconcileLoop& loop, LoopMetrics& metrics, LoopLog& log,
                           std::function<std::string()> webhook_secret)
    : loop_(loop),
      metrics_(metrics),
      log_(log),
      webhook_secret_(std::move(webhook_secret)),
      server_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *server_;
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = loop_.Ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready: no pass has succeeded yet\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4");
  });
  s.Get("/status", [this](const httplib::Request& req, httplib::Response& res) {
    StatusFilter filter;
    filter.customer = req.get_param_value("customer");
    for (const auto& state : Split(req.get_param_value("state"), ',')) {
      if (!kCustomerStates.count(state)) {
        res.status = 400;
        res.set_content(
            nlohmann::json{{"error", fmt::format("unknown state '{}'; the states are {}", state,
                                                 fmt::join(kCustomerStates, ", "))}}
                    .dump() +
                "\n",
            "application/json");
        return;
      }
      filter.states.insert(state);
    }
    res.set_content(StatusToJson(loop_.Status(), filter).dump(2) + "\n", "application/json");
  });
  s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                   "connect-src 'self'");
    res.set_content(StatusPage(loop_.Status()), "text/html; charset=utf-8");
  });
  s.Post("/hooks/git", [this](const httplib::Request& req, httplib::Response& res) {
    std::string secret = webhook_secret_();
    if (secret.empty()) {
      res.status = 404;
      res.set_content("webhooks are off: set GWCTL_WEBHOOK_SECRET or --webhook-secret-file\n",
                      "text/plain");
      return;
    }
    WebhookRequest hook{req.get_header_value("X-Hub-Signature-256"),
                        req.get_header_value("X-Gitlab-Token"), req.body};
    switch (VerifyWebhook(hook, secret)) {
      case WebhookVerdict::kAccepted:
        metrics_.Webhook("accepted");
        log_.Info("webhook accepted", {{"from", req.remote_addr}});
        loop_.Request(ReconcileLoop::kSync);
        res.status = 202;
        res.set_content("queued\n", "text/plain");
        return;
      case WebhookVerdict::kUnsigned:
        metrics_.Webhook("unsigned");
        log_.Warn("webhook refused: not signed", {{"from", req.remote_addr}});
        break;
      case WebhookVerdict::kBadSignature:
        metrics_.Webhook("bad-signature");
        log_.Warn("webhook refused: bad signature", {{"from", req.remote_addr}});
        break;
    }
    res.status = 401;
    res.set_content("signature missing or wrong\n", "text/plain");
  });
  s.set_payload_max_length(5 * 1024 * 1024);  // push events are small
}

StatusServer::~StatusServer() {
  Stop();
}

gw::Status StatusServer::Start(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("--listen {}: expected HOST:PORT", listen));
  }
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("--listen {}: the port must be 0-65535", listen));
  }
  int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return gw::Status(gw::StatusCode::kUnavailable, fmt::format("cannot listen on {}", listen));
  }
  url_ = fmt::format("http://{}:{}", host, bound);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return gw::Status::Ok();
}

void StatusServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace gwctl::cli
