#include "src/mail/outbox.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace portal {
namespace {

constexpr int kRecordVersion = 1;

bool knownKind(std::string_view kind) {
  return kind == kWelcomeMail || kind == kTemporaryPasswordMail || kind == kPasswordResetMail ||
         kind == kPasswordChangedMail;
}

}  // namespace

std::string encodeMailRecord(const MailRecord& record) {
  nlohmann::json j = {
      {"v", kRecordVersion},
      {"kind", record.kind},
      {"companyId", record.companyId},
      {"userId", record.userId},
      {"secret", record.secret},
      {"link", record.link},
      {"companySlug", record.companySlug},
  };
  return j.dump();
}

Result<MailRecord> decodeMailRecord(std::string_view bytes) {
  auto j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return makeError(ErrorCode::kCorrupt, "mail record is not a JSON object");
  auto version = j.find("v");
  if (version == j.end() || !version->is_number_integer() || *version != kRecordVersion)
    return makeError(ErrorCode::kCorrupt, "mail record has no known version");
  MailRecord r;
  struct Field {
    const char* name;
    std::string* into;
    bool required;
  };
  for (const Field& f :
       {Field{"kind", &r.kind, true}, Field{"companyId", &r.companyId, true},
        Field{"userId", &r.userId, true}, Field{"secret", &r.secret, false},
        Field{"link", &r.link, false}, Field{"companySlug", &r.companySlug, false}}) {
    auto it = j.find(f.name);
    if (it == j.end() || it->is_null()) {
      if (f.required)
        return makeError(ErrorCode::kCorrupt, std::string("mail record has no ") + f.name);
      continue;
    }
    if (!it->is_string())
      return makeError(ErrorCode::kCorrupt,
                       std::string("mail record's ") + f.name + " is not text");
    *f.into = it->get<std::string>();
  }
  if (!knownKind(r.kind)) return makeError(ErrorCode::kCorrupt, "mail record of an unknown kind");
  if (r.companyId.empty() || r.userId.empty())
    return makeError(ErrorCode::kCorrupt, "mail record names no recipient");
  return r;
}

std::optional<OutboxSlot> parseOutboxKey(std::string_view key) {
  if (key.size() != 12 && key.size() != 10) return std::nullopt;
  OutboxSlot slot;
  for (int i = 0; i < 8; ++i)
    slot.position = (slot.position << 8) | static_cast<unsigned char>(key[i]);
  for (std::size_t i = 8; i < key.size(); ++i)
    slot.index = (slot.index << 8) | static_cast<unsigned char>(key[i]);
  return slot;
}

std::string mailFileStem(const OutboxSlot& slot, std::string_view kind) {
  char head[32];
  std::snprintf(head, sizeof head, "%016llx-%08x-", static_cast<unsigned long long>(slot.position),
                static_cast<unsigned>(slot.index));
  return std::string(head) + std::string(kind);
}

}  // namespace portal
