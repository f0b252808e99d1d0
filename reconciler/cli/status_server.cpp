#include "status_server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gateway/html.h"
#include "text.h"
#include "webhook.h"

namespace gwctl::cli {

namespace {

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
      '</td><td>'+esc(c.nextRetry||'')+'</td><td>'+esc((c.pendingDomains||[]).join(', '))+
      '</td></tr>').join('');
    const sources=(s.directorySources||[]).filter(d=>!d.ok||(d.warnings||[]).length);
    document.getElementById('sources').innerHTML=sources.map(d=>
      '<tr><td>'+esc(d.customer)+'</td><td>'+esc(d.kind+' '+d.name)+'</td><td class="state '+(d.ok?'in-sync':'failed')+'">'+
      (d.ok?'ok':'failing')+'</td><td>'+esc(d.lastSuccess||'never')+'</td><td>'+esc(d.ok?(d.warnings||[]).join('; '):d.error)+
      '</td></tr>').join('');
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
        "</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>\n",
        gw::EscapeHtml(name), gw::EscapeHtml(c.state),
        gw::EscapeHtml(c.applied_commit.substr(0, 12)), gw::EscapeHtml(c.last_error),
        c.next_retry ? gw::FormatRfc3339(*c.next_retry) : "",
        gw::EscapeHtml(fmt::format("{}", fmt::join(c.pending_domains, ", "))));
  }
  // Directory sources that need someone: failing, or with a credential about to expire.
  std::string sources;
  for (const DirectorySourceStatus& d : status.directory_sources) {
    if (d.last_error.empty() && d.warnings.empty()) continue;
    sources += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"state {}\">{}</td><td>{}</td><td>{}</td></tr>\n",
        gw::EscapeHtml(d.customer), gw::EscapeHtml(d.kind + " " + d.name),
        d.last_error.empty() ? "in-sync" : "failed", d.last_error.empty() ? "ok" : "failing",
        d.last_success ? gw::FormatRfc3339(*d.last_success) : "never",
        gw::EscapeHtml(d.last_error.empty() ? fmt::format("{}", fmt::join(d.warnings, "; "))
                                            : d.last_error));
  }
  std::string error = status.last_error.empty() ? ""
                                                : "<br><span class=\"failed\">" +
                                                      gw::EscapeHtml(status.last_error) + "</span>";
  if (!status.rejected_commit.empty()) {
    error +=
        fmt::format("<br><span class=\"failed\">Not applied: commit <code>{}</code>: {}</span>",
                    gw::EscapeHtml(status.rejected_commit.substr(0, 12)),
                    gw::EscapeHtml(status.rejected_reason));
  }
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>gwctl run</title><style>{}</style></head><body>\n"
      "<h1>gwctl run</h1>\n<p id=\"summary\">Applied commit <code>{}</code>; branch at "
      "<code>{}</code>; last pass: <b id=\"last-result\">{}</b> ({} passes){}</p>\n"
      "<table><thead><tr><th>customer</th><th>state</th><th>commit</th><th>last error</th>"
      "<th>next retry</th><th>waiting for DNS</th></tr></thead>\n<tbody "
      "id=\"customers\">\n{}</tbody></table>\n"
      "<p id=\"unlisted\">{}</p>\n"
      "<h2>Directory sources needing attention</h2>\n<table><thead><tr><th>customer</th>"
      "<th>source</th><th>state</th><th>last success</th><th>error or warning</th></tr></thead>\n"
      "<tbody id=\"sources\">\n{}</tbody></table>\n"
      "<p class=\"muted\">Read-only. Also: <a href=\"/status\">/status</a>, "
      "<a href=\"/metrics\">/metrics</a>.</p>\n<script>const LIST_ALL_UP_TO={};{}</script>"
      "</body></html>\n",
      kPageStyle,
      gw::EscapeHtml(status.applied_commit.empty() ? "none" : status.applied_commit.substr(0, 12)),
      gw::EscapeHtml(status.branch_commit.substr(0, 12)), gw::EscapeHtml(status.last_result),
      status.passes, error, rows,
      unlisted
          ? fmt::format("{} customers in sync are not listed (/status?state=in-sync lists them).",
                        unlisted)
          : "",
      sources, kPageListsAllUpTo, kPageScript);
}

StatusServer::StatusServer(ReconcileLoop& loop, LoopMetrics& metrics, LoopLog& log,
                           std::function<std::string()> webhook_secret)
    : loop_(loop), metrics_(metrics), log_(log), webhook_secret_(std::move(webhook_secret)) {}

StatusServer::~StatusServer() {
  Stop();
}

void StatusServer::Install(gw::HttpServer& s) {
  using gw::HttpRequest;
  using gw::HttpResponse;
  // Health and readiness are answered on the I/O thread, whatever the workers are doing.
  s.RouteInline("GET", "/healthz", [](const HttpRequest&, HttpResponse& res) {
    res.SetContent("ok\n", "text/plain");
  });
  s.RouteInline("GET", "/readyz", [this](const HttpRequest&, HttpResponse& res) {
    bool ready = loop_.Ready();
    res.status = ready ? 200 : 503;
    res.SetContent(ready ? "ready\n" : "not ready: no pass has succeeded yet\n", "text/plain");
  });
  s.Route("GET", "/metrics", [this](const HttpRequest&, HttpResponse& res) {
    res.SetContent(metrics_.Render(), "text/plain; version=0.0.4");
  });
  s.Route("GET", "/status", [this](const HttpRequest& req, HttpResponse& res) {
    StatusFilter filter;
    filter.customer = req.Param("customer");
    for (const auto& state : Split(req.Param("state"), ',')) {
      if (!kCustomerStates.count(state)) {
        res.status = 400;
        res.SetContent(
            nlohmann::json{{"error", fmt::format("unknown state '{}'; the states are {}", state,
                                                 fmt::join(kCustomerStates, ", "))}}
                    .dump() +
                "\n",
            "application/json");
        return;
      }
      filter.states.insert(state);
    }
    res.SetContent(StatusToJson(loop_.Status(), filter).dump(2) + "\n", "application/json");
  });
  s.Route("GET", "/", [this](const HttpRequest&, HttpResponse& res) {
    res.SetHeader("Content-Security-Policy",
                  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                  "connect-src 'self'");
    res.SetContent(StatusPage(loop_.Status()), "text/html; charset=utf-8");
  });
  s.Route("POST", "/hooks/git", [this](const HttpRequest& req, HttpResponse& res) {
    std::string secret = webhook_secret_();
    if (secret.empty()) {
      res.status = 404;
      res.SetContent("webhooks are off: set GWCTL_WEBHOOK_SECRET or --webhook-secret-file\n",
                     "text/plain");
      return;
    }
    WebhookRequest hook{req.Header("X-Hub-Signature-256"), req.Header("X-Gitlab-Token"), req.body};
    switch (VerifyWebhook(hook, secret)) {
      case WebhookVerdict::kAccepted:
        metrics_.Webhook("accepted");
        log_.Info("webhook accepted", {{"from", req.remote_address}});
        loop_.Request(ReconcileLoop::kSync);
        res.status = 202;
        res.SetContent("queued\n", "text/plain");
        return;
      case WebhookVerdict::kUnsigned:
        metrics_.Webhook("unsigned");
        log_.Warn("webhook refused: not signed", {{"from", req.remote_address}});
        break;
      case WebhookVerdict::kBadSignature:
        metrics_.Webhook("bad-signature");
        log_.Warn("webhook refused: bad signature", {{"from", req.remote_address}});
        break;
    }
    res.status = 401;
    res.SetContent("signature missing or wrong\n", "text/plain");
  });
}

gw::Status StatusServer::Start(const std::string& listen) {
  gw::HttpServerOptions options;
  if (gw::Status parsed = gw::ParseListenAddress(listen, options); !parsed.ok()) return parsed;
  options.limits.max_body_bytes = 5u << 20;  // push events are small
  options.limits.max_buffered_body_bytes = 64u << 20;
  options.limits.worker_threads = 4;  // pages and webhooks, not a store
  gw::RaiseOpenFileLimit();
  auto server = gw::HttpServer::Bind(std::move(options));
  if (!server.ok()) {
    return gw::Status(gw::StatusCode::kUnavailable,
                      fmt::format("cannot listen on {}: {}", listen, server.status().message()));
  }
  server_ = std::move(*server);
  Install(*server_);
  url_ = server_->url();
  thread_ = std::thread([this] { server_->Serve(); });
  return gw::Status::Ok();
}

void StatusServer::Stop() {
  if (!thread_.joinable()) return;
  server_->Stop();
  thread_.join();
}

}  // namespace gwctl::cli
