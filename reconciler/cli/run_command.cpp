// gwctl run: wires the reconcile loop, its timers and signals (Boost.Asio) and its status
// server together. The behaviour lives in loop.h and status_server.h.

#include <csignal>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "commands.h"
#include "exit_codes.h"
#include "gateway/quantity.h"
#include "loop.h"
#include "loop_alerts.h"
#include "pipeline.h"
#include "status_server.h"

namespace gwctl::cli {

namespace {

struct RunOptions : PipelineOptions {
  std::string interval = "60s";
  std::string drift_interval = "5m";
  std::string drift = "correct";
  std::string listen = "127.0.0.1:9090";
  std::string webhook_secret_file;
  std::string notify_file, notify_secret_file;
  std::string log_format = "text";
  int parallelism = 8;
  std::string holder;
};

// The webhook secret: from a file (re-read on SIGHUP) or $GWCTL_WEBHOOK_SECRET.
class WebhookSecret {
 public:
  explicit WebhookSecret(std::string file) : file_(std::move(file)) {}

  gw::Status Load() {
    std::string value;
    if (!file_.empty()) {
      std::ifstream in(file_);
      if (!in) {
        return gw::Status(gw::StatusCode::kNotFound,
                          fmt::format("cannot read the webhook secret file {}", file_));
      }
      std::getline(in, value);
    } else if (const char* env = std::getenv("GWCTL_WEBHOOK_SECRET")) {
      value = env;
    }
    std::lock_guard lock(mutex_);
    value_ = std::move(value);
    return gw::Status::Ok();
  }
  std::string Get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  std::string file_;
  mutable std::mutex mutex_;
  std::string value_;
};

// Re-arms itself every `period`, give or take 10%, so many loops do not poll in step.
class JitteredTimer {
 public:
  JitteredTimer(boost::asio::io_context& io, std::chrono::milliseconds period,
                std::function<void()> fire)
      : timer_(io), period_(period), fire_(std::move(fire)), random_(std::random_device{}()) {}

  void Arm() {
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    timer_.expires_after(std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(period_.count()) * jitter(random_))));
    timer_.async_wait([this](const boost::system::error_code& error) {
      if (error) return;
      fire_();
      Arm();
    });
  }
  void Cancel() { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  std::function<void()> fire_;
  std::mt19937 random_;
};

int Run(const RunOptions& options) {
  LoopLog log(options.log_format == "json");
  auto interval = gw::ParseDurationMs(options.interval);
  auto drift_interval = gw::ParseDurationMs(options.drift_interval);
  for (const auto* parsed : {&interval, &drift_interval}) {
    if (!parsed->ok()) {
      log.Error(parsed->status().message());
      return kExitCouldNotRun;
    }
  }
  if (*interval < 100 || *drift_interval < 100) {
    log.Error("--interval and --drift-interval must be at least 100ms");
    return kExitCouldNotRun;
  }
  if (!options.since.empty()) {
    log.Error(
        "--since is for a pull request's plan; the loop compares each commit with the "
        "last one it applied by itself");
    return kExitCouldNotRun;
  }
  WebhookSecret secret(options.webhook_secret_file);
  if (gw::Status s = secret.Load(); !s.ok()) {
    log.Error(s.message());
    return kExitCouldNotRun;
  }

  std::vector<gw::WebhookTarget> webhooks;
  if (!options.notify_file.empty()) {
    auto read = gw::ReadWebhooks(options.notify_file, options.notify_secret_file);
    if (!read.ok()) {
      log.Error("--notify-file " + read.status().message());
      return kExitCouldNotRun;
    }
    webhooks = std::move(*read);
  }
  std::string holder = options.holder.empty() ? DefaultLeaseHolder("gwctl-run") : options.holder;
  gw::Notifier notifier("gwctl run " + holder, std::move(webhooks),
                        [&log](const std::string& line) { log.Error(line); });
  LoopAlerts alerts(notifier);

  LoopOptions loop_options;
  loop_options.pass = options;
  loop_options.drift = options.drift == "report" ? DriftMode::kReport : DriftMode::kCorrect;
  loop_options.parallelism = options.parallelism;
  loop_options.lease_holder = holder;
  if (notifier.enabled()) {
    loop_options.after_pass = [&alerts](const LoopStatus& status) { alerts.Report(status); };
  }
  LoopMetrics metrics;
  ReconcileLoop loop(loop_options, log, metrics);

  // Signals are caught before any thread starts, so every thread leaves them to Asio.
  boost::asio::io_context control;
  boost::asio::signal_set signals(control, SIGTERM, SIGINT, SIGHUP);

  StatusServer server(loop, metrics, log, [&secret] { return secret.Get(); });
  if (gw::Status s = server.Start(options.listen); !s.ok()) {
    log.Error(s.message());
    return kExitCouldNotRun;
  }
  log.Info("listening on " + server.url(),
           {{"repo", options.repo.empty() ? options.directory : options.repo},
            {"ref", options.ref.empty() ? "HEAD" : options.ref},
            {"interval", options.interval},
            {"drift_interval", options.drift_interval},
            {"drift", options.drift},
            {"webhooks", secret.Get().empty() ? "off" : "on"},
            {"lease_holder", loop_options.lease_holder}});

  JitteredTimer poll(control, std::chrono::milliseconds(*interval),
                     [&] { loop.Request(ReconcileLoop::kSync); });
  JitteredTimer drift(control, std::chrono::milliseconds(*drift_interval),
                      [&] { loop.Request(ReconcileLoop::kDrift); });
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& error, int signal) {
        if (error) return;
        if (signal == SIGHUP) {
          gw::Status s = secret.Load();
          if (s.ok()) {
            log.Info("configuration reloaded: webhook secret, gateway URL and token");
          } else {
            log.Error("reload failed, keeping the previous webhook secret: " + s.message());
          }
          loop.Reconnect();
          loop.Request(ReconcileLoop::kSync);
          signals.async_wait(on_signal);
          return;
        }
        log.Info("stopping: the changes in flight finish, nothing new starts",
                 {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
        poll.Cancel();
        drift.Cancel();
        loop.Stop();
        control.stop();
      };
  signals.async_wait(on_signal);

  std::thread worker([&] { loop.Run(); });
  loop.Request(ReconcileLoop::kSync);
  poll.Arm();
  drift.Arm();
  control.run();
  worker.join();
  server.Stop();
  log.Info("stopped");
  return kExitOk;
}

}  // namespace

void RegisterRunCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand(
      "run", "Keep the gateway equal to a branch: poll or take webhooks, apply, correct drift");
  AddPipelineOptions(command, *options);
  command->add_option("--interval", options->interval, "How often to poll the branch (±10%)")
      ->capture_default_str();
  command
      ->add_option("--drift-interval", options->drift_interval,
                   "How often to re-read the gateway for changes made by hand")
      ->capture_default_str();
  command->add_option("--drift", options->drift, "correct: put drift back; report: only report it")
      ->check(CLI::IsMember({"correct", "report"}))
      ->capture_default_str();
  command
      ->add_option("--listen", options->listen,
                   "HOST:PORT for /healthz, /readyz, /metrics, /status, / and POST /hooks/git "
                   "(port 0: any free port)")
      ->capture_default_str();
  command->add_option("--webhook-secret-file", options->webhook_secret_file,
                      "File holding the webhook secret (re-read on SIGHUP); else "
                      "$GWCTL_WEBHOOK_SECRET; webhooks are off without one");
  command->add_option("--notify-file", options->notify_file,
                      "File of webhooks told when a pass cannot run, a commit is refused, a "
                      "customer fails or drifts, or a user source fails, and again when it ends; "
                      "one per line: generic=URL (JSON, signed), slack=URL or teams=URL");
  command->add_option("--notify-secret-file", options->notify_secret_file,
                      "File whose first line signs generic webhooks (X-Gateway-Signature)");
  command->add_option("--log-format", options->log_format, "text or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  command->add_option("--parallelism", options->parallelism, "Customers written at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  command->add_option("--lease-holder", options->holder,
                      "Name in the partner's apply lease (default gwctl-run@HOST/PID)");
  command->footer(
      "Runs until SIGTERM or SIGINT (the changes in flight finish; exit 0). SIGHUP re-reads the "
      "webhook secret and the gateway's URL and token, then polls at once.");
  command->callback([options, &exit_code] {
    auto failed = SetSecretPolicy(*options);
    exit_code = failed ? *failed : Run(*options);
  });
}

}  // namespace gwctl::cli
