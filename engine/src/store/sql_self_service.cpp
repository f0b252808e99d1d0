// The Store's self-service records: minted access tokens, mailbox users' own lists and
// the used nonces of single-use links (sql_store_impl.h).

#include "store/sql_store_impl.h"

namespace gw {
namespace {

using sql::Row;

#define kSelectToken                                                                       \
  "SELECT id, partner, name, role, customer, sha256, created_at, expires_at, created_by, " \
  "revoked_at FROM access_tokens "

AccessToken ReadToken(const Row& row) {
  AccessToken t;
  t.id = row.Text(0);
  t.partner = row.Text(1);
  t.name = row.Text(2);
  t.role = row.Text(3);
  t.customer = row.Text(4);
  t.sha256 = row.Text(5);
  t.created_at = row.Text(6);
  t.expires_at = row.Text(7);
  t.created_by = row.Text(8);
  t.revoked_at = row.Text(9);
  return t;
}

}  // namespace

Status SqlStore::SaveAccessToken(const AccessToken& t) {
  return Run(
      "INSERT INTO access_tokens(id, partner, name, role, customer, sha256, created_at, "
      "expires_at, created_by, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
      {t.id, t.partner, t.name, t.role, t.customer, t.sha256, t.created_at, t.expires_at,
       t.created_by, t.revoked_at});
}

Result<std::optional<AccessToken>> SqlStore::LoadAccessToken(const std::string& id) {
  return First<AccessToken>(kSelectToken "WHERE id = $1", {id}, ReadToken);
}

Result<std::vector<AccessToken>> SqlStore::ListAccessTokens(const std::string& partner) {
  std::vector<AccessToken> tokens;
  Status status = db_->Select(kSelectToken "WHERE partner = $1 ORDER BY created_at DESC, id",
                              {partner}, [&](const Row& row) { tokens.push_back(ReadToken(row)); });
  if (!status.ok()) return status;
  return tokens;
}

Status SqlStore::RevokeAccessToken(const std::string& id, const std::string& revoked_at) {
  return Run("UPDATE access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at = ''",
             {id, revoked_at});
}

Status SqlStore::BumpPersonalLists(const std::string& partner, const std::string& customer) {
  return Run(
      "INSERT INTO personal_list_revisions(partner, customer, revision) VALUES ($1, $2, 1) "
      "ON CONFLICT (partner, customer) DO UPDATE SET revision = "
      "personal_list_revisions.revision + 1",
      {partner, customer});
}

Result<std::vector<PersonalListEntry>> SqlStore::ListPersonalEntries(const std::string& partner,
                                                                     const std::string& customer,
                                                                     const std::string& address) {
  std::vector<PersonalListEntry> entries;
  Status status = db_->Select(
      "SELECT address, list, kind, value, added_at, added_by FROM personal_lists WHERE "
      "partner = $1 AND customer = $2 AND ($3 = '' OR address = $3) ORDER BY address, list, "
      "value",
      {partner, customer, address}, [&](const Row& row) {
        entries.push_back(
            {row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4), row.Text(5)});
      });
  if (!status.ok()) return status;
  return entries;
}

Status SqlStore::PutPersonalEntry(const std::string& partner, const std::string& customer,
                                  const PersonalListEntry& e) {
  if (Status s =
          Run("INSERT INTO personal_lists(partner, customer, address, value, list, kind, added_at, "
              "added_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (partner, customer, address, "
              "value) DO UPDATE SET list = EXCLUDED.list, kind = EXCLUDED.kind, added_at = "
              "EXCLUDED.added_at, added_by = EXCLUDED.added_by",
              {partner, customer, e.address, e.value, e.list, e.kind, e.added_at, e.added_by});
      !s.ok())
    return s;
  return BumpPersonalLists(partner, customer);
}

Result<bool> SqlStore::RemovePersonalEntry(const std::string& partner, const std::string& customer,
                                           const std::string& address, const std::string& value) {
  auto removed = db_->Execute(
      "DELETE FROM personal_lists WHERE partner = $1 AND customer = $2 AND address = $3 AND "
      "value = $4",
      {partner, customer, address, value});
  if (!removed.ok()) return removed.status();
  if (*removed == 0) return false;
  if (Status s = BumpPersonalLists(partner, customer); !s.ok()) return s;
  return true;
}

Result<bool> SqlStore::UseLinkNonce(const std::string& nonce, const std::string& used_at,
                                    const std::string& expires_at) {
  auto inserted = db_->Execute(
      "INSERT INTO used_links(nonce, used_at, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO "
      "NOTHING",
      {nonce, used_at, expires_at});
  if (!inserted.ok()) return inserted.status();
  return *inserted > 0;
}

Result<std::string> SqlStore::GatewaySecret(const std::string& name, const std::string& fresh) {
  if (Status s =
          Run("INSERT INTO gateway_keys(name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
              {name, fresh});
      !s.ok())
    return s;
  auto kept = FirstText("SELECT secret FROM gateway_keys WHERE name = $1", {name});
  if (!kept.ok()) return kept.status();
  if (!*kept) return Status(StatusCode::kInternal, "the store lost the gateway's " + name);
  return std::move(**kept);
}

Status SqlStore::RecordQuarantineAction(const std::string& partner, const std::string& customer,
                                        int64_t id, const std::string& recipient,
                                        const std::string& action, const std::string& at,
                                        const std::string& actor) {
  return Run(
      "INSERT INTO quarantine_actions(partner, customer, id, recipient, action, at, actor) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
      {partner, customer, id, recipient, action, at, actor});
}

Status SqlStore::ForgetLinkNonce(const std::string& nonce) {
  return Run("DELETE FROM used_links WHERE nonce = $1", {nonce});
}

Status SqlStore::AttachQuarantineActions(const std::string& partner, const std::string& customer,
                                         std::vector<QuarantinedMessage*> messages) {
  if (messages.empty()) return Status::Ok();
  std::map<int64_t, QuarantinedMessage*> by_id;
  for (QuarantinedMessage* m : messages) by_id[m->id] = m;
  return db_->Select(
      "SELECT id, recipient, action FROM quarantine_actions WHERE partner = $1 AND customer = $2 "
      "AND id BETWEEN $3 AND $4 ORDER BY id, at, recipient",
      {partner, customer, by_id.begin()->first, by_id.rbegin()->first}, [&](const Row& row) {
        auto it = by_id.find(row.Int(0));
        if (it == by_id.end()) return;
        std::string action = row.Text(2);
        QuarantinedMessage& m = *it->second;
        (action == "released"    ? m.released_to
         : action == "requested" ? m.release_requests
                                 : m.removed_by)
            .push_back(row.Text(1));
      });
}

}  // namespace gw
