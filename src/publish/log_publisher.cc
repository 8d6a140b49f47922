#include "src/publish/log_publisher.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "events/codec.h"
#include "src/store/event_store.h"
#include "src/store/sha256.h"

namespace portal {

namespace {

// How a connection ended: to be tried again, or refused for good.
struct Stop {
  bool refuse = false;
  std::string why;
};

std::string statusText(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = natsStatus_GetText(s);
  // nats.c's words for this thread's last error say more, when they are this
  // status's ("no responders available for request": no JetStream on the server).
  natsStatus last = NATS_OK;
  if (const char* detail = nats_GetLastError(&last);
      last == s && detail != nullptr && *detail != '\0') {
    text = detail;
    // (Without the place in nats.c's source it begins with: "(conn.c:2088): ".)
    if (const std::size_t end = text.find("): "); text.starts_with("(") && end != std::string::npos)
      text.erase(0, end + 3);
  }
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return text;
}

// Why a connection could not be made. A server that closes it during the handshake
// (one that verifies its clients' certificates, to a client without one) is told by
// nats.c only as "Expected 'PONG', got ''" (a review): said so, with what to look at.
std::string connectFailure(natsStatus s, const PublisherOptions& o) {
  std::string text = statusText(s);
  if (text != "Expected 'PONG', got ''") return text;
  return "the server closed the connection during the handshake (nats.c: " + text + "); " +
         (o.certPem.empty()
              ? "one that verifies its clients' certificates does so to a client without one: "
                "give --nats-cert and --nats-key"
              : "its log says why (one that verifies its clients' certificates does so to a "
                "certificate it does not trust)");
}

constexpr std::string_view kTlsScheme = "tls://";

// The HOST of a URL SCHEME://HOST:PORT (an IPv6 address without its brackets).
std::string urlHost(std::string_view url) {
  if (const std::size_t scheme = url.find("://"); scheme != std::string_view::npos)
    url.remove_prefix(scheme + 3);
  url = url.substr(0, url.rfind(':'));
  if (url.size() >= 2 && url.front() == '[' && url.back() == ']')
    url = url.substr(1, url.size() - 2);
  return std::string(url);
}

// TLS and authorization as `o` asks for them. The certificate must name the URL's
// host, also where a nats:// URL's server asks for TLS (nats.c then goes over to
// it), which nats.c checks only when told to.
natsStatus secure(natsOptions* opts, const PublisherOptions& o) {
  natsStatus s = natsOptions_SetExpectedHostname(opts, urlHost(o.url).c_str());
  if (s == NATS_OK && o.url.starts_with(kTlsScheme)) {
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && !o.caPem.empty())
      s = natsOptions_SetCATrustedCertificates(opts, o.caPem.c_str());
    if (s == NATS_OK && !o.certPem.empty())
      s = natsOptions_SetCertificatesChain(opts, o.certPem.c_str(), o.keyPem.c_str());
  }
  if (s == NATS_OK && !o.user.empty())
    s = natsOptions_SetUserInfo(opts, o.user.c_str(), o.password.c_str());
  if (s == NATS_OK && !o.token.empty()) s = natsOptions_SetToken(opts, o.token.c_str());
  return s;
}

// A message's id: its position and its hash (hex), unique to the event of one log.
std::string messageId(std::uint64_t position, const Hash& hash) {
  return std::to_string(position) + "." + toHex(hash);
}

std::optional<std::uint64_t> wholeNumber(const char* text) {
  if (text == nullptr || *text == '\0' || std::string_view(text).size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(*c - '0');
  }
  return n;
}

// nats.c calls back on threads of its own, and may do so after the connection it
// was for has been destroyed (its closed callback is queued; a late acknowledgement
// finds its error handler): a code review. So what it is handed is no pointer but
// the number of a link, looked up here under a mutex, each connection its own, and
// struck off when the connection is gone: a late call finds nothing to touch. It is
// never destroyed, so that a call at the process's end, on nats.c's thread, finds
// it whole (a review: statics are destroyed after main returns).
struct Links {
  std::mutex mu;
  std::unordered_map<std::uintptr_t, LogPublisher::Impl*> byNumber;
  std::uintptr_t last = 0;
};
Links& links() {
  static Links* kept = new Links();
  return *kept;
}

}  // namespace

struct LogPublisher::Impl {
  Impl(const EventStore& s, PublisherOptions o) : store(s), options(std::move(o)) {}

  const EventStore& store;
  const PublisherOptions options;
  const std::string subjects = options.stream + ".>";

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // the log grew, a stop, a publish acknowledged
  bool stopping = false;
  std::atomic<bool> stopRequested{false};  // stopping, read outside mu
  std::atomic<bool> known{false};          // published is the stream's (connected once)
  bool woken = false;  // notify() or a connection closed since the thread last looked
  std::string refusedWhy;
  std::thread thread;

  std::atomic<std::uint64_t> published{0};
  std::atomic<bool> connected{false};
  std::atomic<bool> closed{false};  // the connection's, set by nats.c's thread
  std::atomic<std::uint64_t> failures{0};

  // The connection's, on the thread alone (errors come from nats.c's threads; stop()
  // closes nc, under ncMu, to cut a wait for NATS short).
  std::mutex ncMu;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  std::uintptr_t link = 0;  // its number in `links`
  std::mutex errorMu;
  std::string publishError;  // the first refused message of the batch in flight

  void log(const std::string& line) const {
    if (options.log) options.log("publish: " + line);
  }

  void wake() {
    {
      std::lock_guard lock(mu);
      woken = true;
    }
    cv.notify_all();
  }

  // The publisher a callback's link belongs to, while it is there; called with
  // links().mu held.
  static Impl* linked(void* link) {
    auto it = links().byNumber.find(reinterpret_cast<std::uintptr_t>(link));
    return it == links().byNumber.end() ? nullptr : it->second;
  }

  static void onClosed(natsConnection*, void* link) {
    std::lock_guard held(links().mu);
    if (Impl* impl = linked(link)) {
      impl->closed = true;
      impl->wake();
    }
  }

  // Every message's acknowledgement, or its refusal: the first that is not the
  // message stored at the sequence its position is stops the batch. (A repeat is
  // acknowledged with the sequence of what it repeats: a message of another program
  // or an older build, with this id, would be taken for stored otherwise; a
  // review.)
  static void onAcknowledged(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* refusal,
                             void* link) {
    const char* positionText = nullptr;
    natsMsgHeader_Get(msg, "Portal-Position", &positionText);
    const std::string position = positionText ? positionText : "?";
    std::string problem;
    if (refusal != nullptr)
      problem = "event " + position + " was refused: " +
                (refusal->ErrText ? refusal->ErrText : natsStatus_GetText(refusal->Err));
    else if (ack == nullptr || wholeNumber(positionText) != ack->Sequence)
      problem = "event " + position + " was acknowledged as the stream's message " +
                (ack ? std::to_string(ack->Sequence) : std::string("?")) +
                (ack && ack->Duplicate ? ", a repeat of one stored before" : "") +
                ", not as the one its position is";
    natsMsg_Destroy(msg);  // (the handler's to destroy)
    if (problem.empty()) return;
    std::lock_guard held(links().mu);
    Impl* impl = linked(link);
    if (impl == nullptr) return;
    std::lock_guard lock(impl->errorMu);
    if (impl->publishError.empty()) impl->publishError = problem;
  }

  void setPublished(std::uint64_t position) {
    {
      std::lock_guard lock(mu);
      published = position;
    }
    cv.notify_all();
  }

  void disconnect() {
    connected = false;
    if (js) jsCtx_Destroy(js);
    {
      std::lock_guard lock(ncMu);
      if (nc) natsConnection_Destroy(nc);
      nc = nullptr;
    }
    js = nullptr;
    std::lock_guard held(links().mu);
    links().byNumber.erase(link);
    link = 0;
  }

  // Connects, finds (or makes) the stream, and learns where to go on: the position
  // after its last, or why not. The stream's sequence numbers are the log's
  // positions: each message is sent expecting the one before it to be the last.
  struct Resume {
    std::uint64_t next = 1;
    bool first = true;  // nothing sent on this connection yet
  };
  std::variant<Resume, Stop> connect() {
    closed = false;
    {
      std::lock_guard held(links().mu);
      link = ++links().last;
      links().byNumber[link] = this;
    }
    void* closure = reinterpret_cast<void*>(link);
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, options.url.c_str());
    if (s == NATS_OK) s = natsOptions_SetName(opts, "portal-server");
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options.connectTimeout.count());
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, &Impl::onClosed, closure);
    if (s == NATS_OK) s = secure(opts, options);
    natsConnection* made = nullptr;
    if (s == NATS_OK) s = natsConnection_Connect(&made, opts);
    natsOptions_Destroy(opts);
    {
      // (A stop meanwhile: what is asked of it next fails at once.)
      std::lock_guard lock(ncMu);
      nc = made;
      if (nc && stopRequested) natsConnection_Close(nc);
    }
    if (s != NATS_OK) return Stop{false, "cannot connect: " + connectFailure(s, options)};
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = options.timeout.count();
    jo.PublishAsync.MaxPending = static_cast<std::int64_t>(options.batch);
    jo.PublishAsync.AckHandler = &Impl::onAcknowledged;
    jo.PublishAsync.AckHandlerClosure = closure;
    // A message goes whole or not at all: an event past the server's max_payload
    // (1 MB unless set) stops the publishing. An import's UsersImported holds its
    // users' ids, 39 bytes each: 7.8 MB for the 200,000 rows an import may have.
    maxPayload = natsConnection_GetMaxPayload(nc);
    if (maxPayload < kRoomyPayload && !warnedOfPayload) {
      warnedOfPayload = true;
      log("warning: the NATS server takes messages of " + std::to_string(maxPayload) +
          " bytes at most (its max_payload): an import of more than about " +
          std::to_string(maxPayload / 39 / 1000 * 1000) +
          " users makes an event past it, which stops the publishing there; set max_payload: "
          "8MB in its configuration");
    }
    if (s = natsConnection_JetStream(&js, nc, &jo); s != NATS_OK)
      return Stop{false, "cannot make a JetStream context: " + statusText(s)};

    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&info, js, options.stream.c_str(), nullptr, &code);
    if (s == NATS_NO_RESPONDERS)
      return Stop{false,
                  "the NATS server has no JetStream (start it with -js, or enable "
                  "jetstream in its configuration)"};
    if (s == NATS_NOT_FOUND) {
      jsStreamConfig config;
      jsStreamConfig_Init(&config);
      config.Name = options.stream.c_str();
      const char* subjectList[] = {subjects.c_str()};
      config.Subjects = subjectList;
      config.SubjectsLen = 1;
      config.Storage = js_FileStorage;
      config.DenyDelete = true;
      config.DenyPurge = true;
      s = js_AddStream(&info, js, &config, nullptr, &code);
      if (s != NATS_OK)
        return Stop{false,
                    "cannot create the stream " + options.stream + ": " + statusText(s, code)};
      log("created the stream " + options.stream + " (subjects " + subjects + ")");
    } else if (s != NATS_OK) {
      return Stop{false, "cannot read the stream " + options.stream + ": " + statusText(s, code)};
    }
    // Those subjects alone: a message on another subject of the stream would come
    // between two events (a review: refused for good after one).
    const bool ours = info->Config->SubjectsLen == 1 && subjects == info->Config->Subjects[0];
    const std::uint64_t lastSeq = info->State.LastSeq;
    const jsStreamConfig& config = *info->Config;
    const bool noAck = config.NoAck;
    // Past its limits such a stream refuses the new message instead of dropping its
    // oldest: publishing stalls there, which looked like an outage (a review).
    const bool discardNew = config.Discard == js_DiscardNew;
    // Limits that drop messages (an end to end review: taken without a word).
    std::string drops;
    if (config.Storage == js_MemoryStorage) drops += ", kept in memory";
    if (config.MaxMsgs > 0) drops += ", " + std::to_string(config.MaxMsgs) + " messages at most";
    if (config.MaxBytes > 0) drops += ", " + std::to_string(config.MaxBytes) + " bytes at most";
    if (config.MaxAge > 0)
      drops += ", messages kept " + std::to_string(config.MaxAge / 1'000'000'000) + " s";
    if (config.MaxMsgsPerSubject > 0)
      drops += ", " + std::to_string(config.MaxMsgsPerSubject) + " messages a subject at most";
    jsStreamInfo_Destroy(info);
    if (!ours)
      return Stop{true, "the stream " + options.stream + " does not take the subjects " + subjects +
                            " alone (it was made otherwise); name another with --nats-stream"};
    if (noAck)
      return Stop{true, "the stream " + options.stream +
                            " takes messages without acknowledging them (no_ack): what it holds "
                            "could not be known; name another with --nats-stream"};
    if (!drops.empty() && !warnedOfLimits) {
      warnedOfLimits = true;
      log(discardNew
              ? "warning: the stream " + options.stream + " has limits (" + drops.substr(2) +
                    ") and refuses new messages past them (discard new): publishing "
                    "stops there until they are raised"
              : "warning: the stream " + options.stream + " drops messages (" + drops.substr(2) +
                    "): a follower that starts later misses the events dropped, and once "
                    "its last message is dropped this server publishes no more");
    }
    if (lastSeq == 0) return Resume{1};

    natsMsg* last = nullptr;
    s = js_GetMsg(&last, js, options.stream.c_str(), lastSeq, nullptr, &code);
    if (s == NATS_NOT_FOUND)
      return Stop{true, "the stream " + options.stream + "'s last message (sequence " +
                            std::to_string(lastSeq) +
                            ") is gone: where this log goes on in it is not known; delete the "
                            "stream to publish the log into it anew"};
    if (s != NATS_OK)
      return Stop{false, "cannot read the stream " + options.stream + ": " + statusText(s, code)};
    const char* positionText = nullptr;
    const char* hashText = nullptr;
    natsMsgHeader_Get(last, "Portal-Position", &positionText);
    natsMsgHeader_Get(last, "Portal-Hash", &hashText);
    const std::optional<std::uint64_t> position = wholeNumber(positionText);
    const std::string streamHash = hashText ? hashText : "";
    natsMsg_Destroy(last);
    if (!position || *position == 0 || streamHash.empty())
      return Stop{true,
                  "the stream " + options.stream + " holds messages that are no portal's events"};
    if (*position != lastSeq)
      return Stop{true, "the stream " + options.stream + "'s last message, sequence " +
                            std::to_string(lastSeq) + ", holds event " + std::to_string(*position) +
                            ": messages were lost from it or added to it; publish to a new "
                            "stream (--nats-stream), or delete this one to publish the log into "
                            "it anew"};
    const std::uint64_t head = store.lastPosition();
    if (*position > head)
      return Stop{true, "the stream " + options.stream + " holds events up to position " +
                            std::to_string(*position) + ", and this log ends at " +
                            std::to_string(head) +
                            ": it is another log's, or this log is an older copy of its own"};
    std::string ownHash;
    if (auto read = store.scan(*position, 1,
                               [&](const RawEvent& raw) {
                                 ownHash = toHex(*raw.hash);
                                 return false;
                               });
        !read)
      return Stop{true,
                  "cannot read event " + std::to_string(*position) + ": " + read.error().message};
    if (ownHash != streamHash)
      return Stop{true, "the stream " + options.stream + "'s event " + std::to_string(*position) +
                            " is not this log's (its hash differs): it is another log's stream, "
                            "or this log has gone another way since (a backup restored)"};
    return Resume{*position + 1};
  }

  // Sends [next, next + count) and waits for JetStream's acknowledgements; the
  // error that stopped it, if any.
  std::optional<Stop> send(Resume& at, std::uint64_t count) {
    RawEvents events;
    events.reserve(count);
    if (auto read = store.scan(at.next, count,
                               [&](const RawEvent& raw) {
                                 events.add(raw);
                                 return true;
                               });
        !read)
      return Stop{
          true, "cannot read the log at " + std::to_string(at.next) + ": " + read.error().message};
    {
      std::lock_guard lock(errorMu);
      publishError.clear();
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
      const RawEvent raw = events[i];
      const std::string position = std::to_string(raw.position);
      const std::string subject =
          options.stream + "." + std::string(peekCompanyId(raw.json).value_or("none"));
      natsMsg* msg = nullptr;
      natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, raw.json.data(),
                                    static_cast<int>(raw.json.size()));
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Portal-Position", position.c_str());
      if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Portal-Type",
                              std::string(peekEventType(raw.json).value_or("")).c_str());
      if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Portal-Prev-Hash", toHex(*raw.prevHash).c_str());
      if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Portal-Hash", toHex(*raw.hash).c_str());
      // The stream's last must be the event before it, of this log: when one is
      // refused, every later one is too, and another log's messages, sent to the
      // stream at the same moment, are refused rather than taken for repeats (an end
      // to end review: with the position alone as the id, two logs published into
      // one stream at once took turns in it, each told its events were stored).
      // Its sequence, always (0: an empty stream; nats.c sends none for 0, hence the
      // header by hand); and the id of this log's event before it, but for the first
      // message of a connection, whose sequence is the check (the stream's last was
      // read and checked just before, and JetStream forgets the last id at a
      // restart once it is older than its window of repeats).
      const std::string msgId = messageId(raw.position, *raw.hash);
      const std::string lastMsgId = messageId(raw.position - 1, *raw.prevHash);
      if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Expected-Last-Sequence",
                              std::to_string(raw.position - 1).c_str());
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = msgId.c_str();
      po.ExpectStream = options.stream.c_str();
      if (!at.first || i != 0) po.ExpectLastMsgId = lastMsgId.c_str();
      if (s == NATS_OK) s = js_PublishMsgAsync(js, &msg, &po);
      if (s == NATS_MAX_PAYLOAD) {
        natsMsg_Destroy(msg);
        return Stop{false, "event " + position + " (" + std::to_string(raw.json.size()) +
                               " bytes) is past the NATS server's max_payload (" +
                               std::to_string(maxPayload) +
                               " bytes): set max_payload: 8MB in its configuration"};
      }
      if (s != NATS_OK) {
        natsMsg_Destroy(msg);  // (null once the library took it)
        return Stop{false, "cannot send event " + position + ": " + statusText(s)};
      }
    }
    // Waited for in slices, so that a stop or a closed connection ends the wait.
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 100;
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    natsStatus s = NATS_TIMEOUT;
    while (s == NATS_TIMEOUT && !closed && !stopRequested &&
           std::chrono::steady_clock::now() < deadline)
      s = js_PublishAsyncComplete(js, &wait);
    {
      std::lock_guard lock(errorMu);
      if (!publishError.empty()) return Stop{false, publishError};
    }
    if (stopRequested) return Stop{};
    if (closed) return Stop{false, "the connection closed"};
    if (s != NATS_OK) return Stop{false, "no acknowledgement: " + statusText(s)};
    at.next += events.size();
    at.first = false;
    progressed = true;
    setPublished(at.next - 1);
    return std::nullopt;
  }

  // Publishes over one connection until it fails or the publisher stops.
  Stop publish(Resume at) {
    setPublished(at.next - 1);
    known = true;
    connected = true;
    reached = true;
    if (sayConnected)
      log("connected to " + options.url + ", stream " + options.stream +
          "; going on after position " + std::to_string(at.next - 1));
    for (;;) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock,
                [&] { return stopping || woken || closed || store.lastPosition() >= at.next; });
        woken = false;
        if (stopping) return Stop{};
      }
      if (closed) return Stop{false, "the connection closed"};
      const std::uint64_t head = store.lastPosition();
      if (head < at.next) continue;
      if (auto stop = send(at, std::min<std::uint64_t>(head - at.next + 1, options.batch)))
        return *stop;
    }
  }

  // Run's, for publish(): whether to say it connected; whether this try has sent
  // anything (`progressed`), and got as far as publishing (`reached`).
  bool sayConnected = true, progressed = false, reached = false, warnedOfLimits = false,
       warnedOfPayload = false;
  std::int64_t maxPayload = 0;  // the connection's server's
  static constexpr std::int64_t kRoomyPayload = 8 << 20;

  void run() {
    std::chrono::milliseconds wait = options.retryFirst;
    std::string lastWhy;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (stopping) break;
      }
      progressed = reached = false;
      auto connection = connect();
      Stop stop = std::holds_alternative<Stop>(connection) ? std::get<Stop>(connection)
                                                           : publish(std::get<Resume>(connection));
      disconnect();
      if (stop.refuse) {
        ++failures;
        log("refused: " + stop.why + "; nothing more is published until a restart");
        std::lock_guard lock(mu);
        refusedWhy = stop.why;
        cv.notify_all();
        return;
      }
      if (stopRequested) break;
      ++failures;
      // One line an outage, and one when its reason changes; not one a try while
      // the same refusal repeats (a message too big for the stream), which waits
      // longer each time as a server away does (a test saw a line a second).
      // A connection after tries that did not connect is said (a review: the end
      // of an outage was not).
      if (progressed) wait = options.retryFirst;
      const bool sayFailure = progressed || stop.why != lastWhy;
      sayConnected = sayFailure || !reached;
      if (sayFailure)
        log(options.url + ": " + stop.why + "; trying again (every " +
            std::to_string(options.retryMost.count() / 1000) + " s at most)");
      lastWhy = stop.why;
      std::unique_lock lock(mu);
      cv.wait_for(lock, wait, [&] { return stopping; });
      wait = std::min(wait * 2, options.retryMost);
    }
  }
};

LogPublisher::LogPublisher(const EventStore& store, PublisherOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

LogPublisher::~LogPublisher() { stop(); }

void LogPublisher::start() {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void LogPublisher::stop() {
  // (First: what the thread finds cut short by the stop is taken for no failure.)
  impl_->stopRequested = true;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  {
    // A wait for NATS (a request, acknowledgements) ends at once.
    std::lock_guard lock(impl_->ncMu);
    if (impl_->nc) natsConnection_Close(impl_->nc);
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

void LogPublisher::notify() { impl_->wake(); }

std::uint64_t LogPublisher::published() const { return impl_->published.load(); }
bool LogPublisher::streamKnown() const { return impl_->known.load(); }
bool LogPublisher::connected() const { return impl_->connected.load(); }
std::uint64_t LogPublisher::failures() const { return impl_->failures.load(); }

std::string LogPublisher::refused() const {
  std::lock_guard lock(impl_->mu);
  return impl_->refusedWhy;
}

bool LogPublisher::waitPublished(std::uint64_t position, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] {
    return impl_->published.load() >= position || !impl_->refusedWhy.empty();
  }) && impl_->published.load() >= position;
}

std::optional<std::string> streamNameProblem(const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 64 &&
                     std::all_of(name.begin(), name.end(), [](unsigned char c) {
                       return std::isalnum(c) || c == '-' || c == '_';
                     });
  if (!plain)
    return "must be 1 to 64 letters, digits, '-' or '_' (it begins the subjects too), not '" +
           name + "'";
  return std::nullopt;
}

namespace {

// Whether nats.c takes `o`'s TLS certificates and key (set as a connection sets them).
bool loads(const PublisherOptions& o) {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = secure(opts, o);
  natsOptions_Destroy(opts);
  return s == NATS_OK;
}

PublisherOptions overTls() {
  PublisherOptions o;
  o.url = std::string(kTlsScheme) + "localhost:4222";
  return o;
}

}  // namespace

NatsFile readNatsFile(const std::string& path) {
  NatsFile file;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    file.problem = path + " is a directory, not a file";
    return file;
  }
  std::FILE* in = std::fopen(path.c_str(), "rb");
  if (in == nullptr) {
    file.problem = path + " cannot be read (" + std::strerror(errno) + ")";
    return file;
  }
  // (Certificates and secrets take a few KiB: past 1 MiB it is no such file, and
  // /dev/zero would never end.)
  constexpr std::size_t kMost = 1 << 20;
  char buffer[4096];
  for (std::size_t n;
       file.text.size() <= kMost && (n = std::fread(buffer, 1, sizeof buffer, in)) > 0;)
    file.text.append(buffer, n);
  const bool failed = std::ferror(in) != 0;
  std::fclose(in);
  if (failed)
    file.problem = path + " cannot be read";
  else if (file.text.size() > kMost)
    file.problem = path + " is larger than 1 MiB: no certificate, key or secret is";
  else if (file.text.empty())
    file.problem = path + " is empty";
  return file;
}

std::optional<std::string> caProblem(const std::string& pem) {
  PublisherOptions o = overTls();
  o.caPem = pem;
  if (!loads(o)) return "holds no certificate that can be loaded (PEM)";
  return std::nullopt;
}

std::optional<std::string> clientCertificateProblem(const std::string& certPem,
                                                    const std::string& keyPem) {
  // Both of PEM's forms of an encrypted key say so ("BEGIN ENCRYPTED PRIVATE KEY",
  // "Proc-Type: 4,ENCRYPTED"): loaded, OpenSSL would ask for its passphrase on the
  // terminal, and wait there (a review).
  if (keyPem.find("ENCRYPTED") != std::string::npos)
    return "the key is encrypted: give it unencrypted, in a file readable by this server's "
           "user alone";
  PublisherOptions o = overTls();
  o.certPem = certPem;
  o.keyPem = keyPem;
  if (!loads(o)) return "are not a certificate and its private key that can be loaded (PEM)";
  return std::nullopt;
}

std::optional<std::string> credentialProblem(std::string_view value) {
  for (const char c : value)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return "holds a quote, a backslash or a control character, which the NATS client sends "
             "as they are in a JSON string (it would break it): change it on the NATS server";
  return std::nullopt;
}

}  // namespace portal
