// Signing in and out, the signed-in user, and passwords: the policy, a change, a
// reset by mailed link.

#include "src/http/api_impl.h"

namespace portal {

namespace {

// A new password that is the temporary one, in any spelling, or the current one:
// refused as the policy's rules are, 422 password-policy with its rule (a review: a
// client that shows the rules for password-policy missed these two).
const PolicyProblem kMadeOfTheTemporaryPassword{
    "not-temporary",
    "The password must not be made of the temporary password (in any case or spelling): it "
    "was mailed in clear; choose one of your own."};
const PolicyProblem kTheCurrentPassword{"not-current",
                                        "The password must differ from your current password."};

}  // namespace

std::vector<PolicyProblem> Api::Impl::policyProblems(std::string_view password,
                                                     const AccountRecord& account) {
  std::vector<std::string> names;
  if (auto person = portal.users().names(account.companyId, account.userId)) {
    names.push_back(std::move(person->first));
    names.push_back(std::move(person->second));
  }
  if (auto company = portal.credentials().companyById(account.companyId)) {
    names.push_back(company->name);
    names.push_back(company->slug);
  }
  return policy.check(password, account.email, names);
}

HttpResponse Api::Impl::policyRejected(const std::vector<PolicyProblem>& problems,
                                       const char* field) {
  std::vector<std::pair<std::string, std::string>> errors;
  for (const auto& p : problems) errors.emplace_back(field, p.message);
  json body = json::parse(validation(errors, "The password does not meet the policy.").body);
  body["code"] = "password-policy";
  body["type"] = "/problems/password-policy";
  json rules = json::array();
  for (const auto& p : problems) rules.push_back(p.rule);
  body["rules"] = rules;
  return problemResponse(body);
}

Result<std::string> Api::Impl::hashPassword(const std::string& password) {
  passwordHashes.fetch_add(1, std::memory_order_relaxed);
  return hashPool.call([&] { return hasher.hash(password); });
}

bool Api::Impl::verifyPassword(const std::string& hash, const std::string& password) {
  passwordHashes.fetch_add(1, std::memory_order_relaxed);
  return hashPool.call(
      [&] { return hasher.verify(hash.empty() ? dummyHash : hash, password) && !hash.empty(); });
}

HttpResponse Api::Impl::badCredentials() {
  HttpResponse r = Api::problem(401, "invalid-credentials", "Sign-in failed",
                                "The company, email and password do not match an active user.");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");  // RFC 9110: every 401 names a scheme
  return r;
}

bool Api::Impl::restoreSignInThrottle() {
  // A stopped credentials view knows not every account: tried again at the first
  // sign-in once it runs (sign-ins are 503 until then), as the sessions' check is.
  // The flag is let go once the replay is done: a sign-in during it waits.
  if (portal.projector().stopped(CredentialsProjection::kName)) {
    throttleUnrestored.store(true, std::memory_order_release);
    return false;
  }
  replaySignIns();
  throttleUnrestored.store(false, std::memory_order_release);
  return true;
}

void Api::Impl::replaySignIns() {
  const EventStore& store = portal.store();
  const std::uint64_t last = store.lastPosition();
  if (last == 0) return;
  const std::int64_t since = clock.now().micros - options.throttle.windowMicros;
  auto unread = [](const Error& e) {
    logLine("portal: the sign-ins of the last window could not be read from the log (" + e.message +
            "); the sign-in throttle starts from nothing");
  };
  // The window's first event, where positions are in the order of their times (the
  // processor never stamps an event earlier than the one before; a log written
  // before that rule is read from the window's newest events on).
  std::uint64_t from = last >= kThrottleEventsRead ? last - kThrottleEventsRead + 1 : 1;
  if (portal.processor().timesOrdered()) {
    std::uint64_t to = last + 1;
    while (from < to) {
      const std::uint64_t mid = from + (to - from) / 2;
      auto e = store.readAt(mid);
      if (!e) return unread(e.error());
      if (e->envelope.occurredAt.micros < since)
        from = mid + 1;
      else
        to = mid;
    }
  }
  // The window's sign-ins, read first: the accounts are looked up after, with a
  // reader held briefly (a rebuild's switch waits for the readers).
  enum class Kind { kFailed, kSucceeded, kReset, kNobody };
  struct SignIn {
    Kind kind;
    Timestamp at;
    std::string companyId, userId, address;
  };
  std::vector<SignIn> signIns;
  auto addressOf = [](const std::optional<Personal>& p) {
    return p && !p->shredded ? p->value : std::string();
  };
  auto read = store.scan(from, last - from + 1, [&](const RawEvent& raw) {
    // (A look at the type first: most events are none of these.)
    const auto type = peekEventType(raw.json);
    if (!type || (*type != LoginFailed::kType && *type != LoginSucceeded::kType &&
                  *type != PasswordResetCompleted::kType))
      return true;
    auto e = store.decode(raw);
    if (!e || e->envelope.occurredAt.micros < since) return true;
    SignIn s{Kind::kNobody, e->envelope.occurredAt, e->envelope.companyId, {}, {}};
    if (const auto* f = std::get_if<LoginFailed>(&e->data)) {
      if (f->userId)
        s = {Kind::kFailed, s.at, s.companyId, *f->userId, addressOf(f->clientAddress)};
    } else if (const auto* ok = std::get_if<LoginSucceeded>(&e->data)) {
      s = {Kind::kSucceeded, s.at, s.companyId, ok->userId, addressOf(ok->clientAddress)};
    } else if (const auto* r = std::get_if<PasswordResetCompleted>(&e->data)) {
      s = {Kind::kReset, s.at, s.companyId, r->userId, {}};
    }
    signIns.push_back(std::move(s));
    return true;
  });
  if (!read) unread(read.error());
  // Each account's key as a sign-in makes it: the company's slug and the email's key.
  std::map<std::pair<std::string, std::string>, std::optional<std::string>> accounts;
  {
    const CredentialsReader creds = portal.credentials();
    std::map<std::string, std::optional<std::string>> slugs;  // by company id
    for (const SignIn& s : signIns) {
      if (s.kind == Kind::kNobody) continue;
      auto [it, fresh] = accounts.try_emplace({s.companyId, s.userId});
      if (!fresh) continue;
      auto [slug, newCompany] = slugs.try_emplace(s.companyId);
      if (newCompany)
        if (auto company = creds.companyById(s.companyId)) slug->second = company->slug;
      const auto account = slug->second ? creds.account(s.companyId, s.userId) : std::nullopt;
      // (None for a user anonymized since: no one signs in as them.)
      if (account) it->second = *slug->second + "\n" + emailKey(account->email);
    }
  }
  std::size_t failures = 0, successes = 0, resets = 0;
  for (const SignIn& s : signIns) {
    if (s.kind == Kind::kNobody) {
      // Recorded, so counted against the company's bound of such records.
      (void)throttle.recordable(s.companyId, s.at);
      continue;
    }
    const std::optional<std::string>& account = accounts.at({s.companyId, s.userId});
    if (!account) continue;
    if (s.kind == Kind::kFailed) {
      if (throttle.attempt(*account, s.address, s.at) == 0) ++failures;
    } else if (s.kind == Kind::kSucceeded) {
      if (throttle.attempt(*account, s.address, s.at) == 0) {
        throttle.succeeded(*account, s.address);
        ++successes;
      }
    } else {
      throttle.clear(*account);
      ++resets;
    }
  }
  // (What was taken in, not what still counts: a success or a reset after failures
  // clears them.)
  if (failures > 0)
    logLine("portal: the sign-in throttle took in the log's last " +
            std::to_string((options.throttle.windowMicros + 59'999'999) / 60'000'000) +
            " minute(s): " + std::to_string(failures) + " failed sign-in(s), " +
            std::to_string(successes) + " successful, " + std::to_string(resets) +
            " completed reset(s)");
}

HttpResponse Api::Impl::signIn(Call& call) {
  HttpResponse error;
  auto fields = requiredStrings<3>(call.req, {"company", "email", "password"}, error);
  if (!fields) return error;
  auto& [slug, email, password] = *fields;
  slug = slugOf(slug);
  const Timestamp now = clock.now();
  if (auto stopped = credentialsStopped()) return *stopped;
  if (throttleUnrestored.load(std::memory_order_acquire)) {
    std::lock_guard lock(throttleRestoreMu);
    // (Again if the view stopped again between the two looks.)
    while (throttleUnrestored.load(std::memory_order_acquire) && !restoreSignInThrottle())
      if (auto stopped = credentialsStopped()) return *stopped;
  }
  const std::string accountKey = slug + "\n" + emailKey(email);
  const std::string address = call.req.clientAddress;
  std::optional<CompanyRecord> company;
  std::optional<AccountRecord> account;
  // The views are read in a block of their own: a reader holds the views' generation,
  // which a rebuild's switch waits for, and must not while hashing or running commands.
  {
    const CredentialsReader creds = portal.credentials();
    company = creds.companyBySlug(slug);
    if (company) account = creds.accountByEmail(company->id, email);
  }

  // The attempt counts as failed until it succeeds, so that parallel guesses cannot
  // all pass the check. Refused attempts append nothing: they would let anyone grow
  // the log; the failures that led to the refusal are in it.
  bool busy = false;
  if (std::int64_t wait = throttle.attempt(accountKey, address, now, true, &busy); wait > 0) {
    // What is throttled and for how long (a review: one text for every cause). It
    // does not tell the account's failures from the address's: either way the same.
    return tooMany(wait, "Too many attempts",
                   std::string(busy ? "Too many sign-ins for this email or from this network "
                                      "at once"
                                    : "Too many failed sign-ins for this email or from this "
                                      "network") +
                       ": try again in " + waitInWords(wait) + ".");
  }
  // Always verify, against a dummy hash when there is no account, so that an
  // unknown email takes as long as a wrong password.
  const bool match = verifyPassword(account ? account->passwordHash : std::string(), password);
  const bool expired =
      account && match &&
      temporaryPasswordExpired(account->mustChangePassword, account->passwordSetAt, now);
  if (!company || !account || !match || !account->active || expired) {
    throttle.failed(accountKey, address);
    // A hash of a lower cost than the server's (its owner has not signed in since
    // the cost was raised, so it was not made again) checks quicker than the dummy:
    // a refusal pays for one hash at the server's cost as well, so that its time
    // does not tell the address from an unknown one (a review).
    if (account && !account->passwordHash.empty() && hasher.needsRehash(account->passwordHash))
      (void)verifyPassword(std::string(), password);
    // Handed to the processor without waiting (as a reset request is): waiting for
    // its fsync made a known company's answer slower than an unknown one's, which
    // has nothing to record, and so told which companies exist. An address that is
    // nobody's is recorded up to a bound a company (LoginThrottle::recordable).
    if (company && !account && !throttle.recordable(company->id, now)) {
      unrecordedFailures.fetch_add(1, std::memory_order_relaxed);
    } else if (company) {
      Submission s;
      s.command =
          Command{company->id, kSystem,
                  RecordLoginFailure{account ? std::optional(account->userId) : std::nullopt,
                                     expired            ? "temporary-password-expired"
                                     : account && match ? "inactive"
                                                        : "bad-credentials",
                                     address.empty() ? std::nullopt : std::optional(address)}};
      idempotency(call.req, call.route, s);  // its command and correlation ids (no key: public)
      portal.submit(std::move(s), [](CommandReply) {});
    }
    return badCredentials();
  }
  throttle.succeeded(accountKey, address);
  // A hash made at a lower cost than this server's (a portal once served at the
  // minimum, or the cost raised since) is made again now that the password is
  // known: left, it would stay quick to crack and its quick answers would tell the
  // address from unknown ones. If hashing fails, the old hash serves on.
  std::optional<std::string> upgraded;
  if (hasher.needsRehash(account->passwordHash)) {
    if (auto h = hashPassword(password)) upgraded = std::move(*h);
  }
  const std::string token = newToken();
  Session session;
  session.tokenHash = tokenHash(token);
  session.companyId = company->id;
  session.userId = account->userId;
  session.createdAt = now;
  session.lastSeen = now;
  session.expiresAt = Timestamp{now.micros + sessions.limits().absoluteMicros};
  session.mustChangePassword = account->mustChangePassword;
  CommandReply reply;
  // Recorded as the user's own act, whose password signed them in: the audit trail
  // by actor and the timeline name them (a review read "system signed in"). No
  // caller's key: the request is public until it succeeds.
  if (auto failed = runAs(call.req, call.route, company->id, account->userId,
                          RecordLogin{account->userId, session.tokenHash, session.expiresAt,
                                      address.empty() ? std::nullopt : std::optional(address),
                                      upgraded, toHex(sha256(account->passwordHash))},
                          reply, {}, false)) {
    // Deactivated between the check and now: the same answer as any bad combination.
    if (reply.status == CommandReply::Status::kRejected) return badCredentials();
    return *failed;
  }
  if (auto r = sessions.add(session); !r)
    return Api::problem(503, "sessions-unavailable", "Sessions cannot be recorded now",
                        r.error().message);
  // A password change, reset or deactivation between the check above and now ended
  // the user's sessions before this one was added: it must not outlive them. Each
  // ends the sessions once its event is durable, so an end that came before the add
  // is in the log by now, and in the view once it has caught up with the log's end:
  // waited for here, since the change itself waits for the views only 10 s (a
  // review: with views further behind, a session of the old password survived).
  // A hash that is neither the one checked nor this sign-in's own: a change, or the
  // hash a sign-in beside this one (two tabs, a double click) made again of the same
  // password, which the password still verifies against (a review got 201 401 401
  // 401). Only in that race is it hashed once more.
  // Nothing appended since this sign-in's own event, which the views showed (the
  // command waited for them): no end can have come before the add, and there is
  // nothing to wait for.
  if (!reply.projected || portal.store().lastPosition() != reply.lastPosition) {
    if (auto behind = viewsCaughtUp("The portal's views are behind its log, so the sign-in "
                                    "could not be checked against them; sign in again shortly.")) {
      (void)sessions.remove(session.tokenHash);
      return *behind;
    }
  }
  if (auto after = portal.credentials().account(company->id, account->userId);
      !after || !after->active || after->passwordSetAt != account->passwordSetAt ||
      (after->passwordHash != account->passwordHash && after->passwordHash != upgraded &&
       !verifyPassword(after->passwordHash, password))) {
    (void)sessions.remove(session.tokenHash);
    return badCredentials();
  }
  std::string out = "{\"token\":" + json(token).dump() +
                    ",\"expiresAt\":" + json(formatRfc3339(session.expiresAt)).dump() +
                    ",\"mustChangePassword\":" + (session.mustChangePassword ? "true" : "false") +
                    ",\"user\":" + userJson(company->id, account->userId) + "}";
  return jsonResponse(201, std::move(out));
}

HttpResponse Api::Impl::signOut(Call& call) {
  if (!sessions.remove(call.tokenHash))
    return Api::problem(503, "sessions-unavailable", "Sessions cannot be recorded now",
                        "The session may still work, or come back after a restart of the "
                        "server; sign out again later.");
  return noContent();
}

HttpResponse Api::Impl::me(Call& call) {
  HttpResponse r = userResponse(call.company(), call.actor());
  if (r.status != 200) return r;
  json u = json::parse(r.body);
  u["mustChangePassword"] = call.session.mustChangePassword;
  r.body = u.dump();
  return r;
}

HttpResponse Api::Impl::changePassword(Call& call) {
  HttpResponse error;
  auto fields = requiredStrings<2>(call.req, {"currentPassword", "newPassword"}, error,
                                   "is not a field of a password change");
  if (!fields) return error;
  auto& [current, next] = *fields;
  // The policy judges, and "must differ" compares, what is hashed (NFKC): twelve
  // decomposed letters that are four once composed are four.
  next = nfkc(next);
  // One change (or reset) of a user's password at a time, each checked against the
  // password the one before it set.
  const auto serial = serializeUser(call.company(), call.actor());
  if (auto behind = viewsCaughtUp()) return *behind;
  if (auto stopped = credentialsStopped()) return *stopped;
  std::optional<AccountRecord> account;
  std::optional<CompanyRecord> company;
  {
    const CredentialsReader creds = portal.credentials();  // not held while hashing
    account = creds.account(call.company(), call.actor());
    company = creds.companyById(call.company());
  }
  if (!account || !company) return unauthorized();
  // A retry of a change that was made (its answer lost) gets the first answer: the
  // current password it would be checked against is the new one by now. Its key's
  // record keeps no fingerprint of the passwords (a fast hash of them on disk would
  // let guesses be tested at SHA-256 speed): the retry's new password is checked
  // against the hash the change set instead, at Argon2id's cost and throttled, and
  // another one is another request under the same key. A key's problem checks no
  // password, and is no guess to count (it was counted, and never cleared: a
  // review).
  std::optional<HttpResponse> problem;
  const std::optional<CommandReply> first = earlierAnswer(call, SetPassword{}, problem);
  if (!first && problem) return *problem;
  // Guesses of the current password with a stolen session are throttled like
  // sign-ins, by the user and by the session (not by address: sign-in failures
  // from the same office must not stop this).
  const std::string userKey = call.company() + "\n" + call.actor();
  if (std::int64_t wait = passwordThrottle.attempt(userKey, call.tokenHash, clock.now()); wait > 0)
    return tooMany(wait, "Too many attempts",
                   "Too many wrong current passwords: try again in " + waitInWords(wait) + ".");
  if (first) {
    if (!first->accepted()) return rejected(first->rejection);
    if (!verifyPassword(account->passwordHash, next)) return rejected(keyReusedRejection());
    passwordThrottle.succeeded(userKey, call.tokenHash);
    return noContent();
  }
  if (!verifyPassword(account->passwordHash, current))
    return validation({{"currentPassword", "is not your current password"}});
  passwordThrottle.succeeded(userKey, call.tokenHash);
  if (auto problems = policyProblems(next, *account); !problems.empty())
    return policyRejected(problems, "newPassword");
  // The temporary password, mailed in clear, in any spelling: in capitals, without
  // its dashes or with characters added, whoever read the mail would guess it (a
  // review set it again in capitals, and the gate lifted).
  if (const std::string temporary =
          account->mustChangePassword ? temporaryPasswordLetters(current) : std::string();
      !temporary.empty() && temporaryPasswordLetters(next).find(temporary) != std::string::npos)
    return policyRejected({kMadeOfTheTemporaryPassword}, "newPassword");
  if (next == nfkc(current)) return policyRejected({kTheCurrentPassword}, "newPassword");
  auto hash = hashPassword(next);
  if (!hash)
    return Api::problem(500, "internal", "Internal error", "The password could not be hashed.");
  CommandReply reply;
  if (auto failed = run(call, SetPassword{call.actor(), *hash, false, "changed"}, reply,
                        passwordChangedMail(call.company())))
    return *failed;
  // This session outlives the change (recorded before the others end, so that both
  // are written out together); a restart ends any other the crash left behind.
  sessions.passwordChanged(call.tokenHash, clock.now());
  sessions.removeUser(call.company(), call.actor(), call.tokenHash);
  // The guesses of the password it replaced, through sessions that have ended now,
  // no longer count against the user's new sessions.
  passwordThrottle.clear(userKey);
  return noContent();
}

MailBuilder Api::Impl::passwordChangedMail(const std::string& companyId) {
  return [slug = companySlugOf(companyId)](const Decision& d) {
    return std::vector<std::string>{encodeMailRecord({.kind = std::string(kPasswordChangedMail),
                                                      .companyId = d.companyId,
                                                      .userId = d.id,
                                                      .secret = "",
                                                      .link = "",
                                                      .companySlug = slug})};
  };
}

HttpResponse Api::Impl::passwordPolicy(Call&) {
  // The rules are the product's, the same for every company: an unknown slug gets
  // them too, so that this public page does not tell which companies exist (as
  // sign-in and reset requests do not).
  json rules = json::array();
  for (const auto& r : policy.rules()) rules.push_back(r);
  json out = {{"minLength", PasswordPolicy::kMinLength},
              {"maxLength", PasswordPolicy::kMaxLength},
              {"notEmail", true},
              {"notCommon", true},
              {"anyCharacters", true},
              {"rules", rules}};
  return jsonResponse(200, out.dump());
}

HttpResponse Api::Impl::requestReset(Call& call) {
  HttpResponse error;
  auto fields = requiredStrings<2>(call.req, {"company", "email"}, error);
  if (!fields) return error;
  auto& [slug, email] = *fields;
  slug = slugOf(slug);
  // A stopped credentials view: 503 whoever asks, about any address, before anything
  // is counted, so it tells nothing of who exists, nor which addresses reached their
  // limit (README: the one departure from API.md's "202 always").
  if (auto stopped = credentialsStopped()) return *stopped;
  HttpResponse accepted = jsonResponse(
      202,
      R"({"status":"accepted","message":"If the address belongs to an active user, a reset link is on its way."})");
  // Counted by the email as typed from each client network and from all, and by the
  // client address, known or not. Past a limit the answer is the same 202 (API.md:
  // "202 always") and no link is sent: nobody floods an inbox, and the answer tells
  // nothing either way. One stranger's requests do not stop the person's own. A
  // company that does not exist is not counted: nothing is sent or recorded for it,
  // and 50 such requests from an office's address stopped its people's own resets
  // (a review).
  std::optional<CompanyRecord> company = portal.credentials().companyBySlug(slug);
  if (!company) return accepted;
  if (resetThrottle.attempt(slug + "\n" + emailKey(email), call.req.clientAddress, clock.now()) > 0)
    return accepted;
  // (The reader is not held while the command runs.)
  const std::optional<AccountRecord> account =
      portal.credentials().accountByEmail(company->id, email);
  const std::string token = newToken();
  MailBuilder outbox;
  if (account && account->active) {
    MailRecord mail;
    mail.kind = "password-reset";
    mail.companyId = company->id;
    mail.companySlug = company->slug;
    mail.userId = account->userId;
    mail.secret = token;
    // A fragment, never sent to a server: the token stays out of access logs and
    // Referer headers on its way to the front end that reads it.
    // Its path: the mailer puts it on the Customer Portal's address when it sends.
    mail.link = "/reset-password#token=" + token;
    // Only when the write model reset the user too: the view may show someone
    // a deactivation accepted a moment ago has made inactive (the decision then
    // names nobody), whose link would be written out for nothing.
    outbox = [record = encodeMailRecord(mail)](const Decision& d) {
      return d.id.empty() ? std::vector<std::string>{} : std::vector<std::string>{record};
    };
  }
  // Handed to the processor without waiting, for unknown emails too, so that the
  // answer comes as soon whether the email is known or not.
  Submission s;
  s.command =
      Command{company->id, kSystem,
              RequestPasswordReset{account ? account->userId : std::string(), tokenHash(token),
                                   Timestamp{clock.now().micros + kResetValidityMicros}}};
  idempotency(call.req, call.route, s);
  const bool mail = static_cast<bool>(outbox);
  s.outbox = std::move(outbox);
  portal.submit(std::move(s), [mail, notify = options.mailQueued](CommandReply reply) {
    if (mail && reply.accepted() && notify) notify();
  });
  return accepted;
}

HttpResponse Api::Impl::confirmReset(Call& call) {
  HttpResponse error;
  auto fields = requiredStrings<2>(call.req, {"token", "newPassword"}, error,
                                   "is not a field of a password reset");
  if (!fields) return error;
  auto& [token, next] = *fields;
  next = nfkc(next);  // judged by the policy as it is hashed (see changePassword)
  if (auto stopped = credentialsStopped()) return *stopped;
  const std::string hash = tokenHash(token);
  std::optional<ResetRecord> reset = portal.credentials().reset(hash);
  // Read again once no change of the user's password runs beside this one (a
  // change voids the link; one made from the old password after it must not win).
  std::unique_lock<std::mutex> serial;
  if (reset) {
    serial = serializeUser(reset->companyId, reset->userId);
    if (auto behind = viewsCaughtUp()) return *behind;
  }
  std::optional<AccountRecord> account;
  {
    const CredentialsReader creds = portal.credentials();  // not held while hashing
    reset = creds.reset(hash);
    if (reset) account = creds.account(reset->companyId, reset->userId);
  }
  if (!account || clock.now() >= reset->expiresAt)
    return Api::problem(400, "reset-token-invalid", "The reset link cannot be used",
                        "The reset link is expired, used, replaced by a newer one, or unknown.");
  if (auto problems = policyProblems(next, *account); !problems.empty())
    return policyRejected(problems, "newPassword");
  // The temporary password, mailed in clear, is no new one: it would stay for good,
  // out of its gate and its expiry. (Only it: with any other current password, the
  // answer would let a link's holder test guesses of it, unthrottled.) Also in
  // capitals or with other separators (a review): known by its hash alone here, it
  // is checked in the one spelling those make of it, not with characters added,
  // which changePassword, knowing it, refuses too.
  if (account->mustChangePassword) {
    const std::optional<std::string> spelt = asTemporaryPassword(next);
    if (verifyPassword(account->passwordHash, next) ||
        (spelt && *spelt != next && verifyPassword(account->passwordHash, *spelt)))
      return policyRejected({kMadeOfTheTemporaryPassword}, "newPassword");
  }
  auto passwordHash = hashPassword(next);
  if (!passwordHash)
    return Api::problem(500, "internal", "Internal error", "The password could not be hashed.");
  CommandReply reply;
  // As the user whose link was mailed to them, as a sign-in is theirs (see signIn).
  if (auto failed = runAs(
          call.req, call.route, account->companyId, account->userId,
          CompletePasswordReset{hash, *passwordHash}, reply,
          // A first password (a user created without one) changed
          // nothing anyone knew: no notice (a mail review).
          account->passwordHash.empty() ? MailBuilder() : passwordChangedMail(account->companyId),
          false))
    return *failed;
  sessions.removeUser(account->companyId, account->userId);
  // Failed sign-ins before the reset (forgotten password, or someone locking the
  // account) no longer keep the new password out.
  if (auto company = portal.credentials().companyById(account->companyId))
    throttle.clear(company->slug + "\n" + emailKey(account->email));
  passwordThrottle.clear(account->companyId + "\n" + account->userId);
  return noContent();
}

}  // namespace portal
