#pragma once
// The outbox: mail that an accepted command causes, written to the store's "outbox"
// column family in the same WriteBatch as the command's events (so that a mail goes
// out if and only if what caused it is durable), and deleted once delivered.
//
// Key:   the position of the command's first event (8 bytes, big-endian), then the
//        record's index within the command (4 bytes, big-endian: an import of
//        200,000 rows queues as many welcome mails): mail is delivered in log order
//        (src/app's outboxKey writes it). Keys of earlier builds had a 2-byte index
//        and are still read.
// Value: a MailRecord as JSON (encodeMailRecord). It names people by id only; their
//        address and name are looked up at delivery time, so a user anonymized in
//        between gets nothing. It does hold the secret that the mail carries.
//
// Plain functions on values: safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"

namespace portal {

// The kinds of mail, as stored in MailRecord::kind.
inline constexpr std::string_view kWelcomeMail = "welcome";
inline constexpr std::string_view kTemporaryPasswordMail = "temporary-password";
inline constexpr std::string_view kPasswordResetMail = "password-reset";
// Told to the user after their password was changed or reset (no secret in it).
inline constexpr std::string_view kPasswordChangedMail = "password-changed";

struct MailRecord {
  std::string kind;               // one of the kinds above
  std::string companyId, userId;  // the recipient
  std::string secret;             // the temporary password or the reset token; may be empty
  // The reset link's path ("/reset-password#token=…"), put on MailSettings::publicUrl
  // when the mail is made; empty: the sign-in URL, MailSettings::publicUrl. (Records
  // made before 2026-12-07 may hold a whole URL, used as it is.)
  std::string link;
  std::string companySlug;        // what the recipient types as "company" to sign in
};

// The record as the bytes stored in the outbox.
std::string encodeMailRecord(const MailRecord& record);

// Reads what encodeMailRecord wrote. kCorrupt when the bytes are not JSON of that
// shape, name no company or user, or name a kind this build does not know.
Result<MailRecord> decodeMailRecord(std::string_view bytes);

// Where a record sits in the outbox.
struct OutboxSlot {
  std::uint64_t position = 0;  // of the first event of the command that caused it
  std::uint32_t index = 0;     // the n-th mail of that command
};

// nullopt when `key` is not an outbox key (12 bytes, or 10 from earlier builds).
std::optional<OutboxSlot> parseOutboxKey(std::string_view key);

// "<position as 16 hex digits>-<index as 8 hex digits>-<kind>", e.g.
// "000000000000002a-00000000-welcome": names a delivery (the .eml file, the Message-ID);
// such names sort in log order. `kind` must be one of the known kinds.
std::string mailFileStem(const OutboxSlot& slot, std::string_view kind);

}  // namespace portal
