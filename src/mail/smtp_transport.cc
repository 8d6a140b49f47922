#include "src/mail/smtp_transport.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <functional>
#include <initializer_list>
#include <istream>
#include <optional>
#include <vector>

#include "events/text.h"

namespace portal {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// A relay's reply longer than this is not a relay's reply.
constexpr std::size_t kMaxReplyBytes = 64 * 1024;

struct Reply {
  int code = 0;
  std::vector<std::string> lines;  // as sent, without the line ends
  const std::string& last() const { return lines.back(); }
};

// Whether a 5xx reply to RCPT TO or to the message refuses this mail for good: the
// mailbox, the address or the message itself (enhanced status 5.1.x, 5.2.x, 5.3.x,
// 5.6.x; RFC 3463), or, from a relay that gives no enhanced status, 550 to 553
// (552: storage exceeded, a review). A policy or security refusal (5.7.x: "relay
// access denied", "authentication required") is the relay's set-up, which an
// operator fixes: retried; so is a bare 554, which says no more than "transaction
// failed": Amazon SES answers it to the message of a sender not verified, which
// would have dropped every mail (a review of a first version that dropped it).
bool refusedForGood(const Reply& reply) {
  if (reply.code < 500 || reply.code > 599) return false;
  const std::string& text = reply.last();
  if (text.size() >= 9 && text[4] == '5' && text[5] == '.' &&
      std::isdigit(static_cast<unsigned char>(text[6])) && text[7] == '.')
    return text[6] == '1' || text[6] == '2' || text[6] == '3' || text[6] == '6';
  return reply.code >= 550 && reply.code <= 553;
}

// What a relay said, fit to quote in one line of an error message.
std::string quoted(std::string_view line) {
  std::string out;
  for (char c : line.substr(0, 300)) {
    auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? ' ' : c;
  }
  return "\"" + out + "\"";
}

// An address that can stand between angle brackets in an SMTP command.
bool commandSafe(std::string_view address) {
  for (char c : address) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>') return false;
  }
  return true;
}

// A non-ASCII `address` whose local part is ASCII, with its domain in ASCII
// (A-labels): the same mailbox for a relay without SMTPUTF8. nullopt for any other
// (an ASCII address needs nothing; a local part beyond ASCII has no ASCII form).
std::optional<std::string> asciiAddress(std::string_view address) {
  auto out = asciiDomainAddress(address);
  if (!out || !commandSafe(*out)) return std::nullopt;  // (as the address as given was checked)
  return out;
}

// Lines that begin with a dot get another one (RFC 5321 4.5.2), and the end of
// data follows. `text` ends in CRLF (toRfc5322).
std::string dotStuffed(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 64 + 8);
  bool lineStart = true;
  for (char c : text) {
    if (lineStart && c == '.') out += '.';
    out += c;
    lineStart = c == '\n';
  }
  out += ".\r\n";
  return out;
}

// One SMTP connection: blocking calls, each bounded by a deadline, built on Asio's
// asynchronous operations and io_context::run_until.
class Connection {
 public:
  Connection(std::string peer, std::chrono::milliseconds stepTimeout, const std::atomic<bool>& cancelled)
      : peer_(std::move(peer)),
        stepTimeout_(stepTimeout),
        cancelled_(cancelled),
        socket_(io_),
        buffer_(kMaxReplyBytes) {}
  ~Connection() {
    error_code ignored;
    socket_.close(ignored);
  }

  Result<void> connect(const std::string& host, std::uint16_t port) {
    const auto deadline = Clock::now() + stepTimeout_;
    tcp::resolver resolver(io_);
    tcp::resolver::results_type endpoints;
    error_code ec = asio::error::would_block;
    resolver.async_resolve(host, std::to_string(port),
                           [&](const error_code& e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                           });
    if (!run(deadline, [&] { resolver.cancel(); })) return timedOut("resolving the relay");
    if (ec) return failed("resolving the relay", ec.message());
    ec = asio::error::would_block;
    asio::async_connect(socket_, endpoints,
                        [&](const error_code& e, const tcp::endpoint&) { ec = e; });
    if (!run(deadline, [&] { closeSocket(); })) return timedOut("connecting");
    if (ec) return failed("connecting", ec.message());
    return {};
  }

  // Sends `line` and CRLF (nothing when `line` is empty), then reads the reply and
  // checks its code against `expected`.
  // Where `forGood` says so (to this recipient, to this message), a reply that
  // refuses the mail for good (refusedForGood) is kInvalidArgument: "never".
  // Elsewhere (the greeting, MAIL FROM) a refusal is the relay's set-up, which an
  // operator fixes, and later tries may pass.
  Result<Reply> step(const std::string& name, const std::string& line,
                     std::initializer_list<int> expected, bool forGood = false,
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    const std::chrono::milliseconds limit = timeout.value_or(stepTimeout_);
    const auto deadline = Clock::now() + limit;
    if (!line.empty()) {
      if (auto s = send(name, line + "\r\n", deadline); !s) return s.error();
    }
    auto reply = readReply(name, deadline, limit);
    if (!reply) return reply.error();
    answered_ = true;
    for (int code : expected)
      if (reply->code == code) return reply;
    Error e = failed(name, "the relay answered " + quoted(reply->last()));
    if (forGood && refusedForGood(*reply)) {
      e.code = ErrorCode::kInvalidArgument;
      e.message += " (refused for good)";
    }
    return e;
  }

  Result<void> send(const std::string& name, const std::string& bytes, Clock::time_point deadline) {
    answered_ = false;
    error_code ec = asio::error::would_block;
    asio::async_write(socket_, asio::buffer(bytes),
                      [&](const error_code& e, std::size_t) { ec = e; });
    if (!run(deadline, [&] { closeSocket(); })) return timedOut(name);
    if (ec) return failed(name, "cannot send: " + ec.message());
    return {};
  }

  Result<Reply> readReply(const std::string& name, Clock::time_point deadline,
                          std::chrono::milliseconds timeout) {
    answered_ = false;
    Reply reply;
    while (true) {
      error_code ec = asio::error::would_block;
      asio::async_read_until(socket_, buffer_, '\n',
                             [&](const error_code& e, std::size_t) { ec = e; });
      if (!run(deadline, [&] { closeSocket(); })) return timedOut(name, timeout);
      if (ec == asio::error::eof) return failed(name, "the relay closed the connection");
      if (ec == asio::error::not_found) return failed(name, "the relay's reply is too long");
      if (ec) return failed(name, "cannot read the reply: " + ec.message());
      std::istream in(&buffer_);
      std::string line;
      std::getline(in, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      bool digits = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                    std::isdigit(static_cast<unsigned char>(line[1])) &&
                    std::isdigit(static_cast<unsigned char>(line[2]));
      if (!digits || (line.size() > 3 && line[3] != '-' && line[3] != ' '))
        return failed(name, "the relay's reply is not SMTP: " + quoted(line));
      reply.code = std::stoi(line.substr(0, 3));
      bool more = line.size() > 3 && line[3] == '-';
      reply.lines.push_back(std::move(line));
      if (!more) return reply;
    }
  }

  // Ends a session the relay's last reply left in step (a message taken, a refusal,
  // or an address it cannot take) with QUIT, as RFC 5321 4.1.1.10 asks, rather than
  // a bare close (a review: relays log that as a lost connection). Not after a timeout, a broken
  // connection or a reply cut short: the dialogue is out of step then.
  void quitInStep() {
    if (answered_ && !cancelled_.load())
      (void)step("QUIT", "QUIT", {221}, false, std::min(stepTimeout_, kQuitWait));
  }

 private:
  static constexpr std::chrono::milliseconds kQuitWait{2000};

  // Runs the pending operation until it completes or `deadline` passes; then
  // `cancel` aborts it and its handler runs before this returns (false).
  // Looks at the transport's cancel() every 100 ms meanwhile.
  bool run(Clock::time_point deadline, const std::function<void()>& cancel) {
    io_.restart();
    while (!io_.stopped() && !cancelled_.load() && Clock::now() < deadline)
      io_.run_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(100)));
    if (io_.stopped()) return true;
    cancel();
    io_.restart();
    io_.run();
    return false;
  }

  void closeSocket() {
    error_code ignored;
    socket_.close(ignored);
  }

  Error failed(const std::string& step, const std::string& why) const {
    return makeError(ErrorCode::kIoError, "SMTP " + step + " (" + peer_ + "): " + why);
  }
  Error timedOut(const std::string& step) const { return timedOut(step, stepTimeout_); }
  Error timedOut(const std::string& step, std::chrono::milliseconds timeout) const {
    // Given up because the mailer stops, not because the relay took too long.
    if (cancelled_.load()) return failed(step, "cancelled: the mailer is stopping");
    return failed(step, "no answer within " + std::to_string(timeout.count()) + " ms");
  }

  std::string peer_;
  std::chrono::milliseconds stepTimeout_;
  const std::atomic<bool>& cancelled_;
  asio::io_context io_;
  tcp::socket socket_;
  asio::streambuf buffer_;
  bool answered_ = false;  // the last step read a whole reply: the relay waits for a command
};

}  // namespace

SmtpTransport::SmtpTransport(SmtpOptions options) : options_(std::move(options)) {}

SmtpTransport::SmtpTransport(std::string host, std::uint16_t port, std::string heloName)
    : SmtpTransport(SmtpOptions{std::move(host), port, std::move(heloName)}) {}

Result<void> SmtpTransport::deliver(const Message& message, const std::string& /*fileStem*/) {
  std::string from = mailboxAddress(message.from);
  std::string to = mailboxAddress(message.to);
  if (to.empty() || !commandSafe(to))
    return makeError(ErrorCode::kInvalidArgument, "SMTP: the recipient's address cannot be sent as it is");
  if (!commandSafe(from))  // the set-up's: retried, not dropped
    return makeError(ErrorCode::kUnavailable, "SMTP: the sender's address cannot be sent as it is");
  std::string helo = options_.heloName;
  if (helo.empty() || !commandSafe(helo)) helo = "localhost";

  // Until the relay takes the sender, a failure is the relay's, not this mail's: the
  // mailer then holds all mail rather than try each in turn. From RCPT TO on, one
  // (a 4xx, a 5.7 policy refusal of an outside domain, a message refused as spam) may
  // be about this mail alone.
  auto relayWide = [](Error e) {
    if (e.code == ErrorCode::kIoError) e.code = ErrorCode::kUnavailable;
    return e;
  };
  if (cancelled_) return makeError(ErrorCode::kIoError, "SMTP: the mailer is stopping");
  Connection c(options_.host + ":" + std::to_string(options_.port), options_.stepTimeout, cancelled_);
  if (auto r = c.connect(options_.host, options_.port); !r) return relayWide(r.error());
  // Every way out below, but the message taken, ends the session it leaves in step.
  auto ended = [&c](Error e) {
    c.quitInStep();
    return e;
  };
  if (auto r = c.step("greeting", "", {220}); !r) return ended(relayWide(r.error()));

  bool eightBit = false, utf8 = false;
  auto ehlo = c.step("EHLO", "EHLO " + helo, {250, 500, 501, 502, 504, 550});
  if (!ehlo) return ended(relayWide(ehlo.error()));
  if (ehlo->code == 250) {
    for (std::size_t i = 1; i < ehlo->lines.size(); ++i) {
      std::string_view keyword = ehlo->lines[i];
      const std::string name = keyword.size() > 4 ? asciiLower(trim(keyword.substr(4))) : "";
      if (name == "8bitmime") eightBit = true;
      if (name == "smtputf8") utf8 = true;
    }
  } else if (auto helloReply = c.step("HELO", "HELO " + helo, {250}); !helloReply) {
    return ended(relayWide(helloReply.error()));
  }

  // An address beyond ASCII (the portal takes them) needs the relay's SMTPUTF8
  // (RFC 6531). Without it, one whose domain alone is beyond ASCII goes with the
  // domain's ASCII form (jan@xn--mller-gmbh-9db.de, the same mailbox), in the
  // envelope and the headers; any other can never go (a recipient's: this mail
  // only; the sender's is the set-up, retried until an operator changes one or the
  // other).
  Message sent;
  const Message* out = &message;
  if (!utf8 && (!isAscii(from) || !isAscii(to))) {
    sent = message;
    if (auto f = asciiAddress(from)) {
      if (const std::size_t at = sent.from.rfind(from); at != std::string::npos)
        sent.from.replace(at, from.size(), *f);
      else
        sent.from = *f;
      from = *f;
    }
    if (auto t = asciiAddress(to)) sent.to = to = *t;
    out = &sent;
  }
  const bool ascii = isAscii(from) && isAscii(to);
  if (!ascii && !utf8)
    return ended(makeError(isAscii(to) ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument,
                           "SMTP (" + options_.host + ":" + std::to_string(options_.port) +
                               "): the " + (isAscii(to) ? "sender's" : "recipient's") +
                               " address is not ASCII and the relay does not offer SMTPUTF8"));
  if (auto r = c.step("MAIL FROM", "MAIL FROM:<" + from + ">" + (eightBit ? " BODY=8BITMIME" : "") +
                                       (ascii ? "" : " SMTPUTF8"),
                      {250});
      !r)
    return ended(relayWide(r.error()));
  if (auto r = c.step("RCPT TO", "RCPT TO:<" + to + ">", {250, 251}, true); !r)
    return ended(r.error());
  if (auto r = c.step("DATA", "DATA", {354}); !r) return ended(r.error());
  const auto deadline = Clock::now() + options_.stepTimeout;
  if (auto s = c.send("message", dotStuffed(toRfc5322(*out, dateOf(*out), eightBit)), deadline); !s)
    return ended(s.error());
  if (auto r = c.step("end of DATA", "", {250}, true, options_.acceptTimeout); !r)
    return ended(r.error());
  // The relay has taken the message: how it answers QUIT changes nothing.
  c.quitInStep();
  return {};
}

}  // namespace portal
