// The Store's records of what happened: leases, quarantine, spam report state, outages,
// jobs and audit (sql_store_impl.h).

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/sql_store_impl.h"

namespace gw {
namespace {

using nlohmann::json;
using sql::Param;
using sql::Row;

#define kSelectQuarantine                                                                 \
  "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, " \
  "released_at FROM quarantine "

QuarantinedMessage ReadQuarantined(const Row& row) {
  QuarantinedMessage m;
  m.id = row.Int(0);
  m.customer = row.Text(1);
  m.received_at = row.Text(2);
  m.sender = row.Text(3);
  m.recipients = json::parse(row.Text(4)).get<std::vector<std::string>>();
  m.subject = row.Text(5);
  m.size = row.Int(6);
  m.reason = row.Text(7);
  m.detail = row.Text(8);
  m.released_at = row.Text(9);
  return m;
}

}  // namespace

Result<std::optional<Lease>> SqlStore::GetLease(const std::string& partner) {
  return First<Lease>("SELECT holder, expires_at FROM leases WHERE partner = $1", {partner},
                      [](const Row& row) {
                        return Lease{row.Text(0), row.Int(1)};
                      });
}

Status SqlStore::PutLease(const std::string& partner, const Lease& lease) {
  return Run(
      "INSERT INTO leases(partner, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT "
      "(partner) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at",
      {partner, lease.holder, lease.expires_at_unix});
}

Status SqlStore::DeleteLease(const std::string& partner, const std::string& holder) {
  return Run("DELETE FROM leases WHERE partner = $1 AND holder = $2", {partner, holder});
}

Result<int64_t> SqlStore::AddQuarantined(const std::string& partner, const QuarantinedMessage& m,
                                         const std::string& message) {
  auto id = First<int64_t>(
      "INSERT INTO quarantine(partner, customer, received_at, sender, recipients, subject, "
      "size, reason, detail, released_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
      "'', $10) RETURNING id",
      {partner, m.customer, m.received_at, m.sender, json(m.recipients).dump(), m.subject,
       static_cast<int64_t>(message.size()), m.reason, m.detail, Param::Bytes(message)},
      [](const Row& row) { return row.Int(0); });
  if (!id.ok()) return id.status();
  if (!*id) return Status(StatusCode::kInternal, "the store assigned the message no id");
  return **id;
}

Result<std::vector<QuarantinedMessage>> SqlStore::ListQuarantined(const std::string& partner,
                                                                  const std::string& customer,
                                                                  int64_t after, size_t limit) {
  std::vector<QuarantinedMessage> out;
  Status status = db_->Select(
      kSelectQuarantine "WHERE partner = $1 AND customer = $2 AND id > $3 ORDER BY id LIMIT $4",
      {partner, customer, after, static_cast<int64_t>(limit)},
      [&](const Row& row) { out.push_back(ReadQuarantined(row)); });
  if (!status.ok()) return status;
  std::vector<QuarantinedMessage*> listed;
  for (auto& m : out) listed.push_back(&m);
  if (Status s = AttachQuarantineActions(partner, customer, listed); !s.ok()) return s;
  return out;
}

Result<std::optional<std::pair<QuarantinedMessage, std::string>>> SqlStore::LoadQuarantined(
    const std::string& partner, const std::string& customer, int64_t id) {
  auto loaded = First<std::pair<QuarantinedMessage, std::string>>(
      "SELECT id, customer, received_at, sender, recipients, subject, size, reason, detail, "
      "released_at, message FROM quarantine WHERE partner = $1 AND customer = $2 AND id = $3",
      {partner, customer, id},
      [](const Row& row) { return std::make_pair(ReadQuarantined(row), row.Bytes(10)); });
  if (!loaded.ok() || !*loaded) return loaded;
  if (Status s = AttachQuarantineActions(partner, customer, {&(*loaded)->first}); !s.ok()) return s;
  return loaded;
}

Status SqlStore::MarkReleased(const std::string& partner, const std::string& customer, int64_t id,
                              const std::string& released_at) {
  return Run(
      "UPDATE quarantine SET released_at = $1 WHERE partner = $2 AND customer = $3 AND id = $4",
      {released_at, partner, customer, id});
}

Result<int64_t> SqlStore::PurgeQuarantine(const std::string& before) {
  if (Status s = Run("DELETE FROM used_links WHERE expires_at < $1", {before}); !s.ok()) return s;
  if (Status s =
          Run("DELETE FROM quarantine_actions WHERE (partner, customer, id) IN (SELECT partner, "
              "customer, id FROM quarantine WHERE received_at < $1)",
              {before});
      !s.ok())
    return s;
  return db_->Execute("DELETE FROM quarantine WHERE received_at < $1", {before});
}

Result<SpamReportState> SqlStore::LoadSpamReportState(const std::string& partner,
                                                      const std::string& customer) {
  SpamReportState state;
  auto checked =
      FirstText("SELECT checked_at FROM spam_reports WHERE partner = $1 AND customer = $2",
                {partner, customer});
  if (!checked.ok()) return checked.status();
  state.checked_at = checked->value_or("");
  Status marks = db_->Select(
      "SELECT recipient, reported_through FROM spam_report_marks WHERE partner = $1 AND "
      "customer = $2",
      {partner, customer},
      [&](const Row& row) { state.reported_through[row.Text(0)] = row.Int(1); });
  if (!marks.ok()) return marks;
  return state;
}

Status SqlStore::SaveSpamReportState(const std::string& partner, const std::string& customer,
                                     const SpamReportState& state) {
  if (Status s =
          Run("INSERT INTO spam_reports(partner, customer, checked_at) VALUES ($1, $2, $3) ON "
              "CONFLICT (partner, customer) DO UPDATE SET checked_at = EXCLUDED.checked_at",
              {partner, customer, state.checked_at});
      !s.ok())
    return s;
  for (const auto& [recipient, id] : state.reported_through) {
    if (Status s =
            Run("INSERT INTO spam_report_marks(partner, customer, recipient, reported_through) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (partner, customer, recipient) DO UPDATE SET "
                "reported_through = EXCLUDED.reported_through",
                {partner, customer, recipient, id});
        !s.ok())
      return s;
  }
  return Status::Ok();
}

Status SqlStore::StartOutage(const ContinuityOutage& o) {
  return Run(
      "INSERT INTO continuity_outages(partner, customer, started_at, ended_at, reason, "
      "delivered) VALUES ($1, $2, $3, '', $4, false) ON CONFLICT DO NOTHING",
      {o.partner, o.customer, o.started_at, o.reason});
}

Status SqlStore::EndOutage(const std::string& partner, const std::string& customer,
                           const std::string& ended_at) {
  return Run(
      "UPDATE continuity_outages SET ended_at = $1 WHERE partner = $2 AND customer = $3 AND "
      "ended_at = ''",
      {ended_at, partner, customer});
}

Status SqlStore::MarkOutagesDelivered(const std::string& partner, const std::string& customer) {
  return Run(
      "UPDATE continuity_outages SET delivered = true WHERE partner = $1 AND customer = $2 AND "
      "ended_at <> ''",
      {partner, customer});
}

Result<std::vector<ContinuityOutage>> SqlStore::ListOutages(const std::string& ended_since) {
  std::vector<ContinuityOutage> outages;
  Status status = db_->Select(
      "SELECT partner, customer, started_at, ended_at, reason, CASE WHEN delivered THEN 1 ELSE "
      "0 END FROM continuity_outages WHERE ended_at = '' OR NOT delivered OR ended_at >= $1 "
      "ORDER BY partner, customer, started_at",
      {ended_since}, [&](const Row& row) {
        outages.push_back(
            {row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4), row.Int(5) != 0});
      });
  if (!status.ok()) return status;
  return outages;
}

Result<std::string> SqlStore::HoldJob(const std::string& job, const std::string& holder,
                                      int64_t now_ms, int64_t until_ms) {
  std::string holder_now;
  Status status = db_->Transaction(/*write=*/true, /*change=*/false, [&]() -> Status {
    if (Status s =
            Run("INSERT INTO job_leases(job, holder, expires_ms) VALUES ($1, $2, $3) ON CONFLICT "
                "(job) DO UPDATE SET holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms "
                "WHERE job_leases.holder = EXCLUDED.holder OR job_leases.expires_ms <= $4",
                {job, holder, until_ms, now_ms});
        !s.ok())
      return s;
    auto found = FirstText("SELECT holder FROM job_leases WHERE job = $1", {job});
    if (!found.ok()) return found.status();
    holder_now = found->value_or("");
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return holder_now;
}

Status SqlStore::ReleaseJob(const std::string& job, const std::string& holder) {
  return Run("DELETE FROM job_leases WHERE job = $1 AND holder = $2", {job, holder});
}

Status SqlStore::AppendAudit(const AuditEntry& e) {
  return Run(
      "INSERT INTO audit(at, partner, actor, action, target, detail) VALUES ($1, $2, $3, $4, "
      "$5, $6)",
      {e.at, e.partner, e.actor, e.action, e.target, e.detail.dump()});
}

Result<std::vector<AuditEntry>> SqlStore::ListAudit(const std::string& partner, int64_t after,
                                                    size_t limit) {
  std::vector<AuditEntry> entries;
  Status status = db_->Select(
      "SELECT id, at, partner, actor, action, target, detail FROM audit WHERE partner = $1 AND "
      "id > $2 ORDER BY id LIMIT $3",
      {partner, after, static_cast<int64_t>(limit)}, [&](const Row& row) {
        entries.push_back({row.Int(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4),
                           row.Text(5), json::parse(row.Text(6))});
      });
  if (!status.ok()) return status;
  return entries;
}

}  // namespace gw
