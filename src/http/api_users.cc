// The company's pool of users: list, create, read, change, deactivate, reactivate
// and anonymize; a user's resources, roles and history.

#include "src/http/api_impl.h"

namespace portal {

HttpResponse Api::Impl::listUsers(Call& call) {
  HttpResponse error;
  auto limit = limitOf(call, error);
  if (!limit) return error;
  UserListQuery q;
  q.search = std::string(trimText(param(call, "search")));  // " ada " is what was meant
  const std::string status = param(call, "status");
  if (status.empty() || status == "all")
    q.status = UserStatus::kAll;
  else if (status == "active")
    q.status = UserStatus::kActive;
  else if (status == "inactive")
    q.status = UserStatus::kInactive;
  else
    return badParam("status", "status must be active, inactive or all.");
  q.limit = *limit;
  // A cursor holds its place in one list: another status or search would skip
  // the rows that sort before that place.
  // (The search as it matches, folded: "mueller" and "MUELLER" are one query.) The
  // view's version too: a cursor holds a place in its order and search keys, which
  // another version folds otherwise (a review: one from before users_v4 skipped rows).
  const std::string list = std::string(UsersProjection::kName) + "\n" +
                           (status.empty() ? std::string("all") : status) + '\n' +
                           searchFold(q.search);
  auto cursor = openListCursor(call, list, error, &userCursorSealer);
  if (!cursor) return error;
  q.cursor = std::move(*cursor);
  UserPage page = portal.users().list(call.company(), q);
  if (page.badCursor) return badCursor();
  return jsonResponse(
      200, itemsJson(page.items, sealListCursor(call, list, page.nextCursor, &userCursorSealer)));
}

MailBuilder Api::Impl::welcomeMail(const std::string& companyId) {
  return [slug = companySlugOf(companyId)](const Decision& d) {
    // Someone created inactive cannot sign in: no welcome, not even once they are
    // reactivated before the mail goes out.
    std::set<std::string> inactive;
    for (const PendingEvent& e : d.events)
      if (const auto* created = std::get_if<UserCreated>(&e.data); created && !created->active)
        inactive.insert(created->userId);
    std::vector<std::string> mails;
    for (const std::string& user : d.ids.empty() ? std::vector<std::string>{d.id} : d.ids) {
      if (inactive.count(user)) continue;
      mails.push_back(encodeMailRecord({.kind = std::string(kWelcomeMail),
                                        .companyId = d.companyId,
                                        .userId = user,
                                        .secret = "",
                                        .link = "",
                                        .companySlug = slug}));
    }
    return mails;
  };
}

HttpResponse Api::Impl::createUser(Call& call) {
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  std::vector<std::pair<std::string, std::string>> errors;
  CreateUser c;
  c.details.email = stringField(*body, "email", errors).value_or("");
  c.details.givenName = stringField(*body, "givenName", errors).value_or("");
  c.details.surname = stringField(*body, "surname", errors).value_or("");
  c.details.jobTitle = stringField(*body, "jobTitle", errors).value_or("");
  c.details.managerEmail = stringField(*body, "managerEmail", errors).value_or("");
  c.details.country = stringField(*body, "country", errors);
  if (auto it = body->find("active"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean())
      errors.emplace_back("active", "must be true or false");
    else
      c.details.active = it->get<bool>();
  }
  if (auto it = body->find("notify"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean())
      errors.emplace_back("notify", "must be true or false");
    else
      c.notify = it->get<bool>();
  }
  refuseOtherFields(
      *body,
      {"email", "givenName", "surname", "jobTitle", "managerEmail", "country", "active", "notify"},
      errors, "is not a field of a new user");
  if (!errors.empty()) {
    ValidDetails ignored;
    return validation(
        withValueProblems(std::move(errors), validateDetails(c.details, countries, ignored, "")));
  }
  MailBuilder outbox = c.notify ? welcomeMail(call.company()) : nullptr;
  return command(
      call, std::move(c),
      [this, company = call.company()](const CommandReply& reply) {
        HttpResponse r = userResponse(company, reply.decision.id, 201);
        r.headers.emplace_back("Location", "/api/v1/users/" + reply.decision.id);
        return r;
      },
      std::move(outbox));
}

HttpResponse Api::Impl::getUser(Call& call) {
  return conditionalRead(call, userResponse(call.company(), call.params[0]), "user");
}

namespace {

// The value rules' problems of the fields a patch changes: one sent back as the user
// reads (`shown`) is no change and is not judged, as the decider passes over it (it
// may be of an older log's rules; a review got a false managerEmail problem).
std::vector<FieldProblem> changedFieldProblems(UpdateUser u, const std::string& shown,
                                               const CountryList& countries) {
  const json user = json::parse(shown, nullptr, false);
  auto unchanged = [&](const char* field, std::optional<std::optional<std::string>>& patch) {
    if (patch && *patch && user.is_object() && user.contains(field) && user[field].is_string() &&
        trimText(**patch) == trimText(user[field].get_ref<const std::string&>()))
      patch.reset();
  };
  unchanged("givenName", u.givenName);
  unchanged("surname", u.surname);
  unchanged("jobTitle", u.jobTitle);
  unchanged("managerEmail", u.managerEmail);
  unchanged("country", u.country);
  std::vector<FieldProblem> problems = userPatchProblems(u, countries);
  // A changed email too (the decider's first refusal), beside a problem found here.
  if (u.email && user.is_object() && user.contains("email") && user["email"].is_string() &&
      emailKey(*u.email) != emailKey(user["email"].get_ref<const std::string&>()))
    problems.insert(problems.begin(), {"email", "cannot be changed"});
  return problems;
}

}  // namespace

HttpResponse Api::Impl::patchUser(Call& call) {
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  const std::string& id = call.params[0];
  const auto stored = portal.users().row(call.company(), id);
  if (!stored) return userNotFound(id);
  UpdateUser u;
  u.userId = id;
  std::vector<std::pair<std::string, std::string>> errors;
  // (Null is a value of each, refused by the value rules but for the country's.)
  auto field = [&](const char* name, std::optional<std::optional<std::string>>& out) {
    auto it = body->find(name);
    if (it == body->end()) return;
    if (it->is_null())
      out = std::optional<std::string>();
    else if (it->is_string())
      out = std::optional<std::string>(it->get<std::string>());
    else
      errors.emplace_back(name, std::string_view(name) == "country" ? "must be a string or null"
                                                                    : "must be a string");
  };
  field("givenName", u.givenName);
  field("surname", u.surname);
  field("jobTitle", u.jobTitle);
  field("managerEmail", u.managerEmail);
  field("country", u.country);
  if (auto it = body->find("email"); it != body->end()) {
    if (it->is_string()) {
      u.email = it->get<std::string>();
    } else {
      // An anonymized user reads `"email": null`: sent back so, it is no change
      // (the decider then answers that an anonymized user cannot change).
      auto doc = JsonDocument::parse(*stored);
      if (!it->is_null() || !doc || stringMember(*doc, "email"))
        errors.emplace_back("email", "cannot be changed");
    }
  }
  const ShownFields shown = judgeShownFields(
      *body, {"givenName", "surname", "jobTitle", "managerEmail", "country", "email"},
      userRow(call, id), readOnlyUserField, "user", u.expectedVersion, errors);
  const std::string shownText = portal.users().get(call.company(), id).value_or("");
  // A form sends back the manager as the user reads: where that is "anonymized" (a
  // manager erased), which is no address, it is no change. Only that value: any
  // other is decided by the processor against the user as it is then, not as the
  // view showed it (a change accepted but not yet shown would be lost).
  if (u.managerEmail && *u.managerEmail && **u.managerEmail == kAnonymizedMarker) {
    if (auto doc = JsonDocument::parse(shownText);
        doc && stringMember(*doc, "managerEmail") == kAnonymizedMarker)
      u.managerEmail.reset();
  }
  // Beside a field of the wrong type, unknown or read-only, the value rules'
  // problems of the fields it changes: every problem at once.
  auto refused = [&] {
    return validation(
        withValueProblems(std::move(errors), changedFieldProblems(u, shownText, countries)));
  };
  if (!errors.empty()) {
    refuseReadOnly(shown, u.expectedVersion, errors);
    return refused();
  }
  if (auto failed = ifMatch(call, userTagNow(call, id), "user", u.expectedVersion)) return *failed;
  refuseReadOnly(shown, u.expectedVersion, errors);
  if (!errors.empty()) return refused();
  return command(call, std::move(u),
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   return userResponse(company, subjectOf(reply, id));
                 });
}

HttpResponse Api::Impl::deactivate(Call& call) {
  HttpResponse error;
  auto body = objectBody(call.req, error);
  if (!body) return error;
  std::vector<std::pair<std::string, std::string>> errors;
  auto to = stringField(*body, "transferTo", errors);
  if (to) to = idAsGiven(std::move(*to));
  refuseOtherFields(*body, {"transferTo"}, errors, "is not a field of a deactivation");
  if (!errors.empty()) return validation(errors);
  // A form's recipient left unpicked sends "": no recipient named.
  if (to && trim(*to).empty()) to.reset();
  const std::string& id = call.params[0];
  DeactivateUser d{id, to};
  if (auto failed = ifMatch(call, userTagNow(call, id), "user", d.expectedVersion)) return *failed;
  return command(call, std::move(d),
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   const std::string& user = subjectOf(reply, params[0]);
                   // A replay ends nothing: the user may have been reactivated since.
                   if (!reply.replayed) endSessionsSoon(company, user);
                   json transferred = json::array();
                   auto resources = portal.resources();
                   // The resources as the decision handed them over: a replay gives
                   // the first answer, whoever holds them now.
                   for (const auto& t : reply.decision.transferred) {
                     json item = {{"id", t.resourceId},
                                  {"kind", t.kind},
                                  {"service", t.service},
                                  {"name", t.name},
                                  {"ownerId", t.ownerId}};
                     if (t.mergedInto) item["mergedInto"] = *t.mergedInto;
                     // (An answer recorded before they were kept: read from the view.)
                     auto row = t.ownerId.empty()
                                    ? resources.row(company, t.mergedInto.value_or(t.resourceId))
                                    : std::nullopt;
                     if (row) {
                       json r = json::parse(*row, nullptr, false);
                       if (r.is_object()) {
                         item["service"] = r.value("service", "");
                         item["name"] = r.value("name", "");
                         item["ownerId"] = r.value("ownerId", "");
                       }
                     }
                     transferred.push_back(std::move(item));
                   }
                   // The user's ETag, as reactivate's and PATCH's answers give it (a
                   // review: a client chaining If-Match had to read it from the body).
                   const std::string shown = userJson(company, user);
                   HttpResponse r = jsonResponse(
                       200, "{\"user\":" + shown + ",\"transferred\":" + transferred.dump() + "}");
                   setETag(r, userTag(shown));
                   return r;
                 });
}

HttpResponse Api::Impl::reactivate(Call& call) {
  ReactivateUser r{call.params[0]};
  if (auto failed = ifMatch(call, userTagNow(call, r.userId), "user", r.expectedVersion))
    return *failed;
  return command(call, std::move(r),
                 [=, this, company = call.company(),
                  params = call.params](const CommandReply& reply) -> HttpResponse {
                   const std::string& user = subjectOf(reply, params[0]);
                   // A session the deactivation did not get to end (a crash between
                   // the two) must not come back with the user: they sign in anew.
                   if (!reply.replayed) endSessionsSoon(company, user);
                   return userResponse(company, user);
                 });
}

HttpResponse Api::Impl::importLogsUnavailable(const Error& e, bool anonymized) {
  logLine("import logs: " + e.message);
  return Api::problem(503, "import-logs-unavailable", "The import logs cannot be removed",
                      anonymized ? "The user is anonymized, but the company's import logs, "
                                   "which may hold their personal data, are still kept; "
                                   "repeat the request."
                                 : "Nothing was changed by this request; try again later.");
}

HttpResponse Api::Impl::anonymize(Call& call) {
  const std::string& id = call.params[0];
  // A repeat of the key sent while the first runs waits for its answer: it must not
  // drop mail and import logs for another user before it finds it is a repeat.
  const auto serial = serializeKey(call);
  const auto erasure = serializeErasure(call.company(), id);
  // (What is removed before the command is decided, the person's mail and the
  // company's import logs, is chosen by the users view: a stopped one refuses every
  // administrator's request in authenticate().)
  std::optional<HttpResponse> problem;
  if (auto first = earlierAnswer(call, AnonymizeUser{id}, problem)) {
    if (!first->accepted() && first->rejection.code != "already-anonymized")
      return refusedWithTag(first->rejection, userTagNow(call, id));
    const std::string& user = subjectOf(*first, id);
    if (auto undone = finishAnonymizationLeftUndone(call.company(), user)) return *undone;
    return first->accepted() ? replayedUser(call, user) : rejected(first->rejection);
  }
  if (problem) return *problem;
  // A stale If-Match is refused before the drops below, which come before the
  // command is decided: judged against a view that holds every durable event (a
  // change accepted a moment ago, not shown yet, would pass here and be refused
  // by the decider after the drops).
  AnonymizeUser anonymize{id};
  if (!call.req.header("if-match").empty())
    if (auto behind = viewsCaughtUp()) return *behind;
  // A read that fails is no absent user: the drops below would be passed over and
  // the person's mail kept once their email is shredded.
  auto read = readUserFlags(call.company(), id);
  if (!read) return usersViewUnreadable(call, read.error());
  const auto& user = *read;
  if (user && user->anonymized)  // whatever the If-Match: the drop of a command accepted
    if (auto undone = finishAnonymizationLeftUndone(call.company(), id)) return *undone;
  if (auto failed = ifMatch(call, userTagNow(call, id), "user", anonymize.expectedVersion, true))
    return *failed;
  const bool marking = user && !user->anonymized;
  const bool droppedBefore = marking && !user->active;
  bool madeMark = false;
  if (marking) {
    auto begun = importLogs.beginAnonymization(call.company(), id, droppedBefore);
    if (!begun) return importLogsUnavailable(begun.error(), false);
    madeMark = *begun;
    if (droppedBefore)
      if (auto forgotten = forgetMail(call.company(), *user); !forgotten) {
        if (madeMark) (void)importLogs.endAnonymization(call.company(), id, false);
        return Api::problem(503, "mail-drop-unavailable", "The mails to the user cannot be removed",
                            "The user is not anonymized (the company's import logs were removed "
                            "already); try again later.");
      }
  }
  CommandReply reply;
  auto refused = run(call, std::move(anonymize), reply);
  // Refused by the decider or not sent (a bad Idempotency-Key): the mark goes if
  // this request made it (a failure to remove it costs a later drop); someone
  // anonymized meanwhile by another request finishes its drop if left undone.
  // When the log failed the command may be durable: the mark stays, and the next
  // start drops the logs. The same key's first request still in flight above: its
  // answer, and its drop finished if left undone.
  if (reply.replayed || reply.status == CommandReply::Status::kRejected ||
      (refused && reply.failure.empty())) {
    if (madeMark) (void)importLogs.endAnonymization(call.company(), id, false);
    if (reply.replayed && reply.accepted()) {
      const std::string& subject = subjectOf(reply, id);
      if (auto undone = finishAnonymizationLeftUndone(call.company(), subject)) return *undone;
      return replayedUser(call, subject);
    }
    if (reply.status == CommandReply::Status::kRejected &&
        reply.rejection.code == "already-anonymized")
      if (auto undone = finishAnonymizationLeftUndone(call.company(), id)) return *undone;
  }
  if (refused) return *refused;
  sessions.removeUser(call.company(), id);
  if (auto dropped = importLogs.endAnonymization(call.company(), id, true); !dropped)
    return importLogsUnavailable(dropped.error(), true);
  // The view still showed the user active (its deactivation's answer came before
  // the view had it): their mails go now, the email being known from that row.
  if (!droppedBefore && user) (void)forgetMail(call.company(), *user);
  return userResponse(call.company(), id);
}

std::optional<HttpResponse> Api::Impl::finishAnonymizationLeftUndone(const std::string& company,
                                                                     const std::string& id) {
  auto pending = importLogs.anonymizationPending(company, id);
  if (!pending) return importLogsUnavailable(pending.error(), true);
  if (*pending)
    if (auto dropped = importLogs.endAnonymization(company, id, true); !dropped)
      return importLogsUnavailable(dropped.error(), true);
  return std::nullopt;
}

Result<void> Api::Impl::forgetMail(const std::string& company, const UserFlags& user) {
  if (user.email.empty() || !options.forgetMail) return {};
  auto forgotten = options.forgetMail(company, user.email);
  if (!forgotten) logLine("mail drop: " + forgotten.error().message);
  return forgotten;
}

HttpResponse Api::Impl::userResources(Call& call) {
  const std::string& id = call.params[0];
  const ViewMoment at = portal.moment();
  if (!portal.users(at).row(call.company(), id)) return userNotFound(id);
  return listResources(call, id, at);
}

HttpResponse Api::Impl::userRoles(Call& call) {
  const std::string& id = call.params[0];
  if (!portal.users().row(call.company(), id)) return userNotFound(id);
  return rowsPage(call, "roles:" + id, portal.roles(),
                  RolesProjection::userList(call.company(), id));
}

HttpResponse Api::Impl::userHistory(Call& call) {
  const std::string& id = call.params[0];
  if (!portal.users().row(call.company(), id)) return userNotFound(id);
  call.query["subject"] = id;
  return auditList(call);
}

}  // namespace portal
