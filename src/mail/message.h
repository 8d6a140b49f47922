#pragma once
// What a mail says and how it looks on the wire: the texts of the portal's mails,
// and their RFC 5322 form (headers, then a UTF-8 plain-text body, CRLF line ends).
//
// Every header value is made safe here: CR and LF are removed, so that nothing a
// user typed (a name, an address) can add a header; names that are not ASCII go out
// as RFC 2047 encoded-words.
//
// Plain functions on values: safe from any thread.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "events/timestamp.h"
#include "src/mail/outbox.h"

namespace portal {

// The person a mail goes to, as the read side knows them at delivery time.
struct Recipient {
  Recipient() = default;
  Recipient(std::string e, std::string g, std::string s, std::string c,
            std::optional<Timestamp> expires = std::nullopt)
      : email(std::move(e)),
        givenName(std::move(g)),
        surname(std::move(s)),
        companyName(std::move(c)),
        expiresAt(expires) {}

  std::string email, givenName, surname, companyName;
  // When what the mail carries stops working (a reset mail's link, the owner's
  // temporary password), so that a mail a relay held for a while still tells the
  // time left rather than "5 minutes" from its arrival.
  std::optional<Timestamp> expiresAt;
};

struct MailSettings {
  // The From header: a display name and an address in angle brackets, or an address.
  std::string from = "Customer Portal <no-reply@portal.invalid>";
  // Where people sign in (e.g. "https://portal.example.com"); the mails point there
  // when a record brings no link of its own, and a record's link of a path alone
  // ("/reset-password#token=…") is on it.
  std::string publicUrl;
};

// A mail ready to send. Header values are as people wrote them; toRfc5322 makes
// them safe.
struct Message {
  std::string from;    // "Name <address>" or "address" (MailSettings::from)
  std::string to;      // the recipient's address
  std::string toName;  // the recipient's display name; may be empty
  std::string subject;
  std::string body;       // UTF-8 plain text, lines ending in "\n" or "\r\n"
  std::string messageId;  // "<…@…>"; empty: no Message-ID header
  // The company the mail is for; not sent (the mail drop files it, so that a
  // person's mails are found by company and address: emails are unique per company).
  std::string companyId;
  // When what the mail tells of happened (the event that caused it): its Date, so
  // that a mail held while the relay was down is dated and sorted as made, not as
  // sent (a review). None: when it is sent.
  std::optional<Timestamp> date;
};

// The Date a transport gives `message`: its own, or now.
Timestamp dateOf(const Message& message);
// The system's clock now, as mail dates and the mailer's lifetimes read it.
Timestamp wallClockNow();

// The mail for `record`, in plain English, addressed to `recipient`. messageId is
// left empty: the caller knows what makes this delivery unique (makeMessageId).
Message renderMail(const MailRecord& record, const Recipient& recipient,
                   const MailSettings& settings);

// "<unique@domain>", with the domain of `from`'s address ("portal.invalid" when it
// has none) and `unique` reduced to the characters a Message-ID may hold. The same
// `unique` gives the same id, so a delivery retried after a crash is recognisable.
std::string makeMessageId(std::string_view unique, std::string_view from);

// The address inside "Name <address>", or the whole text trimmed when it has no
// angle brackets; CR and LF removed.
std::string mailboxAddress(std::string_view mailbox);

// A non-ASCII `address` whose local part is ASCII, with its domain in ASCII
// (A-labels, `jan@xn--mller-kva.de`): the same mailbox in a form every reader takes.
// nullopt for any other (an ASCII address needs nothing; a local part beyond ASCII
// has no ASCII form).
std::optional<std::string> asciiDomainAddress(std::string_view address);

// The message as RFC 5322 text: From, To, Subject, Date (`date`, in UTC), Message-ID,
// MIME-Version, Content-Type text/plain; charset=utf-8, Content-Transfer-Encoding,
// a blank line, the body; every line ends in CRLF. The body goes as it is (8bit),
// or, for a relay that does not offer 8BITMIME (`eightBit` false), as 7bit when it
// is ASCII and quoted-printable otherwise (RFC 6152: no 8-bit data to such a relay).
std::string toRfc5322(const Message& message, Timestamp date, bool eightBit = true);

}  // namespace portal
