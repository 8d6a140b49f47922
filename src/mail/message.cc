#include "src/mail/message.h"

#include <chrono>
#include <ctime>

#include "events/text.h"

namespace portal {
namespace {

// One line of text for a header or a line of the body: CR and LF removed, other
// control characters (tabs included) made spaces, ends trimmed.
std::string oneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\r' || c == '\n') continue;
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return std::string(trim(out));
}

// Whether every line of a CRLF text is at most 998 octets, as a 7bit or 8bit body's
// must be (RFC 5322 2.1.1, RFC 2045 2.8, RFC 5321 4.5.3.1.6).
bool linesFit(std::string_view crlfText) {
  std::size_t start = 0;
  while (start <= crlfText.size()) {
    std::size_t end = crlfText.find("\r\n", start);
    if (end == std::string_view::npos) end = crlfText.size();
    if (end - start > 998) return false;
    start = end + 2;
  }
  return true;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16 |
                 static_cast<unsigned char>(bytes[i + 1]) << 8 |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// RFC 2047 B-encoded words, each at most 72 characters (45 bytes of text) so that a
// header line stays under 78, split between characters, never inside one, and
// joined by folding whitespace. A word ends after a space of the text where one
// falls within it: a reader that puts a space between encoded-words (Python's does)
// then adds one beside a space, never inside a name (a mail review).
std::string encodedWords(std::string_view utf8) {
  constexpr std::size_t kChunk = 45;
  std::string out;
  while (!utf8.empty()) {
    std::size_t n = std::min(kChunk, utf8.size());
    // Back off to the start of a character: continuation bytes are 10xxxxxx.
    while (n < utf8.size() && n > 0 && (static_cast<unsigned char>(utf8[n]) & 0xc0) == 0x80) --n;
    if (n == 0) n = std::min(kChunk, utf8.size());  // not UTF-8: split anywhere
    if (n < utf8.size())
      if (const std::size_t space = utf8.substr(0, n).rfind(' ');
          space != std::string_view::npos && space > 0)
        n = space + 1;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(utf8.substr(0, n)) + "?=";
    utf8.remove_prefix(n);
  }
  return out;
}

// A display name or subject as header text: ASCII as it is (quoted, for a display
// name), anything else as encoded-words; so is ASCII holding "=?", which mail
// programs would decode as an encoded-word of its own (a name typed as
// "=?UTF-8?B?QmNjOi…?=" showed as "Bcc: evil@x.example").
std::string headerText(std::string_view text, bool quote) {
  std::string safe = oneLine(text);
  if (!isAscii(safe) || safe.find("=?") != std::string::npos) return encodedWords(safe);
  if (!quote) return safe;
  std::string out = "\"";
  for (char c : safe) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string nameAddr(std::string_view name, std::string_view address) {
  std::string addr = oneLine(address);
  // Raw UTF-8 in a header is RFC 6532's, which many readers take as undecodable
  // bytes (a review): the domain goes in its ASCII form where that is all of it.
  if (auto ascii = asciiDomainAddress(addr)) addr = std::move(*ascii);
  std::string display = oneLine(name);
  if (display.empty()) return "<" + addr + ">";
  return headerText(display, /*quote=*/true) + " <" + addr + ">";
}

// The display name of "Name <address>" or "\"Name\" <address>"; empty without one.
std::string mailboxName(std::string_view mailbox) {
  auto open = mailbox.rfind('<');
  if (open == std::string_view::npos) return {};
  std::string_view name = trim(mailbox.substr(0, open));
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
    name = name.substr(1, name.size() - 2);
  return std::string(name);
}

std::string rfc5322Date(Timestamp t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t micros = t.micros;
  std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000 - (micros % 1'000'000 < 0));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// A header line folded before spaces so that each of its lines keeps within 78
// characters where it can (RFC 5322 2.1.1); a word longer than that stays whole, and
// the line is folded at the first space after it, so that no line passes RFC 5322's
// 998 while the text has a space (an end-to-end review: a display name of 256
// quotes and 256 backslashes, escaped, made a To: line of 1,050 characters that the
// relay refused, "500 Line too long", and the mail was retried for days).
std::string folded(const std::string& line) {
  constexpr std::size_t kWidth = 78;
  std::string out;
  std::size_t start = 0;  // of the physical line being laid out, in `line`
  while (true) {
    auto end = line.find("\r\n", start);
    std::size_t length = (end == std::string::npos ? line.size() : end) - start;
    if (length > kWidth) {
      // The last space that ends a part short enough; never the one after "Name:".
      auto space = line.rfind(' ', start + kWidth);
      const auto colon = line.find(':');
      const auto first = std::max(start, colon + 1);  // a fold comes after both
      if (space == std::string::npos || space <= first) {
        space = line.find(' ', std::max(start + kWidth, first + 1));
        if (space >= start + length) space = std::string::npos;  // past this line
      }
      // Never a line of white space alone (RFC 5322 3.2.2): text follows the fold.
      const auto text = space == std::string::npos ? space : line.find_first_not_of(' ', space);
      if (space != std::string::npos && space > first && text < start + length) {
        out.append(line, start, space - start).append("\r\n");
        start = space;
        continue;
      }
    }
    if (end == std::string::npos) return out.append(line, start, std::string::npos);
    out.append(line, start, end + 2 - start);
    start = end + 2;
  }
}

// The body with CRLF line ends, ending in one.
std::string crlfLines(std::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 2);
  for (char c : body) {
    if (c == '\r') continue;
    if (c == '\n')
      out += "\r\n";
    else
      out += c;
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

// Quoted-printable (RFC 2045, 6.7) of CRLF-ended lines: bytes other than printable
// ASCII, `=`, and a space or tab that ends a line as =XX; lines of at most 76
// characters, longer ones broken softly with a trailing `=`.
std::string quotedPrintable(std::string_view crlfText) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(crlfText.size() + crlfText.size() / 8);
  std::size_t column = 0;
  for (std::size_t i = 0; i < crlfText.size(); ++i) {
    const auto c = static_cast<unsigned char>(crlfText[i]);
    if (c == '\r' && i + 1 < crlfText.size() && crlfText[i + 1] == '\n') {
      out += "\r\n";
      ++i;
      column = 0;
      continue;
    }
    const bool lineEnds = i + 1 == crlfText.size() || crlfText[i + 1] == '\r';
    const bool plain = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !lineEnds);
    const std::size_t width = plain ? 1 : 3;
    // Room for a soft break's `=` unless this ends the line.
    if (column + width > (lineEnds ? 76u : 75u)) {
      out += "=\r\n";
      column = 0;
    }
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('=');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
    column += width;
  }
  return out;
}

std::string greeting(const Recipient& r) {
  std::string name = oneLine(r.givenName);
  return name.empty() ? "Hello,\n\n" : "Hello " + name + ",\n\n";
}

// "Example Corp's Customer Portal", or "your company's …" when the name is unknown.
std::string portalOf(const Recipient& r) {
  std::string company = oneLine(r.companyName);
  return company.empty() ? "your company's Customer Portal" : "the Customer Portal of " + company;
}

std::string signInLines(const Recipient& r, const std::string& url, const std::string& slug) {
  std::string out;
  if (!url.empty()) out += "    Address:             " + url + "\n";
  if (!slug.empty()) out += "    Company:             " + slug + "\n";
  out += "    Email:               " + oneLine(r.email) + "\n";
  return out;
}

// The body's lines broken before spaces so that each keeps within 76 characters
// where it can (RFC 5322 2.1.1: a company's long name made lines of 210); an
// indented line (a link, a sign-in field) and a word longer than that stay whole.
std::string wrapped(std::string_view body) {
  constexpr std::size_t kWidth = 76;
  std::string out;
  out.reserve(body.size() + body.size() / 64);
  while (!body.empty()) {
    const std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    const bool indented = line.starts_with("    ");
    while (!indented) {
      // The byte at which the line's kWidth-th character ends, counting characters
      // (UTF-8 continuation bytes are not one).
      std::size_t chars = 0, end = 0;
      for (; end < line.size(); ++end)
        if ((static_cast<unsigned char>(line[end]) & 0xc0) != 0x80 && ++chars > kWidth) break;
      if (end == line.size()) break;
      std::size_t space = line.rfind(' ', end);
      if (space == std::string_view::npos || space == 0) space = line.find(' ', end);
      if (space == std::string_view::npos) break;
      out.append(line.substr(0, space)).append("\n");
      line.remove_prefix(space + 1);
    }
    out.append(line);
    if (nl != std::string_view::npos) out.append("\n");
  }
  return out;
}

// "Sat 12 Dec 2026, 10:20 UTC": the minute cut down, never later than the time.
std::string utcMinute(Timestamp t) {
  std::string date = rfc5322Date(t);  // "Sat, 12 Dec 2026 10:20:59 +0000"
  return date.substr(0, 3) + date.substr(4, 12) + ", " + date.substr(17, 5) + " UTC";
}

constexpr std::string_view kSignature =
    "\nKind regards,\nThe Customer Portal\n\n"
    "(This message was sent automatically; replies are not read.)\n";

}  // namespace

std::optional<std::string> asciiDomainAddress(std::string_view address) {
  const auto at = address.rfind('@');
  if (isAscii(address) || at == std::string_view::npos || !isAscii(address.substr(0, at)))
    return std::nullopt;
  auto domain = asciiDomain(address.substr(at + 1));
  if (!domain) return std::nullopt;
  return std::string(address.substr(0, at + 1)) + *domain;
}

std::string mailboxAddress(std::string_view mailbox) {
  auto open = mailbox.rfind('<');
  if (open != std::string_view::npos) {
    auto close = mailbox.find('>', open);
    if (close != std::string_view::npos) return oneLine(mailbox.substr(open + 1, close - open - 1));
  }
  return oneLine(mailbox);
}

std::string makeMessageId(std::string_view unique, std::string_view from) {
  auto keep = [](std::string_view s, bool local) {
    std::string out;
    for (char c : s) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || (local && (c == '_' || c == '+' || c == '='));
      if (ok) out += c;
    }
    return out;
  };
  std::string address = mailboxAddress(from);
  auto at = address.rfind('@');
  std::string domain = at == std::string::npos ? "" : keep(address.substr(at + 1), false);
  if (domain.empty()) domain = "portal.invalid";
  std::string left = keep(unique, true);
  if (left.empty()) left = "mail";
  return "<" + left + "@" + domain + ">";
}

Message renderMail(const MailRecord& record, const Recipient& recipient,
                   const MailSettings& settings) {
  Message m;
  m.from = settings.from;
  m.to = recipient.email;
  m.companyId = record.companyId;
  m.toName = oneLine(oneLine(recipient.givenName) + " " + oneLine(recipient.surname));
  // A link of a path alone (a reset link's) is on the Customer Portal as the server
  // names it when the mail is made, which may be after a restart with another
  // --public-url (a review: a reset held in the outbox while the relay was down
  // went out with the old address); records made before 2026-12-07 hold it whole.
  const std::string link = record.link.starts_with("/")
                               ? oneLine(settings.publicUrl) + oneLine(record.link)
                               : oneLine(record.link);
  const std::string signInUrl = link.empty() ? oneLine(settings.publicUrl) : link;
  const std::string slug = oneLine(record.companySlug);
  const std::string secret = oneLine(record.secret);
  std::string body = greeting(recipient);
  const std::string account = "your account in " + portalOf(recipient) +
                              (slug.empty() ? "" : " (company \"" + slug + "\")");

  if (record.kind == kTemporaryPasswordMail) {
    m.subject = "Your temporary password for the Customer Portal";
    body += "Welcome! You are the owner of " + portalOf(recipient) +
            ", which is now ready.\n\n"
            "Sign in with:\n\n" +
            signInLines(recipient, signInUrl, slug) + "    Temporary password:  " + secret +
            "\n\n"
            "You must change this password when you first sign in: the portal asks you\n"
            "to choose a new password of your own before anything else.\n\n"
            "This temporary password works " +
            (recipient.expiresAt ? "until " + utcMinute(*recipient.expiresAt) + ", " : "for ") +
            "7 days after it was set; after that, ask for a new password with "
            "\"Forgot password?\" on the sign-in page. Please do not forward this email.\n";
  } else if (record.kind == kPasswordResetMail) {
    m.subject = "Reset your Customer Portal password";
    body += "Someone, most likely you, asked to reset the password of " + account + ".\n\n";
    // The minute it expires, cut down (never later than the link works), in UTC.
    const std::string when = recipient.expiresAt
                                 ? "by " + formatRfc3339(*recipient.expiresAt).substr(11, 5) +
                                       " UTC, within 5 minutes of your request"
                                 : std::string("within 5 minutes of your request");
    if (!link.empty())
      body += "To choose a new password, open this link " + when + ":\n\n    " + link + "\n\n";
    else
      body += "To choose a new password, enter this reset code on the sign-in page " + when +
              ":\n\n    " + secret + "\n\n";
    body +=
        "It works only once, expires after 5 minutes, and a newer request replaces\n"
        "it; if it has expired, simply ask for a new one on the sign-in page.\n\n"
        "If you did not ask for this, you can ignore this email: your password stays\n"
        "as it is.\n";
  } else if (record.kind == kPasswordChangedMail) {
    // No secret and no link that acts: only news, so that someone whose password was
    // changed by another learns it while a reset can still take the account back.
    m.subject = "Your Customer Portal password was changed";
    body += "The password of " + account +
            " was changed.\n\n"
            "If you changed it, there is nothing more to do. Everywhere else you were\n"
            "signed in has been signed out.\n\n"
            "If you did not, someone else can sign in as you: choose \"Forgot password?\"\n"
            "on the sign-in page to set a new password at once, and let your company's\n"
            "administrators know.\n";
    if (!signInUrl.empty()) body += "\n    " + signInUrl + "\n";
  } else {  // kWelcomeMail
    m.subject = "Your Customer Portal account";
    body += "An account has been created for you in " + portalOf(recipient) + ".\n\n" +
            (secret.empty() ? "You will sign in to the Customer Portal with:\n\n"
                            : "To sign in, go to the Customer Portal and enter:\n\n") +
            signInLines(recipient, signInUrl, slug);
    if (!secret.empty()) {
      body += "    Temporary password:  " + secret +
              "\n\n"
              "You must change this password when you first sign in: the portal asks you\n"
              "to choose a new password of your own before anything else.\n";
    } else {
      body +=
          "\n"
          "and a password of your own, which you do not have yet: to set it, choose\n"
          "\"Forgot password?\" on the sign-in page, and we will send you a link.\n";
    }
  }
  // The greeting as it is: a name is not broken from its "Hello".
  const std::string hello = greeting(recipient);
  m.body = hello + wrapped(body.substr(hello.size()) + std::string(kSignature));
  return m;
}

Timestamp wallClockNow() {
  using namespace std::chrono;
  return Timestamp{duration_cast<microseconds>(system_clock::now().time_since_epoch()).count()};
}

Timestamp dateOf(const Message& message) { return message.date ? *message.date : wallClockNow(); }

std::string toRfc5322(const Message& message, Timestamp date, bool eightBit) {
  std::string out;
  out.reserve(message.body.size() + 512);
  auto header = [&out](std::string_view name, std::string_view value) {
    out += folded(std::string(name) + ": " + std::string(value));
    out += "\r\n";
  };
  header("From", nameAddr(mailboxName(message.from), mailboxAddress(message.from)));
  header("To", nameAddr(message.toName, message.to));
  header("Subject", headerText(message.subject, /*quote=*/false));
  header("Date", rfc5322Date(date));
  if (std::string id = oneLine(message.messageId); !id.empty()) header("Message-ID", id);
  // RFC 3834: sent by a program, so vacation responders and the like do not answer it.
  header("Auto-Submitted", "auto-generated");
  header("MIME-Version", "1.0");
  header("Content-Type", "text/plain; charset=utf-8");
  std::string body = crlfLines(message.body);
  // A line too long for either (a greeting of 256 emoji is 1,032 octets) goes as
  // quoted-printable, which breaks it softly.
  const bool fits = linesFit(body);
  if (eightBit && fits) {
    header("Content-Transfer-Encoding", "8bit");
  } else if (fits && isAscii(body)) {
    header("Content-Transfer-Encoding", "7bit");
  } else {
    header("Content-Transfer-Encoding", "quoted-printable");
    body = quotedPrintable(body);
  }
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace portal
