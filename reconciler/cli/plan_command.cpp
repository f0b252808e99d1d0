#include <sys/stat.h>

#include <fstream>
#include <iostream>

#include "commands.h"
#include "exit_codes.h"
#include "pipeline.h"
#include "saved_plan.h"

namespace gwctl::cli {

void RegisterPlanCommand(CLI::App& app, int& exit_code) {
  struct Options : PipelineOptions {
    std::string out;
    bool trusted = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("plan",
                                         "Show what apply would change on the gateway to make it "
                                         "match the repository; changes nothing");
  AddPipelineOptions(command, *options);
  AddDnsOptions(command, *options);
  command->add_flag(
      "--untrusted", options->untrusted,
      "The revision is untrusted (a pull request's): directory sources and secret references are "
      "used only as the --since revision has them, and gwctl.yaml's gateway settings come from "
      "it. The default with --since and --ref together");
  command->add_flag("--trusted", options->trusted,
                    "Trust the revision read even with --since and --ref (a plan of the default "
                    "branch after merge)");
  command->add_option(
      "--out", options->out,
      "Also save the plan (with checksums over it and the gateway state) for `apply --plan FILE`");
  command
      ->add_option("--format", options->format,
                   "Output: text, json or markdown (a pull-request comment)")
      ->check(CLI::IsMember({"text", "json", "markdown"}))
      ->capture_default_str();
  command->footer(
      "Exit codes: 0 no changes, 2 changes, 3 refused by a safety limit or in conflict, 1 invalid "
      "manifests, "
      "4 could not run.");
  command->callback([options, &exit_code] {
    if (auto failed = SetSecretPolicy(*options)) {
      exit_code = *failed;
      return;
    }
    if (options->untrusted && options->trusted) {
      std::cerr << "gwctl: --untrusted and --trusted contradict each other\n";
      exit_code = kExitCouldNotRun;
      return;
    }
    // A pull request's plan, as the README shows it: untrusted unless said otherwise.
    if (!options->trusted && !options->since.empty() && !options->ref.empty() &&
        !options->untrusted) {
      options->untrusted = true;
      std::cerr << "gwctl: planning --ref " << options->ref
                << " as an untrusted revision (with --since): directory sources and secrets "
                   "only as at "
                << options->since << ", gateway settings from there or the command line "
                << "(--trusted if this revision is trusted)\n";
    }
    Pipeline pipeline;
    if (auto failed = BuildPlan(*options, pipeline)) {
      exit_code = *failed;
      return;
    }
    WritePlan(std::cout, pipeline.pass.plan, pipeline.output);
    exit_code = ExitCodeFor(pipeline.pass);
    if (!options->out.empty()) {
      nlohmann::json saved = SavePlan(pipeline.pass.plan, pipeline.pass.desired);
      mode_t old_mask = umask(077);  // plans hold settings and user lists: not for everyone
      std::ofstream file(options->out, std::ios::trunc);
      umask(old_mask);
      file << saved.dump(1) << "\n";
      if (!file.flush()) {
        std::cerr << "gwctl: cannot write " << options->out << "\n";
        exit_code = kExitCouldNotRun;
        return;
      }
      std::cerr << "Saved the plan to " << options->out << " ("
                << saved["checksum"].get<std::string>() << "); apply it with: gwctl apply --plan "
                << options->out << "\n";
    }
  });
}

}  // namespace gwctl::cli
