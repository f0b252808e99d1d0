// Saved plans: `gwctl plan --out FILE` writes a plan with everything needed to apply it
// later, exactly (`gwctl apply --plan FILE`): the documents to write, the users to add
// or remove, a checksum over all of it, and a checksum over the gateway state it was
// computed against. Secret values are never saved, only their fingerprints; they are
// resolved again at apply time and must still match.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/status.h"
#include "gwctl/desired_state.h"
#include "gwctl/plan.h"
#include "gwctl/secrets.h"

namespace gwctl {

nlohmann::json SavePlan(const Plan& plan, const DesiredState& desired);

struct LoadedPlan {
  Plan plan;
  DesiredState desired;  // the writes of the plan's changes; secrets not yet resolved
};

// Reads a saved plan; kInvalidArgument if it is not one, or its checksum does not match
// (edited or damaged).
gw::Result<LoadedPlan> LoadPlan(const nlohmann::json& saved);

// Resolves the secrets of the loaded writes from their references (under `secrets`, as
// any secret) and checks them against the fingerprints the plan recorded. A plan whose
// untrusted run left a secret unread is refused: it must be planned again.
gw::Status ResolveSavedSecrets(LoadedPlan& loaded, const SecretPolicy& secrets);

}  // namespace gwctl
