#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "commands.h"
#include "exit_codes.h"
#include "gateway/bounded_json.h"
#include "gwctl/apply.h"
#include "pipeline.h"
#include "saved_plan.h"

namespace gwctl::cli {

namespace {

void WriteFailures(const ApplyReport& report) {
  for (const auto& [customer, why] : report.failed)
    std::cerr << "gwctl: failed: customer " << customer << ": " << why << "\n";
  if (report.not_started > 0)
    std::cerr << fmt::format("gwctl: {} customers not started; the next run applies them\n",
                             report.not_started);
}

// apply --plan FILE: exactly the saved plan, if the gateway is still as it was then.
int ApplySavedPlan(const std::string& file, const PipelineOptions& options, ApplyOptions apply) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A plan nests customer values inside its own structure: deeper than a request body.
  auto saved = gw::ParseBoundedJson(text, 4 * gw::kMaxJsonDepth);
  if (!in || !saved.ok()) {
    std::cerr << "gwctl: " << file << " is not a readable plan file"
              << (in ? ": " + saved.status().message() : "") << "\n";
    return kExitCouldNotRun;
  }
  auto loaded = LoadPlan(*saved);
  if (!loaded.ok()) {
    std::cerr << "gwctl: " << file << ": " << loaded.status().message() << "\n";
    return kExitCouldNotRun;
  }
  if (!loaded->plan.refusals.empty() && !options.force) {
    std::cerr << "gwctl: the saved plan was refused by a safety limit when it was made; --force "
                 "goes past it\n";
    return kExitRefused;
  }
  if (gw::Status s = ResolveSavedSecrets(*loaded, options.secrets); !s.ok()) {
    std::cerr << "gwctl: " << s.message() << "\n";
    return kExitCouldNotRun;
  }
  gw::ClientOptions client_options;
  if (const char* token = std::getenv("GWCTL_TOKEN")) client_options.token = token;
  std::string url = options.gateway.empty() ? loaded->plan.gateway : options.gateway;
  auto gateway = gw::ConnectGateway(url, client_options);
  if (!gateway.ok()) {
    std::cerr << "gwctl: " << gateway.status().message() << "\n";
    return kExitCouldNotRun;
  }
  auto state = (*gateway)->GetState(loaded->plan.partner);
  if (!state.ok()) {
    std::cerr << "gwctl: " << url << ": " << state.status().message() << "\n";
    return kExitCouldNotRun;
  }
  if (gw::StateChecksum(*state) != loaded->plan.observed_checksum) {
    std::cerr << fmt::format(
        "gwctl: the gateway changed since the plan was made (revision {} then, {} now); nothing "
        "was applied. "
        "Plan again.\n",
        loaded->plan.observed_revision, state->revision);
    return kExitRefused;
  }
  PlanOutput output;
  output.color = UseColor(STDOUT_FILENO);
  WritePlan(std::cout, loaded->plan, output);
  apply.replan_on_conflict = false;
  auto report = ApplyPlan(loaded->plan, loaded->desired, **gateway, apply);
  if (!report.ok()) {
    std::cerr << "gwctl: " << report.status().message() << "\n";
    return kExitCouldNotRun;
  }
  std::cout << fmt::format(
      "\nApplied the saved plan: {} customers written, {} deleted; users {} written, {} removed.\n",
      report->customers_written, report->customers_deleted, report->users_written,
      report->users_removed);
  WriteFailures(*report);
  return report->ok() ? kExitOk : kExitCouldNotRun;
}

}  // namespace

void RegisterApplyCommand(CLI::App& app, int& exit_code) {
  struct Options : PipelineOptions {
    bool yes = false;
    int parallelism = 8;
    std::string holder;
    std::string plan_file;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "apply", "Make the gateway match the repository: plan, then apply the plan and check it");
  AddPipelineOptions(command, *options);
  AddDnsOptions(command, *options);
  command->add_flag("--yes,-y", options->yes, "Do not ask for confirmation on a terminal");
  command->add_option("--parallelism", options->parallelism, "Customers applied at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  command->add_option("--lease-holder", options->holder,
                      "Name in the partner's apply lease (default gwctl@HOST/PID)");
  command->add_option(
      "--plan", options->plan_file,
      "Apply exactly this saved plan (from plan --out); refused if the gateway changed since");
  command->footer(
      "Exit codes: 0 converged, 3 refused by a safety limit or in conflict, 1 invalid manifests, 4 "
      "failed "
      "(whatever was applied is safe to re-run).");
  command->callback([options, &exit_code] {
    if (auto failed = SetSecretPolicy(*options)) {
      exit_code = *failed;
      return;
    }
    ApplyOptions apply;
    apply.parallelism = options->parallelism;
    apply.lease_holder = options->holder.empty() ? DefaultLeaseHolder("gwctl") : options->holder;
    apply.waiting_for_lease = [wait = apply.lease_wait_seconds](const std::string& why) {
      std::cerr << fmt::format("gwctl: {}; waiting up to {} s\n", why, wait);
    };
    if (isatty(STDERR_FILENO)) {
      apply.progress = [](size_t done, size_t total) {
        std::cerr << fmt::format("\rapplying: {}/{} customers", done, total)
                  << (done == total ? "\n" : "") << std::flush;
      };
    }
    if (!options->plan_file.empty()) {
      exit_code = ApplySavedPlan(options->plan_file, *options, apply);
      return;
    }
    Pipeline pipeline;
    if (auto failed = BuildPlan(*options, pipeline)) {
      exit_code = *failed;
      return;
    }
    const Plan& plan = pipeline.pass.plan;
    WritePlan(std::cout, plan, pipeline.output);
    if (pipeline.pass.result == PassResult::kRefused) {
      std::cout << "Nothing was applied.\n";
      exit_code = kExitRefused;
      return;
    }
    if (pipeline.pass.result == PassResult::kNoChanges) {
      exit_code = kExitOk;
      return;
    }
    if (!options->yes && isatty(STDIN_FILENO)) {
      std::cout << "\nApply these changes to " << pipeline.gateway->Describe()
                << "? Only 'yes' is accepted: " << std::flush;
      std::string answer;
      std::getline(std::cin, answer);
      if (answer != "yes") {
        std::cout << "Not applied.\n";
        exit_code = kExitOk;
        return;
      }
    }
    auto report = ApplyPlan(plan, pipeline.pass.desired, *pipeline.gateway, apply);
    if (!report.ok()) {
      std::cerr << "gwctl: " << report.status().message() << "\n";
      exit_code = kExitCouldNotRun;
      return;
    }
    std::cout << fmt::format(
        "\nApplied: {} customers written, {} deleted; users {} written, {} removed.\n",
        report->customers_written, report->customers_deleted, report->users_written,
        report->users_removed);
    WriteFailures(*report);

    // Level-triggered: read the gateway again; what remains is reported, and a re-run finishes it.
    auto check = Replan(pipeline);
    if (!check.ok()) {
      std::cerr << "gwctl: could not re-read the gateway: " << check.status().message() << "\n";
      exit_code = kExitCouldNotRun;
      return;
    }
    size_t remaining = check->changes.size() - check->Count(ChangeKind::kConflict);
    if (remaining > 0 || !report->ok()) {
      std::cout << "The gateway still differs from the repository:\n";
      WritePlan(std::cout, *check, pipeline.output);
      std::cout << "Run apply again to finish.\n";
      exit_code = kExitCouldNotRun;
      return;
    }
    std::cout << "Converged: the gateway matches the repository.\n";
    if (pipeline.output.format == PlanFormat::kText)
      WritePendingDomains(std::cout, *check, pipeline.output);
    exit_code = kExitOk;
  });
}

}  // namespace gwctl::cli
