#include "gateway/archive.h"

namespace gw {

nlohmann::json ToJson(const ArchivedMessage& m) {
  nlohmann::json out = {{"id", m.id},
                        {"customer", m.customer},
                        {"direction", m.direction},
                        {"receivedAt", m.received_at},
                        {"sender", m.sender},
                        {"recipients", m.recipients},
                        {"subject", m.subject},
                        {"size", m.size},
                        {"digest", m.digest},
                        {"retainUntil", m.retain_until},
                        {"chain", m.chain}};
  if (!m.released_at.empty()) {
    out["releasedAt"] = m.released_at;
    out["releaseReason"] = m.release_reason;
  }
  return out;
}

nlohmann::json ToJson(const ArchiveCheck& check) {
  return {
      {"entries", check.entries},        {"firstId", check.first_id}, {"lastId", check.last_id},
      {"anchor", check.anchor},          {"head", check.head},        {"problems", check.problems},
      {"intact", check.problems.empty()}};
}

}  // namespace gw
