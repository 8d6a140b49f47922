// portal-server: serves the API of API.md on a data directory; usage() below lists
// its flags.
//
// SIGTERM, SIGINT or SIGHUP: stops accepting, answers what is in flight, exits 0.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "events/log.h"
#include "events/text.h"
#include "src/app/countries_file.h"
#include "src/app/mail_recipients.h"
#include "src/app/operator.h"
#include "src/app/portal.h"
#include "src/app/provisioning.h"
#include "src/app/system.h"
#include "src/app/version.h"
#include "src/domain/email.h"
#include "src/http/api.h"
#include "src/http/client_address.h"
#include "src/http/server.h"
#include "src/http/starting.h"
#include "src/mail/mailer.h"
#include "src/mail/smtp_transport.h"
#include "src/mail/transport.h"
#include "src/publish/log_publisher.h"
#include "src/store/event_store.h"

namespace {

using namespace portal;

// The name of a stop signal, as the log says it.
const char* signalName(int sig) {
  return sig == SIGTERM  ? "SIGTERM"
         : sig == SIGINT ? "SIGINT"
         : sig == SIGHUP ? "SIGHUP"
                         : "a signal";
}

// A second SIGTERM or SIGINT while stopping: an operator who will not wait. It ends
// the process at once; what was acknowledged is durable already.
[[noreturn]] void stopAtOnce() {
  logLine("portal-server: second signal; stopping now");
  flushLog(500);
  std::_Exit(1);
}

[[noreturn]] void usage(const std::string& problem);

// The text of the file given to `flag` (readNatsFile), or the start stops.
std::string natsFile(const std::string& flag, const std::string& path) {
  NatsFile file = readNatsFile(path);
  if (!file.problem.empty()) usage(flag + " " + file.problem);
  return std::move(file.text);
}

// The secret a file given to `flag` holds: its first line, without its line end
// (kept in a file so that it is not in the command line, which `ps` shows anyone).
std::string secretFile(const std::string& flag, const std::string& path) {
  std::string line = natsFile(flag, path);
  line.erase(std::min(line.find('\n'), line.size()));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) usage(flag + " " + path + " holds nothing on its first line");
  if (auto problem = credentialProblem(line)) usage(flag + " " + path + " " + *problem);
  return line;
}

// `problem` on stderr, one line, exit 2; with no problem (--help) the flags on
// stdout, exit 0.
[[noreturn]] void usage(const std::string& problem) {
  if (!problem.empty()) {
    std::fprintf(stderr, "portal-server: %s (see portal-server --help)\n", problem.c_str());
    std::exit(2);
  }
  std::fprintf(
      stdout,
      "usage: portal-server --data DIR [--listen HOST:PORT] [--public-url URL] [--smtp HOST:PORT]\n"
      "                     [--mail-from ADDRESS]\n"
      "                     [--password-hash-cost interactive|minimum] [--io-threads N] [--workers "
      "N]\n"
      "                     [--trusted-proxy ADDRESS[,ADDRESS...]] [--metrics-from NETWORK[,...]]\n"
      "                     [--stop-delay SECONDS] [--sign-in-failures-per-address N]\n"
      "                     [--connections-per-address N] [--idempotency-hours N]\n"
      "                     [--mail-give-up-hours N] [--cors-origin ORIGIN[,...]]\n"
      "                     [--nats nats://HOST:PORT|tls://HOST:PORT [--nats-stream NAME]\n"
      "                      [--nats-ca FILE] [--nats-cert FILE --nats-key FILE]\n"
      "                      [--nats-user NAME --nats-password-file FILE]\n"
      "                      [--nats-token-file FILE]]\n"
      "                     [--demo] [--quiet]\n"
      "       portal-server --version\n"
      "\n"
      "  --data DIR            the portal's data directory (made only with --demo, or by\n"
      "                        portalctl provision in an empty one)\n"
      "  --listen HOST:PORT    where to serve, HOST an IP address or localhost\n"
      "                        (default 127.0.0.1:8080; PORT 0: one the system picks)\n"
      "  --public-url URL      where links in mail point (the Customer Portal's front\n"
      "                        end; default the listen address)\n"
      "  --smtp HOST:PORT      deliver mail to this relay (default: .eml files in\n"
      "                        DIR/outbox/)\n"
      "  --mail-from ADDRESS   the mails' sender (default no-reply@portal.invalid)\n"
      "  --mail-give-up-hours N\n"
      "                        a mail not delivered this long after what caused it is\n"
      "                        dropped, logged (1 to 720, default 120: 5 days)\n"
      "  --password-hash-cost  interactive (default) or minimum (tests, benchmarks)\n"
      "  --io-threads N        network threads, 1 to 256 (default: one a core)\n"
      "  --workers N           threads for blocking work, 1 to 1024 (default 64)\n"
      "  --trusted-proxy A,... reverse proxies whose X-Forwarded-For names the client\n"
      "  --metrics-from N,...  networks that may read /metrics (default loopback only)\n"
      "  --cors-origin O,...   origins (https://portal.example.com) whose pages may call\n"
      "                        the API from a browser (CORS; default none)\n"
      "  --nats nats://H:P     publish the event log, in order and exactly once, to this\n"
      "                        NATS server's JetStream (default: not published);\n"
      "                        tls://H:P over TLS, its certificate naming H\n"
      "  --nats-stream NAME    the JetStream stream, made if missing; its subjects are\n"
      "                        NAME.<companyId> (default portal)\n"
      "  --nats-ca FILE        with tls://: the CA certificates (PEM) the NATS server's\n"
      "                        must chain to (default: the system's)\n"
      "  --nats-cert FILE      with tls://: this server's certificate (PEM), for a NATS\n"
      "  --nats-key FILE       server that verifies its clients, and its private key\n"
      "  --nats-user NAME      the NATS user, its password the first line of\n"
      "  --nats-password-file FILE\n"
      "  --nats-token-file FILE\n"
      "                        or a token, the first line of this file\n"
      "  --stop-delay SECONDS  at a stop signal, go on serving this long (0 to 300,\n"
      "                        default 0) with /readyz answering 503, so that load\n"
      "                        balancers stop sending before the server stops accepting\n"
      "  --sign-in-failures-per-address N\n"
      "                        failed sign-ins from one client address, of any accounts,\n"
      "                        within 15 minutes before its sign-ins wait (1 to 9999,\n"
      "                        default 100; behind one NAT address an office shares it)\n"
      "  --connections-per-address N\n"
      "                        open connections one client address (an IPv6 one's\n"
      "                        /64) may hold, 1 to 100000 (default: a quarter of the\n"
      "                        connection limit; a --trusted-proxy's are not limited)\n"
      "  --idempotency-hours N how long an Idempotency-Key gives its first answer\n"
      "                        again, 0 to 8760 (default 24; 0: for good); past it the\n"
      "                        key is a new one and its record is deleted\n"
      "  --demo                make a demo company in a new portal, print its sign-in\n"
      "  --quiet               no access log\n"
      "  --version             print the commit this was built from and exit\n"
      "\n"
      "SIGTERM, SIGINT or SIGHUP: stops accepting, answers what is in flight, exits 0.\n"
      "The log (stderr) has one line a request and one for each thing to know.\n");
  std::exit(0);
}

// Calls fn with each item of a comma-separated list, trimmed.
template <class F>
void forEachListed(const std::string& text, F fn) {
  std::string_view list = text;
  while (true) {
    const std::size_t comma = list.find(',');
    fn(trim(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// What to do about a --data that is no portal's (said after the reason).
std::string whatToDo(const Error& e) {
  // (A message that says what to do already, after a ';', is left as it is.)
  if ((e.code != ErrorCode::kNotFound && e.code != ErrorCode::kNotPortalData) ||
      e.message.find(';') != std::string::npos)
    return "";
  return "; give the data directory of a portal (portalctl provision makes one), or start with "
         "--demo to make a demo portal in a new or empty directory";
}

bool splitHostPort(const std::string& text, std::string& host, std::uint16_t& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string p = text.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const unsigned long n = std::stoul(p);
  if (n > 65535) return false;
  port = static_cast<std::uint16_t>(n);
  return true;
}

// A flag's whole number from `least` to `most`, or the usage error naming them (and
// `unit`, "seconds" say, when the number has one).
std::size_t count(const char* flag, const std::string& text, std::size_t most,
                  std::size_t least = 1, const char* unit = "") {
  std::string_view digits = text;  // without leading zeros: "0024" is 24
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  const bool whole = !digits.empty() && digits.size() <= std::to_string(most).size() &&
                     text.find_first_not_of("0123456789") == std::string::npos;
  const std::size_t n = whole ? std::stoul(text) : 0;
  if (!whole || n < least || n > most)
    usage(std::string(flag) + " needs a whole number " +
          (*unit ? std::string("of ") + unit + " " : "") + "from " + std::to_string(least) +
          " to " + std::to_string(most));
  return n;
}

// What is wrong with a --public-url, if anything: the links of every mail are made
// of it, so it must be a URL a mail client opens as meant (a review found
// "http://:80", "http://host:99999" and "http://user:secret@host" taken).
std::optional<std::string> publicUrlProblem(const std::string& url) {
  const std::string lower = asciiLower(url);
  const std::size_t scheme = lower.rfind("https://", 0) == 0  ? 8
                             : lower.rfind("http://", 0) == 0 ? 7
                                                              : 0;
  if (scheme == 0) return "must be an http:// or https:// URL, e.g. https://portal.example.com";
  // Links are the URL and a path and a fragment (…/reset-password#token=…): a query
  // or a fragment of its own would break them.
  if (url.find_first_of("?#") != std::string::npos)
    return "must have no query (?) or fragment (#): links add a path to it";
  // A link is a line of the mail's body, which may not pass 998 characters.
  if (url.size() > 500) return "must be at most 500 characters";
  for (unsigned char c : url)
    if (c <= 0x20 || c >= 0x7f)
      return "must be ASCII without spaces (a host name in its xn-- form, a path %-encoded)";
  const std::size_t slash = url.find('/', scheme);
  const std::string authority =
      url.substr(scheme, slash == std::string::npos ? std::string::npos : slash - scheme);
  const std::string path = slash == std::string::npos ? "" : url.substr(slash);
  if (authority.find('@') != std::string::npos)
    return "must not hold a user or a password: every mail would carry them";
  std::string host = authority, port;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    unsigned char bytes[16];
    if (close == std::string::npos ||
        ::inet_pton(AF_INET6, host.substr(1, close - 1).c_str(), bytes) != 1)
      return "has an IPv6 address that is not one (it goes in brackets: http://[2001:db8::1]:8080)";
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return "has something after its IPv6 address's bracket";
      port = host.substr(close + 2);
      if (port.empty()) return "names no port after its ':'";
    }
    host = host.substr(0, close + 1);
  } else if (const std::size_t colon = host.find(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    if (port.empty()) return "names no port after its ':'";
    host = host.substr(0, colon);
  }
  if (host.empty()) return "names no host";
  if (host.front() != '[') {
    if (host.size() > 1 && host.back() == '.') host.pop_back();  // an absolute name
    // A DNS name or an IPv4 address: labels of letters, digits, hyphens (not at
    // their ends) and underscores (Docker Compose's service names), between dots; a
    // name whose last label is a number is an IPv4 address, and must be one.
    std::size_t start = 0;
    bool lastNumeric = false;
    while (start <= host.size()) {
      const std::size_t dot = std::min(host.find('.', start), host.size());
      const std::string label = host.substr(start, dot - start);
      if (label.empty()) return "has an empty label in its host name";
      if (label.size() > 63) return "has a label of its host name past 63 characters";
      if (label.front() == '-' || label.back() == '-')
        return "has a host name label that begins or ends with '-'";
      for (unsigned char c : label)
        if (!std::isalnum(c) && c != '-' && c != '_')
          return "has a host name with '" + std::string(1, static_cast<char>(c)) +
                 "' in it (letters, digits, hyphens and dots only; xn-- for others)";
      lastNumeric = label.find_first_not_of("0123456789") == std::string::npos;
      start = dot + 1;
    }
    unsigned char bytes[4];
    if (lastNumeric && ::inet_pton(AF_INET, host.c_str(), bytes) != 1)
      return "has a host that is neither a name nor an IPv4 address";
  }
  if (!port.empty() &&
      (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
       std::stoul(port) == 0 || std::stoul(port) > 65535))
    return "has a port that is not one from 1 to 65535";
  // A path of RFC 3986's characters: a mail client ends a link at a space, a quote
  // or an angle bracket, and a '%' must start a %-escape.
  for (std::size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%') {
      if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(path[i + 2])))
        return "has a '%' in its path that is not a %-escape (two hex digits)";
    } else if (!std::isalnum(c) &&
               std::string_view("-._~!$&'()*+,;=:@/").find(static_cast<char>(c)) ==
                   std::string_view::npos) {
      return "has '" + std::string(1, static_cast<char>(c)) + "' in its path (%-encode it)";
    }
  }
  return std::nullopt;
}

// An IPv6 address as the URL standard writes it (WHATWG, "IPv6 serializer"): eight
// pieces in hex, the first longest run of two or more zero pieces as "::", never a
// dotted IPv4 tail (inet_ntop writes [::ffff:127.0.0.1], browsers [::ffff:7f00:1]).
std::string ipv6AsUrlsWriteIt(const unsigned char (&address)[16]) {
  std::array<unsigned, 8> pieces{};
  for (std::size_t i = 0; i < 8; ++i) pieces[i] = address[2 * i] << 8 | address[2 * i + 1];
  std::size_t runAt = 8, runLength = 1;
  for (std::size_t i = 0; i < 8;) {
    std::size_t j = i;
    while (j < 8 && pieces[j] == 0) ++j;
    if (j - i > runLength) runAt = i, runLength = j - i;
    i = j == i ? i + 1 : j;
  }
  std::string written = "[";
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == runAt) {
      written += i == 0 ? "::" : ":";
      i += runLength - 1;
      continue;
    }
    char piece[8];
    std::snprintf(piece, sizeof piece, "%x", pieces[i]);
    written += piece;
    if (i < 7) written += ":";
  }
  return written + "]";
}

// A --cors-origin as a browser sends it in Origin (RFC 6454 6.1): scheme and host in
// lower case, an IPv6 address as URLs write it, the port without leading zeros and
// left out when it is the scheme's default; or what is wrong with it.
Result<std::string> corsOrigin(std::string_view text) {
  auto refused = [](std::string why) { return Error{ErrorCode::kInvalidArgument, std::move(why)}; };
  std::string origin(text);
  if (origin.empty()) return refused("is empty: the list has a comma too many");
  if (origin.ends_with('/')) origin.pop_back();
  if (origin == "*" || origin == "null")
    return refused(
        "is not taken: name each origin whose pages may call the API, e.g. "
        "https://portal.example.com");
  const std::string kOrigin = "is an origin, a scheme and a host with an optional port: ";
  if (origin.find_first_of("?#") != std::string::npos)
    return refused(kOrigin + "no query or fragment");
  if (origin.find('@') != std::string::npos) return refused(kOrigin + "no user or password");
  for (unsigned char c : origin)
    if (c <= 0x20 || c >= 0x7f)
      return refused("must be ASCII without spaces (a host name in its xn-- form)");
  if (auto problem = publicUrlProblem(origin)) return refused(*problem);
  const std::size_t hostAt = origin.find("://") + 3;
  if (origin.find('/', hostAt) != std::string::npos) return refused(kOrigin + "no path");
  const std::string scheme = asciiLower(origin.substr(0, hostAt));
  std::string host = asciiLower(origin.substr(hostAt)), port;
  const std::size_t colon = host.rfind(':');
  if (colon != std::string::npos && (host.front() != '[' || colon > host.find(']'))) {
    port = host.substr(colon + 1);
    host.resize(colon);
  }
  if (unsigned char address[16];
      host.front() == '[' &&
      ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), address) == 1)
    host = ipv6AsUrlsWriteIt(address);
  while (port.size() > 1 && port.front() == '0') port.erase(0, 1);
  if ((scheme == "https://" && port == "443") || (scheme == "http://" && port == "80"))
    port.clear();
  return scheme + host + (port.empty() ? "" : ":" + port);
}

// The demo company of the README's run command: made on first start. `apiUrl` is
// where this server answers (the curl line);
// `mailPlace` where mail goes (the drop's directory, or the relay);
// `temporaryPlace` where the owner's temporary password went (the drop of an
// earlier run without --smtp may hold it).
void provisionDemo(Portal& portal, const PasswordHasher& hasher, const std::string& apiUrl,
                   const std::string& mailPlace, bool drop, const std::string& temporaryPlace) {
  const std::string email = "owner@demo.example";
  const std::string mailGoes = (drop ? "arrives in " : "goes through ") + mailPlace;
  if (auto company = portal.credentials().companyBySlug("demo")) {
    auto owner = portal.credentials().accountByEmail(company->id, email);
    if (owner && owner->mustChangePassword)
      std::printf(
          "demo company 'demo' exists: sign in at %s as %s with the temporary password,\n"
          "which is in the mail %s (change it first:\n"
          "POST /api/v1/me/password)\n",
          apiUrl.c_str(), email.c_str(), temporaryPlace.c_str());
    else
      std::printf("demo company 'demo' exists: sign in at %s as %s with the password you set\n",
                  apiUrl.c_str(), email.c_str());
    std::printf(
        "(forgot it? POST /api/v1/password-resets {\"company\":\"demo\",\"email\":\"%s\"};\n"
        "the mail %s; send the token after #token= in its link to\n"
        "POST /api/v1/password-resets/confirm {\"token\":\"...\",\"newPassword\":\"...\"})\n",
        email.c_str(), mailGoes.c_str());
    return;
  }
  // A portal of real companies gets no demo company added to its log for good.
  if (portal.store().lastPosition() > 0) {
    std::printf("--demo: %s holds a portal already; a demo company is made only in a new one\n",
                portal.store().path().c_str());
    return;
  }
  ProvisionCompany c;
  c.slug = "demo";
  c.name = "Demo Company";
  c.owner =
      NewUserDetails{email, "Olivia", "Owner", "Managing Director", email, std::string("DE"), true};
  auto done = provisionCompany(portal, hasher, std::move(c));
  if (!done) {
    logLine("portal-server: cannot provision the demo company: " + done.error().message);
    std::exit(1);
  }
  std::printf(
      "demo company provisioned. Sign in:\n"
      "  curl -s -X POST %s/api/v1/sessions -H 'Content-Type: application/json' \\\n"
      "       -d '{\"company\":\"demo\",\"email\":\"%s\",\"password\":\"%s\"}'\n"
      "  company: demo   email: %s   temporary password: %s\n"
      "  (the password must be changed first: POST /api/v1/me/password)\n"
      "  mail (a password reset's link) %s\n",
      apiUrl.c_str(), email.c_str(), done->temporaryPassword.c_str(), email.c_str(),
      done->temporaryPassword.c_str(), mailGoes.c_str());
}

// Whether `host` is an address of no host (0.0.0.0, ::, or ::0 and the other ways
// of writing them): listening on every address.
bool isUnspecifiedAddress(const std::string& host) {
  unsigned char bytes[16] = {};
  const bool parsed = ::inet_pton(AF_INET, host.c_str(), bytes) == 1 ||
                      ::inet_pton(AF_INET6, host.c_str(), bytes) == 1;
  return parsed &&
         std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; });
}

}  // namespace

int main(int argc, char** argv) {
  keepFilesPrivate();
  holdStandardStreams(false);
  std::string data, listen = "127.0.0.1:8080", publicUrl, smtp, cost = "interactive", mailFrom,
                    nats, natsStream, natsCa, natsCert, natsKey, natsUser, natsPasswordFile,
                    natsTokenFile;
  std::size_t ioThreads = 0, workers = 64, stopDelay = 0, idempotencyHours = 24,
              mailGiveUpHours = 120;
  std::optional<std::size_t> addressFailures;
  std::size_t connectionsPerAddress = 0;
  bool demo = false, quiet = false;
  std::vector<std::string> trustedProxies, corsOrigins;
  AddressRanges metricsFrom = AddressRanges::loopback();
  std::set<std::string> given;  // the flags seen so far (but those that add to a list)
  // --help answers whatever else the line holds, as portalctl's and portal-replay's
  // do (a review: `--bogus --help` said only the bad flag). --version comes after the
  // flags before it are checked (`--mail-give-up-hours 168 --version` checks a value).
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) usage("");
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    // Each flag once (--trusted-proxy, --metrics-from and --cors-origin add to their
    // lists), with a value that is not empty: `--smtp "$RELAY"` with the variable unset
    // must not quietly leave every mail on this disk.
    auto value = [&]() -> std::string {
      if (auto problem = flagValueProblem(argc, argv, i)) usage(*problem);
      if (a != "--trusted-proxy" && a != "--metrics-from" && a != "--cors-origin" &&
          !given.insert(a).second)
        usage(a + " is given twice");
      return std::string(argv[++i]);
    };
    if (a == "--data")
      data = value();
    else if (a == "--listen")
      listen = value();
    else if (a == "--public-url")
      publicUrl = value();
    else if (a == "--smtp")
      smtp = value();
    else if (a == "--mail-from")
      mailFrom = value();
    else if (a == "--password-hash-cost")
      cost = value();
    else if (a == "--nats")
      nats = value();
    else if (a == "--nats-stream")
      natsStream = value();
    else if (a == "--nats-ca")
      natsCa = value();
    else if (a == "--nats-cert")
      natsCert = value();
    else if (a == "--nats-key")
      natsKey = value();
    else if (a == "--nats-user")
      natsUser = value();
    else if (a == "--nats-password-file")
      natsPasswordFile = value();
    else if (a == "--nats-token-file")
      natsTokenFile = value();
    else if (a == "--io-threads") {
      // Each keeps three files open (epoll, its wake-up and its timer), taken from
      // those of connections.
      ioThreads = count("--io-threads", value(), 256);
    } else if (a == "--stop-delay") {
      stopDelay = count("--stop-delay", value(), 300, 0, "seconds");
    } else if (a == "--idempotency-hours") {
      idempotencyHours = count("--idempotency-hours", value(), 8760, 0, "hours");
    } else if (a == "--mail-give-up-hours") {
      mailGiveUpHours = count("--mail-give-up-hours", value(), 720, 1, "hours");
    } else if (a == "--connections-per-address") {
      connectionsPerAddress = count("--connections-per-address", value(), 100000);
    } else if (a == "--sign-in-failures-per-address") {
      addressFailures = count("--sign-in-failures-per-address", value(), 9999);
    } else if (a == "--workers")
      workers =
          count("--workers", value(), 1024);  // each a thread: 9,999 took 84 GB of address space
    else if (a == "--trusted-proxy") {
      // Reverse proxies whose X-Forwarded-For names the client (see client_address.h).
      forEachListed(value(), [&](std::string_view one) {
        auto address = canonicalAddress(one);
        if (!address)
          usage("--trusted-proxy takes IP addresses, e.g. 127.0.0.1,::1; '" + std::string(one) +
                "' is not one");
        trustedProxies.push_back(*address);
      });
    } else if (a == "--metrics-from") {
      // Who may read /metrics and /readyz's details besides this host (Prometheus).
      forEachListed(value(), [&](std::string_view one) {
        if (auto problem = metricsFrom.add(one))
          usage("--metrics-from takes IP networks or addresses: " + *problem);
      });
    } else if (a == "--cors-origin") {
      forEachListed(value(), [&](std::string_view one) {
        auto origin = corsOrigin(one);
        if (!origin) usage("--cors-origin '" + std::string(one) + "' " + origin.error().message);
        if (std::find(corsOrigins.begin(), corsOrigins.end(), *origin) == corsOrigins.end())
          corsOrigins.push_back(*origin);
      });
    } else if (a == "--demo" || a == "--quiet") {
      if (!given.insert(a).second) usage(a + " is given twice");  // as a flag with a value
      (a == "--demo" ? demo : quiet) = true;
    } else if (a == "--version") {
      std::printf("%s\n", versionLine("portal-server").c_str());
      return 0;
    } else
      usage(a.starts_with("--") ? unknownFlag(a) : "unknown argument '" + a + "'");
  }
  if (data.empty()) usage("--data DIR is required");
  if (!publicUrl.empty()) {
    // Links are the URL and a path: "https://portal.example/" would give "//reset-password".
    while (publicUrl.size() > 1 && publicUrl.back() == '/') publicUrl.pop_back();
    if (auto problem = publicUrlProblem(publicUrl)) usage("--public-url " + *problem);
  }
  const bool natsTls = nats.starts_with("tls://");
  if (!nats.empty()) {
    if (!natsTls && !nats.starts_with("nats://"))
      usage(
          "--nats must be nats://HOST:PORT or tls://HOST:PORT, e.g. nats://127.0.0.1:4222, "
          "not '" +
          nats + "'");
    const std::size_t scheme = nats.find("://") + 3;
    std::string natsHost;
    std::uint16_t natsPort = 0;
    if (!splitHostPort(nats.substr(scheme), natsHost, natsPort) || natsPort == 0 ||
        natsHost.find_first_of("/@?#, ") != std::string::npos)
      usage("--nats must be " + nats.substr(0, scheme) +
            "HOST:PORT, a port from 1 to 65535, not '" + nats + "'");
  }
  for (const auto& [flag, given] :
       {std::pair{"--nats-stream", &natsStream}, std::pair{"--nats-ca", &natsCa},
        std::pair{"--nats-cert", &natsCert}, std::pair{"--nats-key", &natsKey},
        std::pair{"--nats-user", &natsUser}, std::pair{"--nats-password-file", &natsPasswordFile},
        std::pair{"--nats-token-file", &natsTokenFile}})
    if (!given->empty() && nats.empty())
      usage(std::string(flag) + " is for --nats, which is not given");
  if (!natsStream.empty())
    if (auto problem = streamNameProblem(natsStream)) usage("--nats-stream " + *problem);
  std::string natsCaPem, natsCertPem, natsKeyPem;
  if (!natsCa.empty()) {
    if (!natsTls) usage("--nats-ca is for a TLS connection: give --nats as tls://HOST:PORT");
    natsCaPem = natsFile("--nats-ca", natsCa);
    if (auto problem = caProblem(natsCaPem)) usage("--nats-ca " + natsCa + " " + *problem);
  }
  if (natsCert.empty() != natsKey.empty())
    usage(natsCert.empty() ? "--nats-key is the key of --nats-cert, not given"
                           : "--nats-cert needs its private key: --nats-key FILE");
  if (!natsCert.empty()) {
    if (!natsTls) usage("--nats-cert is for a TLS connection: give --nats as tls://HOST:PORT");
    natsCertPem = natsFile("--nats-cert", natsCert);
    natsKeyPem = natsFile("--nats-key", natsKey);
    if (auto problem = clientCertificateProblem(natsCertPem, natsKeyPem))
      usage("--nats-cert " + natsCert + " and --nats-key " + natsKey + ": " + *problem);
  }
  if (natsUser.empty() != natsPasswordFile.empty())
    usage(natsUser.empty() ? "--nats-password-file is the password of --nats-user, not given"
                           : "--nats-user needs its password: --nats-password-file FILE");
  if (auto problem = credentialProblem(natsUser)) usage("--nats-user " + *problem);
  if (!natsUser.empty() && !natsTokenFile.empty())
    usage("--nats-user and --nats-token-file are two ways to sign in to NATS: give one");
  const std::string natsPassword =
      natsPasswordFile.empty() ? "" : secretFile("--nats-password-file", natsPasswordFile);
  const std::string natsToken =
      natsTokenFile.empty() ? "" : secretFile("--nats-token-file", natsTokenFile);
  ServerOptions serverOptions;
  if (!splitHostPort(listen, serverOptions.host, serverOptions.port))
    usage("--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  // The one name everyone types for this machine; other hosts are IP addresses.
  if (asciiLower(serverOptions.host) == "localhost") serverOptions.host = "127.0.0.1";
  if (!HttpServer::isAddress(serverOptions.host))
    usage("--listen HOST must be an IP address or localhost, not '" + serverOptions.host + "'");
  std::string smtpHost;
  std::uint16_t smtpPort = 0;
  if (!smtp.empty() && (!splitHostPort(smtp, smtpHost, smtpPort) || smtpPort == 0))
    usage("--smtp must be HOST:PORT, a port from 1 to 65535");
  // The sender of the mails, and the name we give the relay (its domain): a relay
  // that checks senders refuses the default, no-reply@portal.invalid.
  MailSettings mailSettings;
  std::string heloName = "portal.invalid";
  if (!mailFrom.empty()) {
    if (auto problem = emailProblem(mailFrom)) usage("--mail-from " + *problem);
    // It is the envelope's sender and names this host to the relay (EHLO), which
    // take ASCII alone from a relay without SMTPUTF8 (a review: every mail failed).
    if (std::any_of(mailFrom.begin(), mailFrom.end(), [](unsigned char c) { return c >= 0x80; }))
      usage("--mail-from must be ASCII (a domain in its xn-- form): relays refuse others");
    const std::string address(trim(mailFrom));
    mailSettings.from = "Customer Portal <" + address + ">";
    heloName = address.substr(address.rfind('@') + 1);
  }
  HashCost hashCost = HashCost::interactive();
  if (cost == "minimum")
    hashCost = HashCost::minimum();
  else if (cost != "interactive")
    usage("--password-hash-cost must be interactive or minimum");
  serverOptions.ioThreads = ioThreads;
  serverOptions.workerThreads = workers;
  serverOptions.trustedProxies = trustedProxies;
  serverOptions.maxConnectionsPerAddress = connectionsPerAddress;
  if (!quiet) serverOptions.accessLog = [](const std::string& line) { logLine(line); };

  // Signals are taken by sigwait() below, not by whichever thread they hit.
  // SIGUSR1 is the command processor's word that a write failed (fail-stop).
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  // A hang-up (the terminal closed, `kill -HUP` from a log rotation's script) stops
  // the server as SIGTERM does: it ended it mid-request before. There is no file of
  // its own to reopen: the log is stderr.
  // (Unless it is ignored, as under nohup: a blocked signal stays pending, so
  // sigwait() would take it all the same.)
  if (struct sigaction hup{}; sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN)
    sigaddset(&stopSignals, SIGHUP);
  sigaddset(&stopSignals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Every connection is an open file: take all the system allows this process (the
  // soft limit is often 1,024, far below the server's connection cap). The server
  // fits its cap to what there is.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &files);
  }

  // A mistyped --data is said as such, before the port (which may be in use too).
  if (!demo)
    if (auto checked = EventStore::checkDirectory(data); !checked) {
      logLine("portal-server: " + checked.error().message + whatToDo(checked.error()));
      return 1;
    }
  // As root on the service account's portal, every file the server writes is
  // root's, and the service account's next start fails on them: said, not refused
  // (portalctl refuses), since a container that always runs as root on a volume the
  // host's user owns serves on as before.
  if (auto owner = foreignPortalOwner(data))
    logLine("portal-server: warning: the portal in " + data + " is " + *owner +
            "'s; running as root, the files this server makes are root's, and a server run as " +
            *owner + " later cannot read them (run it as " + *owner + ": sudo -u " + *owner +
            " portal-server ...)");
  // Bound before the log is opened (which takes seconds for a long one): a port in
  // use is said at once, and a --demo portal is not made for a server that cannot
  // serve. Connections that arrive meanwhile wait in the socket's queue.
  if (auto fd = HttpServer::listenSocket(serverOptions.host, serverOptions.port); !fd) {
    logLine("portal-server: " + fd.error().message);
    return 1;
  } else {
    serverOptions.listenFd = *fd;
  }
  // Until the server proper takes the port over, it answers for it: /healthz 200,
  // the rest 503 `starting`; a stop signal meanwhile ends the process at once, with
  // nothing served yet and every write of the start as crash-safe as any (a view
  // being rebuilt is begun again at the next start).
  // While --demo makes a new portal's files, a stop waits for them to be made: a
  // kill in the middle left RocksDB's first file half-made, a directory that no
  // start took again (a review); the process then stops before serving.
  sigset_t startSignals = stopSignals;
  sigdelset(&startSignals, SIGUSR1);
  std::mutex makingMu;
  bool making = demo && !EventStore::checkDirectory(data);
  int stopOnceMade = 0;
  auto stopStarting = [](int sig, const char* what) {
    logLine(std::string("portal-server: ") + signalName(sig) + " received while " + what +
            "; stopped before serving (the next start opens the log again)");
    std::fflush(stdout);
    flushLog(500);
    std::_Exit(0);
  };
  auto starting = StartingResponder::start(serverOptions.listenFd, startSignals, [&](int sig) {
    {
      std::lock_guard lock(makingMu);
      if (making) return void(stopOnceMade = sig);
    }
    stopStarting(sig, "starting");
  });

  auto countries = loadCountries();
  if (!countries) {
    logLine("portal-server: " + countries.error().message);
    return 1;
  }
  SystemClock clock;
  RandomIds ids;
  PortalOptions portalOptions;
  portalOptions.dataDir = data;
  portalOptions.processor.recordLifetime = std::chrono::hours(idempotencyHours);
  // A mistyped --data must not become a new, empty portal that signs nobody in:
  // only --demo makes one (portalctl provision makes a company's).
  portalOptions.createIfMissing = demo;
  // The publisher (--nats) follows the log; it is made once the log is open, and is
  // told of each durable write while it lives (the mutex: not while it goes).
  std::mutex publisherMu;
  LogPublisher* livePublisher = nullptr;
  portalOptions.onDurable = [&publisherMu, &livePublisher](std::uint64_t) {
    std::lock_guard lock(publisherMu);
    if (livePublisher) livePublisher->notify();
  };
  auto portal = Portal::open(portalOptions, *countries, clock, ids);
  if (!portal) {
    logLine("portal-server: " + portal.error().message + (demo ? "" : whatToDo(portal.error())));
    return 1;
  }
  {
    std::lock_guard lock(makingMu);
    making = false;
    if (stopOnceMade != 0) {
      portal->reset();  // closed as at any stop
      stopStarting(stopOnceMade, "making the new portal (made)");
    }
  }

  // Mail: .eml files in <data>/outbox/, or an SMTP relay.
  std::unique_ptr<MailTransport> transport;
  if (smtp.empty())
    transport = std::make_unique<EmlDirectoryTransport>(data + "/outbox");
  else
    transport = std::make_unique<SmtpTransport>(smtpHost, smtpPort, heloName);
  Portal& p = **portal;
  // A failed write: every command is refused from then on, and the process ends
  // (non-zero) so that its supervisor restarts it once the cause (a full disk) is
  // fixed; the restart recovers from what is durable.
  std::mutex failureMu;
  std::string failure;
  auto failStop = [&failureMu, &failure, main = pthread_self()](const std::string& why) {
    {
      std::lock_guard lock(failureMu);
      if (failure.empty()) failure = why;
    }
    pthread_kill(main, SIGUSR1);
  };
  p.processor().onFailure(failStop);
  // So is a failed write of the views' rows: they would stay where they stopped, and
  // every command after be answered 202 "not shown yet" for good (a test saw it
  // once the disk filled up under the projector first).
  p.projector().onWriteFailure(failStop);

  // The address in the mails' links: known before the server serves (with --listen
  // HOST:0, the port the socket was bound to). An IPv6 address goes in brackets in a
  // URL (http://[::1]:8080).
  const std::string host = serverOptions.host.find(':') != std::string::npos
                               ? "[" + serverOptions.host + "]"
                               : serverOptions.host;
  auto urlOf = [&host](std::uint16_t port) {
    return "http://" + host + ":" + std::to_string(port);
  };
  // A wildcard address (0.0.0.0, ::) is where the server listens, not an address to
  // reach it at: links name this machine by its host name then (a review found
  // links to http://0.0.0.0:8080), and the operator is told to name the real one.
  const bool wildcard = isUnspecifiedAddress(serverOptions.host);
  std::string linkHost = host;
  if (wildcard) {
    char name[256] = {};
    linkHost = ::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0' ? name : "localhost";
  }
  auto linkUrlOf = [&linkHost](std::uint16_t port) {
    return "http://" + linkHost + ":" + std::to_string(port);
  };
  const bool linksGuessed = wildcard && publicUrl.empty();
  // Mail that leaves this machine with links only this machine opens (behind a
  // reverse proxy the server listens on loopback), or from the sender that relays
  // refuse: said at start (a review: nothing said so).
  const bool relayedLinksLocal = !smtp.empty() && !wildcard && publicUrl.empty();
  if (publicUrl.empty()) publicUrl = linkUrlOf(serverOptions.port);
  mailSettings.publicUrl = publicUrl;

  ApiOptions apiOptions;
  apiOptions.hashCost = hashCost;
  apiOptions.metricsFrom = metricsFrom;
  apiOptions.corsOrigins = corsOrigins;
  apiOptions.waitingPolls = waitingPolls(workers);
  if (addressFailures) apiOptions.throttle.addressLimit = static_cast<int>(*addressFailures);
  std::unique_ptr<HttpServer> server;
  // Made before the server serves (an anonymization must find it), started once
  // its links' address is known.
  MailerOptions mailerOptions;
  mailerOptions.giveUpAfter = std::chrono::hours(mailGiveUpHours);
  auto mailer = std::make_unique<Mailer>(p.store(), std::move(transport), mailSettings,
                                         mailRecipients(p, clock), mailerOptions);
  // The log published to NATS JetStream, going on where the stream ends.
  std::unique_ptr<LogPublisher, std::function<void(LogPublisher*)>> publisher(
      nullptr, [&publisherMu, &livePublisher](LogPublisher* gone) {
        {
          std::lock_guard lock(publisherMu);
          livePublisher = nullptr;
        }
        delete gone;  // (stops it)
      });
  if (!nats.empty()) {
    PublisherOptions publisherOptions;
    publisherOptions.url = nats;
    if (!natsStream.empty()) publisherOptions.stream = natsStream;
    publisherOptions.caPem = natsCaPem;
    publisherOptions.certPem = natsCertPem;
    publisherOptions.keyPem = natsKeyPem;
    publisherOptions.user = natsUser;
    publisherOptions.password = natsPassword;
    publisherOptions.token = natsToken;
    publisherOptions.log = [](const std::string& line) { logLine("portal-server: " + line); };
    publisher.reset(new LogPublisher(p.store(), publisherOptions));
    {
      std::lock_guard lock(publisherMu);
      livePublisher = publisher.get();
    }
    publisher->start();
  }
  // What the network threads read of the server, set once it is made.
  std::atomic<HttpServer*> liveServer{nullptr};
  apiOptions.mailQueued = [m = mailer.get()] { m->notify(); };
  // A relay keeps nothing here, but an earlier run without --smtp may have left the
  // mail drop: its files to a person anonymized now go all the same.
  std::unique_ptr<EmlDirectoryTransport> earlierDrop;
  if (!smtp.empty()) earlierDrop = std::make_unique<EmlDirectoryTransport>(data + "/outbox");
  apiOptions.forgetMail = [m = mailer.get(), &earlierDrop](
                              const std::string& companyId,
                              const std::string& email) -> Result<void> {
    if (earlierDrop)
      if (auto r = earlierDrop->forgetRecipient(companyId, email); !r) return r;
    return m->forgetRecipient(companyId, email);
  };
  apiOptions.moreMetrics = [m = mailer.get(), &liveServer, pub = publisher.get(),
                            &store = p.store()](std::string& out) {
    out +=
        "# HELP portal_mail_delivered_total Mails delivered.\n# TYPE portal_mail_delivered_total "
        "counter\n"
        "portal_mail_delivered_total " +
        std::to_string(m->delivered()) + "\n" +
        "# HELP portal_mail_pending Mails in the outbox at the start, then at the end of each "
        "pass.\n"
        "# TYPE portal_mail_pending gauge\nportal_mail_pending " +
        std::to_string(m->pending()) + "\n" +
        "# HELP portal_mail_scans_total Passes over the outbox finished.\n"
        "# TYPE portal_mail_scans_total counter\nportal_mail_scans_total " +
        std::to_string(m->scansCompleted()) + "\n" +
        "# HELP portal_mail_dropped_total Mails dropped unsent, by why (the server's log names "
        "each).\n"
        "# TYPE portal_mail_dropped_total counter\n";
    for (std::size_t i = 0; i < Mailer::kDropReasonNames.size(); ++i)
      out += std::string("portal_mail_dropped_total{reason=\"") + Mailer::kDropReasonNames[i] +
             "\"} " + std::to_string(m->dropped(static_cast<Mailer::DropReason>(i))) + "\n";
    out +=
        "# HELP portal_log_lines_dropped_total Lines of the server's log dropped because stderr "
        "was not read fast enough.\n# TYPE portal_log_lines_dropped_total counter\n"
        "portal_log_lines_dropped_total " +
        std::to_string(logLinesDropped()) + "\n";
    if (pub) {
      // How far the stream is, once a connection has read it (before, after a start
      // with NATS away, the whole log would read as lag: a code review).
      const std::uint64_t published = pub->published(), head = store.lastPosition();
      if (pub->streamKnown())
        out +=
            "# HELP portal_publish_position The last position of the log that the NATS "
            "JetStream stream holds, as acknowledged.\n# TYPE portal_publish_position gauge\n"
            "portal_publish_position " +
            std::to_string(published) +
            "\n# HELP portal_publish_lag_events Durable events not yet in the stream.\n"
            "# TYPE portal_publish_lag_events gauge\nportal_publish_lag_events " +
            std::to_string(head > published ? head - published : 0) + "\n";
      out +=
          std::string("# HELP portal_publish_connected 1 while connected to the NATS server.\n") +
          "# TYPE portal_publish_connected gauge\nportal_publish_connected " +
          (pub->connected() ? "1" : "0") +
          "\n# HELP portal_publish_failures_total Connections to the NATS server that failed or "
          "were lost.\n# TYPE portal_publish_failures_total counter\n"
          "portal_publish_failures_total " +
          std::to_string(pub->failures()) +
          "\n# HELP portal_publish_refused 1 once the stream was refused (another log's, or made "
          "otherwise; the server's log says why): nothing more is published until a restart.\n"
          "# TYPE portal_publish_refused gauge\nportal_publish_refused " +
          (pub->refused().empty() ? "0" : "1") + "\n";
    }
    if (HttpServer* s = liveServer.load())
      out +=
          "# HELP portal_http_connections Open HTTP connections.\n# TYPE portal_http_connections "
          "gauge\n"
          "portal_http_connections " +
          std::to_string(s->connections()) +
          "\n# HELP portal_http_connections_idle Open HTTP connections kept alive between "
          "requests.\n# TYPE portal_http_connections_idle gauge\nportal_http_connections_idle " +
          std::to_string(s->idleConnections()) +
          "\n# HELP portal_http_connections_reclaimed_total Idle keep-alive connections "
          "closed to make room for new ones at the connection limit or at their address's.\n# TYPE "
          "portal_http_connections_reclaimed_total "
          "counter\nportal_http_connections_reclaimed_total " +
          std::to_string(s->reclaimed()) +
          "\n# HELP portal_http_connections_refused_per_address_total New connections answered "
          "503 because their client address (an IPv6 one's /64) held its most open.\n# TYPE "
          "portal_http_connections_refused_per_address_total counter\n"
          "portal_http_connections_refused_per_address_total " +
          std::to_string(s->refusedForAddress()) +
          "\n# HELP portal_http_connections_max The most open HTTP connections served at "
          "once (lowered to the open-files limit at the start).\n# TYPE "
          "portal_http_connections_max gauge\nportal_http_connections_max " +
          std::to_string(s->maxConnections()) +
          "\n# HELP portal_http_connections_max_per_address The most open HTTP connections of "
          "one client address (an IPv6 one's /64).\n# TYPE "
          "portal_http_connections_max_per_address gauge\n"
          "portal_http_connections_max_per_address " +
          std::to_string(s->maxConnectionsPerAddress()) + "\n";
  };
  PasswordHasher hasher(hashCost);

  auto api = Api::create(p, *countries, clock, ids, apiOptions);
  if (!api) {
    logLine("portal-server: " + api.error().message);
    return 1;
  }
  if (starting) starting->stop();
  auto started = HttpServer::start(**api, serverOptions);
  if (!started) {
    logLine("portal-server: " + started.error().message);
    return 1;
  }
  server = std::move(*started);
  liveServer = server.get();
  // The caps as settled (the open-files limit may have lowered them): what an
  // operator compares portal_http_connections with (an end-to-end review).
  logLine("portal-server: serving at most " + std::to_string(server->maxConnections()) +
          " connections at once, " + std::to_string(server->maxConnectionsPerAddress()) +
          " from one client address" +
          (server->maxConnections() < serverOptions.maxConnections
               ? " (lowered from " + std::to_string(serverOptions.maxConnections) +
                     " to the open-files limit; raise it with ulimit -n or LimitNOFILE=)"
               : ""));
  const std::string url = urlOf(server->port());
  mailer->start();

  OperatorContext operatorContext{p.store(), p.projector(), &p, &hasher};
  auto operatorSocket = OperatorSocket::listen(
      operatorSocketPath(data),
      [&](std::string_view request, const OperatorProgress& progress) {
        // Each job is a line of the log: what, how it ended, how long it took (a
        // review: a rebuild, a compaction or a backup left no trace). The command's
        // name and its projection only: a provisioning names people.
        const nlohmann::json asked = nlohmann::json::parse(request, nullptr, false);
        // (A name as it is only when it is a plain word: the log takes no line breaks.)
        auto text = [&](const char* name) {
          std::string t = asked.is_object() && asked.contains(name) && asked[name].is_string()
                              ? asked[name].get<std::string>()
                              : std::string();
          const bool plain = t.size() <= 40 && std::all_of(t.begin(), t.end(), [](unsigned char c) {
                               return std::isalnum(c) || c == '_' || c == '-';
                             });
          return plain ? t : std::string();
        };
        std::string what = text("command").empty() ? "?" : text("command");
        if (!text("projection").empty()) what += " " + text("projection");
        const auto began = std::chrono::steady_clock::now();
        std::string answer = runOperatorRequest(operatorContext, request, progress);
        const nlohmann::json done = nlohmann::json::parse(answer, nullptr, false);
        const bool ok = done.is_object() && done.contains("ok") && done["ok"].is_boolean() &&
                        done["ok"].get<bool>();
        char seconds[32];
        std::snprintf(
            seconds, sizeof seconds, "%.1f",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
        // Why, for the maintenance jobs, which name no one (a review: a cancelled
        // rebuild, a corrupt event and a full disk all read "refused or failed").
        std::string why;
        if (!ok && text("command") != "provision" && done.is_object() && done.contains("error") &&
            done["error"].is_string())
          why = ": " + done["error"].get<std::string>();  // (logLine escapes line breaks)
        // A rebuild an operator cancelled (Ctrl-C, or this server stopping) did not
        // fail (an end-to-end review read "refused or failed" of one).
        const bool cancelled = why.starts_with(": rebuild cancelled");
        logLine("operator: " + what +
                (ok          ? " done"
                 : cancelled ? " cancelled"
                             : " refused or failed") +
                " in " + seconds + " s" + why);
        mailer->notify();
        return answer;
      },
      // A reader's open beside this server (portal-replay): no file is deleted
      // while it reads them.
      [&store = p.store()]() -> Result<std::function<void()>> {
        if (auto held = store.holdFiles(); !held) return held.error();
        return std::function<void()>([&store] { store.releaseFiles(); });
      });
  if (!operatorSocket) {
    logLine("portal-server: " + operatorSocket.error().message);
    // The server runs already: stopped before what its threads reach (the API, the
    // mailer) goes with this scope, in the order of a normal stop.
    server->stop();
    mailer->stop();
    server.reset();
    return 1;
  }

  std::printf("portal-server listening on %s (data %s, mail %s, links %s)\n", url.c_str(),
              data.c_str(), smtp.empty() ? (data + "/outbox/").c_str() : ("smtp://" + smtp).c_str(),
              publicUrl.c_str());
  if (linksGuessed)
    logLine("portal-server: links in mails name " + publicUrl +
            " (this machine's name); pass --public-url with the address people reach the "
            "portal at");
  if (relayedLinksLocal)
    logLine("portal-server: mail goes to the relay " + smtp + " with links to " + publicUrl +
            ", the address this server listens on; pass --public-url with the address people "
            "reach the portal at");
  if (!smtp.empty() && mailFrom.empty())
    logLine("portal-server: mail goes to the relay " + smtp +
            " from no-reply@portal.invalid, which relays that check senders refuse; pass "
            "--mail-from with an address of your domain");
  if (demo) {
    // The owner's temporary password went where mail went when it was made: the
    // drop of a run without --smtp may hold it though this one has a relay.
    const std::string drop = data + "/outbox/";
    bool inDrop = smtp.empty();
    std::error_code ec;
    for (std::filesystem::directory_iterator it(drop, ec), end; !inDrop && !ec && it != end;
         it.increment(ec))
      inDrop = it->path().filename().string().ends_with("-temporary-password.eml");
    const std::string relay = "the relay smtp://" + smtp;
    provisionDemo(p, hasher, url, smtp.empty() ? drop : relay, smtp.empty(),
                  inDrop ? drop + "*-temporary-password.eml" : "sent through " + relay);
    mailer->notify();
  }
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stopSignals, &signal);
  if (signal == SIGUSR1) {
    std::lock_guard lock(failureMu);
    logLine("portal-server: a write to the event log or its views failed (" + failure +
            "); stopping: every command acknowledged is durable, and a restart recovers the log "
            "and the views from it");
  } else {
    logLine(std::string("portal-server: ") + signalName(signal) +
            " received, finishing the requests in flight");
  }
  // Load balancers send to an instance until their probe or their endpoints list
  // says otherwise: meanwhile it serves as before, saying at /readyz it is stopping.
  // A second SIGTERM or SIGINT ends it at once, as below; a failed write ends the
  // wait (said, and the exit is 1).
  if (stopDelay > 0 && signal != SIGUSR1) {
    (*api)->markStopping();
    logLine("portal-server: serving " + std::to_string(stopDelay) +
            " s more (--stop-delay), /readyz answering 503, then stopping");
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(stopDelay);
    for (auto now = std::chrono::steady_clock::now(); now < end;
         now = std::chrono::steady_clock::now()) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(end - now).count();
      const timespec wait{static_cast<time_t>(left / 1'000'000'000),
                          static_cast<long>(left % 1'000'000'000)};
      const int again = sigtimedwait(&stopSignals, nullptr, &wait);
      if (again == SIGTERM || again == SIGINT) stopAtOnce();
      if (again == SIGUSR1) {
        std::lock_guard lock(failureMu);
        logLine("portal-server: a write to the event log or its views failed (" + failure +
                "); stopping now");
        break;
      }
    }
  }
  // A second SIGTERM or SIGINT while the requests in flight are answered.
  std::thread([stopSignals] {
    // Not SIGHUP: a log rotation's `kill -HUP` during the drain is no operator's
    // impatience.
    int again = SIGUSR1;
    while (again == SIGUSR1 || again == SIGHUP) sigwait(&stopSignals, &again);
    stopAtOnce();
  }).detach();
  // HTTP first: it stops accepting at once and answers what is in flight; then the
  // operator socket, whose running rebuild stops at its next progress report (a
  // compaction or a backup runs to its end).
  server->stop();
  // Said, since nothing else says it: their clients saw the connection close.
  if (const std::uint64_t cut = server->cutAtStop(); cut != 0)
    logLine("portal-server: " + std::to_string(cut) +
            (cut == 1 ? " request was" : " requests were") + " still arriving " +
            std::to_string((serverOptions.stopReadGrace.count() + 999) / 1000) +
            " s after the stop began, and closed unanswered (nothing of " +
            (cut == 1 ? "it" : "them") + " was done)");
  operatorSocket->reset();
  mailer->stop();
  // Every command still in the writer's hands is answered while the connections and
  // the API its answer goes through exist (a request that outlived the drain above).
  (*portal)->stop();
  // What is durable goes to the stream before the stop, while it is reachable (a
  // few seconds at most; the next start goes on from where the stream ends).
  if (publisher) {
    const std::uint64_t head = p.store().lastPosition();
    if (publisher->refused().empty() &&
        !publisher->waitPublished(head, std::chrono::seconds(publisher->connected() ? 5 : 0)))
      logLine(publisher->streamKnown()
                  ? "portal-server: publish: the stream holds the log up to position " +
                        std::to_string(publisher->published()) + " of " + std::to_string(head) +
                        "; the next start publishes the rest"
                  : std::string("portal-server: publish: the NATS server was not reached; the "
                                "next start publishes the log from where the stream ends"));
    publisher.reset();
  }
  // (A review: a stop with the relay down said nothing of the mail it left.)
  if (const std::uint64_t waiting = mailer->outboxCount(); waiting != 0)
    logLine("portal-server: " + std::to_string(waiting) +
            (waiting == 1 ? " mail not delivered yet stays" : " mails not delivered yet stay") +
            " in the outbox for the next start");
  server.reset();
  api->reset();
  portal->reset();
  // A write that failed while the requests in flight were answered fails the stop
  // too (fail-stop: the supervisor must see it).
  bool failed;
  {
    std::lock_guard lock(failureMu);
    failed = !failure.empty();
  }
  logLine("portal-server: stopped");
  return signal == SIGUSR1 || failed ? 1 : 0;
}
