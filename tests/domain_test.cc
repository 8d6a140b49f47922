// The deciders, rule by rule: accepted gives exactly these events, refused gives
// this reason and no events. Each row starts from a fresh company "acme" whose
// owner is "owner".

#include <gtest/gtest.h>

#include <functional>

#include "events/text.h"
#include "src/domain/email.h"
#include "src/domain/user_details.h"
#include "tests/domain_fixtures.h"

namespace portal {
namespace {

using test::codeOf;
using test::typesOf;
using test::World;
using Types = std::vector<std::string>;

struct Rule {
  const char* rule;
  std::function<Outcome(World&)> act;
  std::string code;  // "" when accepted
  Types events;      // when accepted
};

NewUserDetails withEmail(const std::string& email) {
  NewUserDetails d = World::details("x");
  d.email = email;
  return d;
}

// Gives `name` a resource of `kind` in `service`; returns its id.
std::string give(World& w, const std::string& name, const std::string& kind,
                 const std::string& service = "modeler", const std::string& title = "R") {
  auto out = w.run("owner", RegisterResource{kind, service, title, w.id(name)});
  return std::get<Decision>(out).id;
}

const std::vector<Rule>& rules() {
  static const std::vector<Rule> table = {
      // --- provisioning
      {"ProvisionRefusesABadSlug",
       [](World& w) {
         ProvisionCompany p{"Not A Slug!", "X", {}, World::details("o"), "$h"};
         return w.runIn("", "system", p);
       },
       "validation-failed",
       {}},
      {"ProvisionRefusesASlugEndingWithAHyphen",
       [](World& w) {
         return w.runIn("", "system",
                        ProvisionCompany{"demo-", "X", {}, World::details("o"), "$h"});
       },
       "validation-failed",
       {}},
      {"ProvisionRefusesATakenSlug",
       [](World& w) {
         return w.runIn("", "system", ProvisionCompany{"acme", "X", {}, World::details("o"), "$h"});
       },
       "company-exists",
       {}},
      {"ProvisionRefusesAnUnknownService",
       [](World& w) {
         return w.runIn("", "system",
                        ProvisionCompany{"beta", "B", {"teleport"}, World::details("o"), "$h"});
       },
       "validation-failed",
       {}},
      {"ProvisionRefusesAServiceNamedTwice",
       [](World& w) {
         return w.runIn(
             "", "system",
             ProvisionCompany{"beta", "B", {"modeler", "modeler"}, World::details("o"), "$h"});
       },
       "validation-failed",
       {}},
      {"ProvisionIsOnlyForTheSystem",
       [](World& w) {
         return w.runIn("", "owner", ProvisionCompany{"beta", "B", {}, World::details("o"), "$h"});
       },
       "forbidden",
       {}},
      {"ProvisionCreatesCompanyOwnerAdminAndTemporaryPassword",
       [](World& w) {
         return w.runIn("", "system",
                        ProvisionCompany{"beta", "Beta", {}, World::details("o"), "$h"});
       },
       "",
       {"CompanyProvisioned", "UserCreated", "AdminIncluded", "PasswordSet"}},
      // --- creating users
      {"CreateUserIsAcceptedFromAnAdministrator",
       [](World& w) {
         return w.run("owner", CreateUser{World::details("ada"), false});
       },
       "",
       {"UserCreated"}},
      {"CreateUserRefusesAPlainUser",
       [](World& w) {
         w.create("bob");
         return w.run("bob", CreateUser{World::details("ada"), false});
       },
       "forbidden",
       {}},
      {"CreateUserRefusesAnAdministratorOfAnotherCompany",
       [](World& w) {
         auto beta = w.runIn("", "system",
                             ProvisionCompany{"beta", "Beta", {}, World::details("o2"), "$h"});
         const std::string betaOwner = std::get<Decision>(beta).ids.at(0);
         return w.run(betaOwner, CreateUser{World::details("ada"), false});
       },
       "forbidden",
       {}},
      {"CreateUserRefusesMissingMandatoryFields",
       [](World& w) {
         NewUserDetails d = World::details("ada");
         d.givenName = " ";
         d.jobTitle.clear();
         return w.run("owner", CreateUser{d, false});
       },
       "validation-failed",
       {}},
      {"CreateUserRefusesAMalformedEmail",
       [](World& w) {
         return w.run("owner", CreateUser{withEmail("ada at acme"), false});
       },
       "validation-failed",
       {}},
      {"CreateUserRefusesAnUnknownCountry",
       [](World& w) {
         NewUserDetails d = World::details("ada");
         d.country = "Atlantis";
         return w.run("owner", CreateUser{d, false});
       },
       "validation-failed",
       {}},
      {"CreateUserAcceptsACountryByName",
       [](World& w) {
         NewUserDetails d = World::details("ada");
         d.country = "bolivia";
         return w.run("owner", CreateUser{d, false});
       },
       "",
       {"UserCreated"}},
      {"CreateUserRefusesAnEmailInThePoolIgnoringCaseAndSpaces",
       [](World& w) {
         w.create("ada");
         return w.run("owner", CreateUser{withEmail("  ADA@Acme.Test "), false});
       },
       "email-taken",
       {}},
      {"CreateUserRefusesAnEmailInThePoolTypedInAnotherNormalizationForm",
       [](World& w) {
         w.run("owner", CreateUser{withEmail("zo\u00eb@acme.test"), false});          // NFC
         return w.run("owner", CreateUser{withEmail("zoe\u0308@acme.test"), false});  // NFD
       },
       "email-taken",
       {}},
      {"CreateUserRefusesTextThatIsNotUtf8",
       [](World& w) {
         NewUserDetails d = World::details("ada");
         d.surname = "\xff\xfe";
         return w.run("owner", CreateUser{d, false});
       },
       "validation-failed",
       {}},
      // --- updating
      {"UpdateRefusesChangingTheEmail",
       [](World& w) {
         UpdateUser u;
         u.userId = w.create("ada");
         u.email = "ada.lovelace@acme.test";
         return w.run("owner", u);
       },
       "email-immutable",
       {}},
      {"UpdateRefusesChangingTheEmailEvenWithAStaleVersionOrOtherProblems",
       [](World& w) {
         UpdateUser u;
         u.userId = w.create("ada");
         u.email = "ada.lovelace@acme.test";
         u.jobTitle = std::optional<std::string>("");
         u.expectedVersion = 7;
         return w.run("owner", u);
       },
       "email-immutable",
       {}},
      {"UpdateTakesTheCurrentEmailRepeatedInAnyCase",
       [](World& w) {
         UpdateUser u;
         u.userId = w.create("ada");
         u.email = " ADA@acme.test";
         u.jobTitle = std::optional<std::string>("Analyst");
         return w.run("owner", u);
       },
       "",
       {"UserUpdated"}},
      {"UpdateHonoursIfMatch",
       [](World& w) {
         UpdateUser u;
         u.userId = w.create("ada");
         u.surname = std::optional<std::string>("New");
         u.expectedVersion = 7;
         return w.run("owner", u);
       },
       "version-mismatch",
       {}},
      {"DeactivationHonoursIfMatch",
       [](World& w) {
         return w.run("owner", DeactivateUser{w.create("ada"), std::nullopt, 2});
       },
       "version-mismatch",
       {}},
      {"ReactivationHonoursIfMatch",
       [](World& w) {
         return w.run("owner", ReactivateUser{w.create("ada", false, false), 1});
       },
       "version-mismatch",
       {}},
      {"AnonymizationHonoursIfMatch",
       [](World& w) {
         return w.run("owner", AnonymizeUser{w.create("ada", false, false), 1});
       },
       "version-mismatch",
       {}},
      {"UpdateRefusesRemovingAMandatoryField",
       [](World& w) {
         UpdateUser u;
         u.userId = w.create("ada");
         u.jobTitle = std::optional<std::string>();
         return w.run("owner", u);
       },
       "validation-failed",
       {}},
      {"UpdateClearsTheCountry",
       [](World& w) {
         UpdateUser u;
         u.userId = w.create("ada");
         u.country = std::optional<std::string>();
         u.expectedVersion = 1;
         return w.run("owner", u);
       },
       "",
       {"UserUpdated"}},
      {"UpdateOfAnUnknownUserIsNotFound",
       [](World& w) {
         UpdateUser u;
         u.userId = "nobody";
         return w.run("owner", u);
       },
       "not-found",
       {}},
      // --- deactivating
      {"DeactivateRefusesTheOwner",
       [](World& w) {
         w.create("alice", true);
         return w.run("alice", DeactivateUser{w.id("owner"), std::nullopt});
       },
       "owner-cannot-be-deactivated",
       {}},
      {"DeactivateRefusesOneself",
       [](World& w) {
         w.create("alice", true);
         return w.run("alice", DeactivateUser{w.id("alice"), std::nullopt});
       },
       "cannot-deactivate-self",
       {}},
      {"DeactivateRefusesWithoutRecipientWhenUserOwnsResources",
       [](World& w) {
         w.create("bob");
         give(w, "bob", "permission");
         return w.run("owner", DeactivateUser{w.id("bob"), std::nullopt});
       },
       "resources-must-be-transferred",
       {}},
      {"DeactivateRefusesASubscriptionForANonAdministrator",
       [](World& w) {
         w.create("bob");
         w.create("carl");
         give(w, "bob", "subscription");
         return w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")});
       },
       "transfer-refused",
       {}},
      {"DeactivateRefusesAProjectForARecipientWithoutARoleInItsService",
       [](World& w) {
         w.create("bob");
         w.create("carl");
         w.run("owner", GrantRole{w.id("carl"), "studio", "designer"});
         give(w, "bob", "project", "modeler");
         return w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")});
       },
       "transfer-refused",
       {}},
      {"DeactivateRefusesAnInactiveRecipient",
       [](World& w) {
         w.create("bob");
         w.create("carl", false, false);
         give(w, "bob", "permission");
         return w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")});
       },
       "transfer-refused",
       {}},
      {"DeactivateTransfersThenDeactivates",
       [](World& w) {
         w.create("bob");
         w.create("carl");
         w.run("owner", GrantRole{w.id("carl"), "modeler", "editor"});
         give(w, "bob", "project", "modeler");
         give(w, "bob", "model", "modeler");
         return w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")});
       },
       "",
       {"ResourcesTransferred", "UserDeactivated"}},
      {"DeactivatingAnAdministratorAlsoRemovesTheAdministrator",
       [](World& w) {
         w.create("alice", true);
         return w.run("owner", DeactivateUser{w.id("alice"), std::nullopt});
       },
       "",
       {"AdminRemoved", "UserDeactivated"}},
      {"OnlyTheOwnerDeactivatesAnAdministrator",
       [](World& w) {
         w.create("alice", true);
         w.create("carol", true);
         return w.run("carol", DeactivateUser{w.id("alice"), std::nullopt});
       },
       "forbidden",
       {}},
      {"AnAdministratorDeactivatesAUserWhoIsNoAdministrator",
       [](World& w) {
         w.create("carol", true);
         w.create("bob");
         return w.run("carol", DeactivateUser{w.id("bob"), std::nullopt});
       },
       "",
       {"UserDeactivated"}},
      {"DeactivateRefusesAnInactiveUser",
       [](World& w) {
         w.create("bob", false, false);
         return w.run("owner", DeactivateUser{w.id("bob"), std::nullopt});
       },
       "already-inactive",
       {}},
      // --- reactivating and anonymizing
      {"ReactivateBringsBackADeactivatedUser",
       [](World& w) { return w.run("owner", ReactivateUser{w.create("bob", false, false)}); },
       "",
       {"UserReactivated"}},
      {"ReactivateRefusesAnActiveUser",
       [](World& w) { return w.run("owner", ReactivateUser{w.create("bob")}); },
       "already-active",
       {}},
      {"ReactivateRefusesAnAnonymizedUser",
       [](World& w) {
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", ReactivateUser{bob});
       },
       "user-anonymized",
       {}},
      {"AnonymizeRefusesAnActiveUser",
       [](World& w) { return w.run("owner", AnonymizeUser{w.create("bob")}); },
       "must-deactivate-first",
       {}},
      {"AnonymizeOfADeactivatedUserIsOneEvent",
       [](World& w) { return w.run("owner", AnonymizeUser{w.create("bob", false, false)}); },
       "",
       {"UserAnonymized"}},
      {"AnonymizeRevokesTheRolesKeptThroughTheDeactivation",
       [](World& w) {
         const std::string bob = w.create("bob");
         w.run("owner", GrantRole{bob, "modeler", "editor"});
         w.run("owner", DeactivateUser{bob, std::nullopt});
         return w.run("owner", AnonymizeUser{bob});
       },
       "",
       {"RoleRevoked", "UserAnonymized"}},
      {"UpdateOfAnAnonymizedUserIsRefusedAsAnonymizedWhateverEmailItSends",
       [](World& w) {
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         UpdateUser u;
         u.userId = bob;
         u.email = "someone.else@acme.test";
         u.jobTitle = std::optional<std::string>("Lead");
         return w.run("owner", u);
       },
       "user-anonymized",
       {}},
      {"AnonymizeIsIrreversible",
       [](World& w) {
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", AnonymizeUser{bob});
       },
       "already-anonymized",
       {}},
      // --- administrators and ownership
      {"IncludeAdminOfAUserNotInThePoolIsNotFound",
       [](World& w) { return w.run("owner", IncludeAdmin{"nobody"}); },
       "not-found",
       {}},
      {"IncludeAdminWithoutAUserIsAFieldProblemNotUnknown",
       [](World& w) { return w.run("owner", IncludeAdmin{""}); },
       "validation-failed",
       {}},
      {"TransferOwnershipWithoutAUserIsAFieldProblemNotUnknown",
       [](World& w) { return w.run("owner", TransferOwnership{""}); },
       "validation-failed",
       {}},
      {"IncludeAdminRefusesAnAdministrator",
       [](World& w) { return w.run("owner", IncludeAdmin{w.create("alice", true)}); },
       "already-admin",
       {}},
      {"IncludeAdminRefusesAnInactiveUser",
       [](World& w) { return w.run("owner", IncludeAdmin{w.create("bob", false, false)}); },
       "user-inactive",
       {}},
      {"IncludeAdminRefusesAnAnonymizedUserAsAnonymizedNotUnknown",
       [](World& w) {
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", IncludeAdmin{bob});
       },
       "user-anonymized",
       {}},
      {"IncludeAdminIsOneEvent",
       [](World& w) { return w.run("owner", IncludeAdmin{w.create("bob")}); },
       "",
       {"AdminIncluded"}},
      {"RemoveAdminIsOnlyForTheOwner",
       [](World& w) {
         w.create("alice", true);
         return w.run("alice", RemoveAdmin{w.create("bert", true)});
       },
       "forbidden",
       {}},
      {"RemoveAdminRefusesTheOwner",
       [](World& w) { return w.run("owner", RemoveAdmin{w.id("owner")}); },
       "owner-cannot-be-removed",
       {}},
      {"RemoveAdminIsOneEvent",
       [](World& w) { return w.run("owner", RemoveAdmin{w.create("alice", true)}); },
       "",
       {"AdminRemoved"}},
      {"OwnershipGoesOnlyToAnActiveAdministrator",
       [](World& w) { return w.run("owner", TransferOwnership{w.create("bob")}); },
       "not-an-active-administrator",
       {}},
      {"OwnershipRefusesAnAnonymizedUserAsNotAnActiveAdministrator",
       [](World& w) {
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", TransferOwnership{bob});
       },
       "not-an-active-administrator",
       {}},
      {"OwnershipTransferIsOneEvent",
       [](World& w) { return w.run("owner", TransferOwnership{w.create("alice", true)}); },
       "",
       {"OwnershipTransferred"}},
      // --- resources and roles
      {"RegisterResourceRefusesAnUnknownKindAndAServiceNotHeld",
       [](World& w) {
         return w.run("owner", RegisterResource{"spaceship", "analytics", "X", w.create("bob")});
       },
       "validation-failed",
       {}},
      {"RegisterResourceWithoutAnOwnerIsAFieldProblemNotUnknown",
       [](World& w) {
         return w.run("owner", RegisterResource{"project", "modeler", "P", ""});
       },
       "validation-failed",
       {}},
      {"RegisterResourceRefusesAPermissionTheOwnerHoldsAlready",
       [](World& w) {
         w.create("bob");
         give(w, "bob", "permission", "modeler", "Read all");
         return w.run("owner",
                      RegisterResource{"permission", "modeler", " Read all ", w.id("bob")});
       },
       "permission-held",
       {}},
      {"RegisterResourceGivesAnotherPermissionOrAnotherServicesOne",
       [](World& w) {
         w.create("bob");
         give(w, "bob", "permission", "modeler", "Read all");
         give(w, "bob", "permission", "modeler", "Write all");
         return w.run("owner", RegisterResource{"permission", "studio", "Read all", w.id("bob")});
       },
       "",
       {"ResourceAssigned"}},
      {"RegisterResourceForAnUnknownOwnerIsNotFound",
       [](World& w) {
         return w.run("owner", RegisterResource{"project", "modeler", "P", "nobody"});
       },
       "not-found",
       {}},
      {"RegisterResourceRefusesAnAnonymizedOwner",
       [](World& w) {
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", RegisterResource{"project", "modeler", "P", bob});
       },
       "validation-failed",
       {}},
      {"RegisterResourceIsOneEvent",
       [](World& w) {
         return w.run("owner", RegisterResource{"project", "modeler", "P", w.create("bob")});
       },
       "",
       {"ResourceAssigned"}},
      {"ReleaseOfAnUnknownResourceIsNotFound",
       [](World& w) { return w.run("owner", ReleaseResource{"nothing"}); },
       "not-found",
       {}},
      {"GrantRoleRefusesARoleTheServiceDoesNotOffer",
       [](World& w) {
         return w.run("owner", GrantRole{w.create("bob"), "modeler", "pilot"});
       },
       "not-found",
       {}},
      {"GrantRoleIsOneEventAndIdempotent",
       [](World& w) {
         const std::string bob = w.create("bob");
         w.run("owner", GrantRole{bob, "modeler", "editor"});
         return w.run("owner", GrantRole{bob, "modeler", "editor"});
       },
       "",
       {}},
      {"RevokeRoleIsOneEvent",
       [](World& w) {
         const std::string bob = w.create("bob");
         w.run("owner", GrantRole{bob, "modeler", "editor"});
         return w.run("owner", RevokeRole{bob, "modeler", "editor"});
       },
       "",
       {"RoleRevoked"}},
      // --- groups
      {"CreateGroupIsOneEvent",
       [](World& w) {
         return w.run("owner", CreateGroup{"Ops", std::nullopt});
       },
       "",
       {"GroupCreated"}},
      {"GroupNamesAreUniqueIgnoringCase",
       [](World& w) {
         w.run("owner", CreateGroup{"Ops", std::nullopt});
         return w.run("owner", CreateGroup{"ops", std::nullopt});
       },
       "group-name-taken",
       {}},
      {"RenamingAGroupToItsOwnNameInAnotherCaseIsOneEvent",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"équipe", std::nullopt})).id;
         return w.run("owner", UpdateGroup{g, std::string("Équipe"), std::nullopt});
       },
       "",
       {"GroupRenamed"}},
      {"GroupChangesHonourIfMatch",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         w.run("owner", AddGroupMember{g, w.create("bob")});  // version 2
         return w.run("owner", UpdateGroup{g, std::string("Team"), std::nullopt, 1});
       },
       "version-mismatch",
       {}},
      {"ARenameNamingTheGroupsVersionIsOneEvent",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         w.run("owner", AddGroupMember{g, w.create("bob")});
         return w.run("owner", UpdateGroup{g, std::string("Team"), std::nullopt, 2});
       },
       "",
       {"GroupRenamed"}},
      {"DeletingAGroupHonoursIfMatch",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         w.run("owner", UpdateGroup{g, std::string("Team"), std::nullopt});
         return w.run("owner", DeleteGroup{g, 1});
       },
       "version-mismatch",
       {}},
      {"ANameADeletedGroupHadIsFreeAgain",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Équipe", std::nullopt})).id;
         w.run("owner", DeleteGroup{g});
         return w.run("owner", CreateGroup{"équipe", std::nullopt});
       },
       "",
       {"GroupCreated"}},
      {"AddingAnAnonymizedUserToAGroupIsRefused",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", AddGroupMember{g, bob});
       },
       "user-anonymized",
       {}},
      {"AnAnonymizedMemberCanStillBeTakenOutOfAGroup",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         const std::string bob = w.create("bob", false, false);
         w.run("owner", AddGroupMember{g, bob});
         w.run("owner", AnonymizeUser{bob});
         return w.run("owner", RemoveGroupMember{g, bob});
       },
       "",
       {"GroupMemberRemoved"}},
      {"AddingAnUnknownUserToAGroupIsNotFound",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         return w.run("owner", AddGroupMember{g, "nobody"});
       },
       "not-found",
       {}},
      {"AddGroupMemberIsOneEvent",
       [](World& w) {
         const std::string g =
             std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
         return w.run("owner", AddGroupMember{g, w.create("bob")});
       },
       "",
       {"GroupMemberAdded"}},
      // --- import
      {"ImportRefusesTheSameEmailTwiceInTheFile",
       [](World& w) {
         return w.run(
             "owner",
             ImportUsers{
                 "imp-1", {World::details("a"), withEmail("A@acme.test")}, 0, false, {}, false});
       },
       "validation-failed",
       {}},
      {"ImportRefusesAnEmailAlreadyInThePool",
       [](World& w) {
         w.create("a");
         return w.run("owner", ImportUsers{"imp-1", {World::details("a")}, 0, false, {}, false});
       },
       "validation-failed",
       {}},
      {"ImportCreatesEveryUserAndTheImportInOneDecision",
       [](World& w) {
         return w.run(
             "owner",
             ImportUsers{"imp-1", {World::details("a"), World::details("b")}, 0, false, {}, false});
       },
       "",
       {"UserCreated", "UserCreated", "UsersImported"}},
      // --- passwords
      {"ResetWithAnUnknownTokenIsInvalid",
       [](World& w) {
         return w.runIn("", "system", CompletePasswordReset{"nope", "$h"});
       },
       "reset-token-invalid",
       {}},
      {"ResetWithAnExpiredTokenIsInvalid",
       [](World& w) {
         w.run("system",
               RequestPasswordReset{w.id("owner"), "tok", Timestamp{w.now.micros + 300'000'000}});
         w.now.micros += 300'000'001;
         return w.runIn("", "system", CompletePasswordReset{"tok", "$h"});
       },
       "reset-token-invalid",
       {}},
      {"ResetCompletesWithinFiveMinutes",
       [](World& w) {
         w.run("system",
               RequestPasswordReset{w.id("owner"), "tok", Timestamp{w.now.micros + 300'000'000}});
         w.now.micros += 299'000'000;
         return w.runIn("", "system", CompletePasswordReset{"tok", "$h"});
       },
       "",
       {"PasswordResetCompleted", "PasswordSet"}},
      {"AResetTokenWorksOnce",
       [](World& w) {
         w.run("system",
               RequestPasswordReset{w.id("owner"), "tok", Timestamp{w.now.micros + 300'000'000}});
         w.runIn("", "system", CompletePasswordReset{"tok", "$h"});
         return w.runIn("", "system", CompletePasswordReset{"tok", "$h2"});
       },
       "reset-token-invalid",
       {}},
      {"ANewerResetRequestVoidsTheOlderToken",
       [](World& w) {
         w.run("system",
               RequestPasswordReset{w.id("owner"), "old", Timestamp{w.now.micros + 300'000'000}});
         w.run("system",
               RequestPasswordReset{w.id("owner"), "new", Timestamp{w.now.micros + 300'000'000}});
         return w.runIn("", "system", CompletePasswordReset{"old", "$h"});
       },
       "reset-token-invalid",
       {}},
      {"APasswordChangeVoidsTheResetLinkAskedForBefore",
       [](World& w) {
         w.run("system",
               RequestPasswordReset{w.id("owner"), "tok", Timestamp{w.now.micros + 300'000'000}});
         w.run("owner", SetPassword{w.id("owner"), "$changed", false, "changed"});
         return w.runIn("", "system", CompletePasswordReset{"tok", "$h"});
       },
       "reset-token-invalid",
       {}},
      {"DeactivationVoidsTheResetLinkAlsoAfterAReactivation",
       [](World& w) {
         w.create("bob");
         w.run("system",
               RequestPasswordReset{w.id("bob"), "tok", Timestamp{w.now.micros + 300'000'000}});
         w.run("owner", DeactivateUser{w.id("bob"), std::nullopt});
         w.run("owner", ReactivateUser{w.id("bob")});
         return w.runIn("", "system", CompletePasswordReset{"tok", "$h"});
       },
       "reset-token-invalid",
       {}},
      {"AResetForAnUnknownUserChangesNothingButIsOneEventAsForAUser",
       [](World& w) {
         return w.run("system", RequestPasswordReset{"nobody", "tok", w.now});
       },
       "",
       {"PasswordResetRequested"}},
      {"ASignInIsRecordedWithTheStrongerHashItMadeIfAny",
       [](World& w) {
         return w.run("system", RecordLogin{w.id("owner"), "session", w.now, std::nullopt,
                                            "$stronger", "digest"});
       },
       "",
       {"LoginSucceeded"}},
      // A sign-in is the user's own act (the server records it as theirs), and no one
      // else's: an administrator cannot record one for another.
      {"ASignInIsRecordedAsTheUserWhoSignedIn",
       [](World& w) {
         w.create("bob");
         return w.run("bob", RecordLogin{w.id("bob"), "session", w.now, std::nullopt, {}, {}});
       },
       "",
       {"LoginSucceeded"}},
      {"ASignInIsNoOneElsesToRecord",
       [](World& w) {
         w.create("bob");
         return w.run("owner", RecordLogin{w.id("bob"), "session", w.now, std::nullopt, {}, {}});
       },
       "forbidden",
       {}},
      {"AResetIsCompletedAsTheUserWhoseLinkItIs",
       [](World& w) {
         w.create("bob");
         w.run("system",
               RequestPasswordReset{w.id("bob"), "tok", Timestamp{w.now.micros + 300'000'000}});
         return w.run("bob", CompletePasswordReset{"tok", "$h"});
       },
       "",
       {"PasswordResetCompleted", "PasswordSet"}},
      {"AResetIsNoOneElsesToComplete",
       [](World& w) {
         w.create("bob");
         w.run("system",
               RequestPasswordReset{w.id("bob"), "tok", Timestamp{w.now.micros + 300'000'000}});
         return w.run("owner", CompletePasswordReset{"tok", "$h"});
       },
       "forbidden",
       {}},
      {"ASignInOfADeactivatedUserIsNotRecorded",
       [](World& w) {
         w.create("bob");
         w.run("owner", DeactivateUser{w.id("bob"), std::nullopt});
         return w.run("system", RecordLogin{w.id("bob"), "session", w.now, std::nullopt, {}, {}});
       },
       "not-found",
       {}},
      {"SetPasswordIsForTheUserThemself",
       [](World& w) {
         w.create("alice", true);
         return w.run("alice", SetPassword{w.id("owner"), "$h", false, "changed"});
       },
       "forbidden",
       {}},
  };
  return table;
}

TEST(Deciders, EveryRuleOfTheContract) {
  for (const Rule& rule : rules()) {
    SCOPED_TRACE(rule.rule);
    World w;
    const Outcome out = rule.act(w);
    EXPECT_EQ(codeOf(out), rule.code);
    if (rule.code.empty()) {
      EXPECT_EQ(typesOf(out), rule.events);
    } else {
      EXPECT_FALSE(std::get<Rejection>(out).message.empty());
    }
  }
}

// A new user with the email of a deactivated one is someone coming back: the refusal
// says so and names them (a review: nothing said where to look).
TEST(Deciders, CreatingADeactivatedUserAgainPointsToReactivation) {
  World w;
  const std::string ada = w.create("ada");
  ASSERT_TRUE(std::holds_alternative<Decision>(w.run("owner", DeactivateUser{ada, std::nullopt})));
  const auto refused =
      std::get<Rejection>(w.run("owner", CreateUser{World::details("ada"), false}));
  EXPECT_EQ(refused.code, "email-taken");
  EXPECT_NE(refused.message.find("deactivated (" + ada + "): reactivate them"), std::string::npos)
      << refused.message;
  const auto active =
      std::get<Rejection>(w.run("owner", CreateUser{World::details("owner"), false}));
  EXPECT_EQ(active.message, "A user with this email is already in the pool.");
  // With other problems, the email taken is one of them, not a surprise after they
  // are fixed.
  NewUserDetails again = World::details("owner");
  again.country = "Atlantis";
  const auto both = std::get<Rejection>(w.run("owner", CreateUser{again, false}));
  EXPECT_EQ(both.code, "validation-failed");
  std::vector<std::string> fields;
  for (const auto& p : both.problems) fields.push_back(p.field + ": " + p.message);
  EXPECT_EQ(fields, (std::vector<std::string>{"country: " + both.problems[0].message,
                                              "email: is already in the pool"}));
}

// An administrator refused the deactivation of another is told why, and what to do
// (a review: "Only the company's owner may do this." puzzled one who deactivates
// other users).
TEST(Deciders, AnAdministratorRefusedTheDeactivationOfAnotherIsToldWhy) {
  World w;
  const std::string alice = w.create("alice", true);
  w.create("carol", true);
  const auto refused = std::get<Rejection>(w.run("carol", DeactivateUser{alice, std::nullopt}));
  EXPECT_EQ(refused.code, "forbidden");
  EXPECT_EQ(refused.message,
            "Only the company's owner may deactivate an administrator: ask the owner to, or to "
            "remove their administrator rights (DELETE /api/v1/admins/{userId}) first.");
  const auto gone = std::get<Rejection>(w.run("carol", RemoveAdmin{alice}));
  EXPECT_EQ(gone.message, "Only the company's owner may do this.");
}

// Group names fold in any script; a log from when they folded in ASCII alone may
// hold two groups whose names fold alike now: each stays editable, and the name
// stays taken while one of them has it.
TEST(Deciders, GroupNamesAreOneNameInAnyCaseOfAnyScript) {
  {
    World w;
    w.run("owner", CreateGroup{"Équipe Ärzte", std::nullopt});
    EXPECT_EQ(codeOf(w.run("owner", CreateGroup{" équipe ärzte ", std::nullopt})),
              "group-name-taken");
    // The same name with its accents typed as combining marks (NFD).
    EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"E\u0301quipe A\u0308rzte", std::nullopt})),
              "group-name-taken");
    const std::string g = std::get<Decision>(w.run("owner", CreateGroup{"Ops", std::nullopt})).id;
    EXPECT_EQ(codeOf(w.run("owner", UpdateGroup{g, std::string("ÉQUIPE ÄRZTE"), std::nullopt})),
              "group-name-taken");
  }
  World w;
  auto oldLogGroup = [&](const std::string& id, const std::string& name) {
    EventEnvelope env;
    env.companyId = w.companyId;
    env.stream = "group-" + id;
    w.model.apply(env, GroupCreated{id, name, std::nullopt});
  };
  oldLogGroup("g1", "Équipe");
  oldLogGroup("g2", "équipe");
  EXPECT_EQ(
      typesOf(w.run("owner", UpdateGroup{"g1", std::nullopt, std::optional<std::string>("x")})),
      std::vector<std::string>{"GroupRenamed"});
  EXPECT_EQ(typesOf(w.run("owner", UpdateGroup{"g2", std::string("ÉQUIPE"), std::nullopt})),
            std::vector<std::string>{"GroupRenamed"});
  EXPECT_EQ(typesOf(w.run("owner", DeleteGroup{"g2"})), std::vector<std::string>{"GroupDeleted"});
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"équipe", std::nullopt})), "group-name-taken")
      << "g1 still has the name";
  EXPECT_EQ(std::get<Rejection>(w.run("owner", CreateGroup{"équipe", std::nullopt})).problems,
            (std::vector<FieldProblem>{{"name", "is another group's name"}}))
      << "on the field, so that a form marks it";
  EXPECT_EQ(typesOf(w.run("owner", DeleteGroup{"g1"})), std::vector<std::string>{"GroupDeleted"});
  EXPECT_EQ(typesOf(w.run("owner", CreateGroup{"équipe", std::nullopt})),
            std::vector<std::string>{"GroupCreated"});
}

// Variation selectors and tag characters stay beside an emoji, but alone they show as
// nothing and fold to nothing: such a name is blank, not one that then clashes with
// every other such name as "taken" (a review).
TEST(Deciders, ANameOfCharactersThatFoldToNothingIsBlank) {
  World w;
  w.create("bob");
  for (const std::string name : {"\ufe0f", "\U000E0020", "\ufe0f\U000E0041\u200b"}) {
    auto refused = std::get<Rejection>(w.run("owner", CreateGroup{name, std::nullopt}));
    ASSERT_EQ(refused.problems.size(), 1u);
    EXPECT_EQ(refused.problems[0].field, "name");
    EXPECT_EQ(refused.problems[0].message, "is required");
    refused = std::get<Rejection>(
        w.run("owner", RegisterResource{"permission", "modeler", name, w.id("bob")}));
    ASSERT_EQ(refused.problems.size(), 1u);
    EXPECT_EQ(refused.problems[0].message, "is required");
    NewUserDetails d = World::details("cy");
    d.surname = name;
    refused = std::get<Rejection>(w.run("owner", CreateUser{d, false}));
    ASSERT_EQ(refused.problems.size(), 1u);
    EXPECT_EQ(refused.problems[0].field, "surname");
  }
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"\u2764\ufe0f", std::nullopt})), "")
      << "an emoji with its selector is a name";
  auto noService =
      std::get<Rejection>(w.run("owner", RegisterResource{"project", "", "Apollo", w.id("bob")}));
  ASSERT_EQ(noService.problems.size(), 1u);
  EXPECT_EQ(noService.problems[0].field, "service");
  EXPECT_EQ(noService.problems[0].message, "is required");
}

// Names pasted from a web page or a word processor bring no-break, ideographic and
// zero-width spaces: a name of them alone is blank, and around a name they are not
// part of it (one group "Sales", one permission "Write").
TEST(Deciders, SpacesAndInvisibleCharactersOfAnyScriptAroundANameAreNotPartOfIt) {
  World w;
  NewUserDetails blank = World::details("ada");
  blank.givenName = "\u200b";
  blank.surname = "\u3000";
  blank.jobTitle = "\u00a0\u00a0";
  auto refused = std::get<Rejection>(w.run("owner", CreateUser{blank, false}));
  ASSERT_EQ(refused.problems.size(), 3u);
  for (const auto& p : refused.problems) EXPECT_EQ(p.message, "is required") << p.field;

  NewUserDetails padded = World::details("bea");
  padded.givenName = "\u00a0Bea\u2003";
  padded.surname = "\ufeffStone\u200b";
  const Decision made = std::get<Decision>(w.run("owner", CreateUser{padded, false}));
  const std::string bea = made.id;
  const auto& created = std::get<UserCreated>(made.events[0].data);
  EXPECT_EQ(created.givenName.value, "Bea");
  EXPECT_EQ(created.surname.value, "Stone");
  UpdateUser erase;
  erase.userId = bea;
  erase.surname = std::optional<std::string>("\u2003");
  EXPECT_EQ(codeOf(w.run("owner", erase)), "validation-failed");

  w.run("owner", CreateGroup{"Sales", std::nullopt});
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Sales\u00a0", std::nullopt})), "group-name-taken");
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"\u00a0", std::nullopt})), "validation-failed");
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Sa\u00a0les", std::nullopt})), "")
      << "a space inside a name is the name's own (it folds like a space)";
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Sa \u00a0\u3000les", std::nullopt})),
            "group-name-taken")
      << "a run of spaces reads as one on any page";
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Sa\u1680les", std::nullopt})), "group-name-taken");
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Sales \ufe0f", std::nullopt})), "group-name-taken")
      << "a variation selector that folds away leaves no space at the end";
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Sales \U000E0020", std::nullopt})),
            "group-name-taken");
  EXPECT_EQ(codeOf(w.run("owner", RegisterResource{"permission", "modeler", "Write", bea})), "");
  EXPECT_EQ(codeOf(w.run("owner", RegisterResource{"permission", "modeler", "Write\u00a0", bea})),
            "permission-held");
  EXPECT_EQ(codeOf(w.run("owner", RegisterResource{"permission", "modeler", "Read all", bea})), "");
  EXPECT_EQ(codeOf(w.run("owner", RegisterResource{"permission", "modeler", " Read  all ", bea})),
            "permission-held");
  // An emoji's variation selector ends the name; it stays.
  const Decision team =
      std::get<Decision>(w.run("owner", CreateGroup{"Team \u2764\ufe0f", std::nullopt}));
  EXPECT_EQ(std::get<GroupCreated>(team.events[0].data).name, "Team \u2764\ufe0f");
}

// Limits count characters, not bytes: a name in Chinese may be as long as one in
// Latin letters. Names are one line: NEL and Unicode's line and paragraph separators
// are line breaks, and C1 controls (U+009B starts a terminal's escape sequence) are
// refused as C0 ones are; a description takes lines, not controls.
TEST(Deciders, TextLimitsCountCharactersAndNamesAreOneLineWithoutControls) {
  World w;
  std::string han, tooLong;
  for (int i = 0; i < 256; ++i) han += "\u4e2d";
  tooLong = han + "\u4e2d";
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{han, std::nullopt})), "");
  auto refused = std::get<Rejection>(w.run("owner", CreateGroup{tooLong, std::nullopt}));
  ASSERT_EQ(refused.problems.size(), 1u);
  EXPECT_EQ(refused.problems[0].message, "is longer than 256 characters");
  // Counted as the text shows (NFC): a letter and its combining accent is one.
  std::string accented;
  for (int i = 0; i < 256; ++i) accented += "e\u0301";
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{accented, std::nullopt})), "");
  refused = std::get<Rejection>(w.run("owner", CreateGroup{accented + "e\u0301", std::nullopt}));
  ASSERT_EQ(refused.problems.size(), 1u);
  EXPECT_EQ(refused.problems[0].message, "is longer than 256 characters");
  // One over four times the limit is refused as it is (without NFC, which could not
  // bring it under the limit: its cost is all the bound saves).
  std::string marks = "a";
  for (int i = 0; i < 1100; ++i) marks += "\u0301";
  refused = std::get<Rejection>(w.run("owner", CreateGroup{marks, std::nullopt}));
  ASSERT_EQ(refused.problems.size(), 1u);
  EXPECT_EQ(refused.problems[0].message, "is longer than 256 characters");
  NewUserDetails wide = World::details("han");
  wide.givenName = han;
  EXPECT_EQ(codeOf(w.run("owner", CreateUser{wide, false})), "");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Line\u2028Sep", "holds a line break"},
      {"Par\u2029Sep", "holds a line break"},
      {"Ne\u0085l", "holds a line break"},
      {"Two\nLines", "holds a line break"},
      {"Csi\u009b31m", "holds a control character"},
      {"Tab\tbed", "holds a control character"},
      {"Del\x7f", "holds a control character"},
      {"Ab\u202ecd",
       "holds a bidirectional control character (U+202E), which can make text read out of order"},
      {"Iso\u2066late",
       "holds a bidirectional control character (U+2066), which can make text read out of order"},
      {"\uffff", "holds a noncharacter (U+FFFF), which is no text"},
      {"Pl\U0001fffeane", "holds a noncharacter (U+1FFFE), which is no text"},
      {"\u0301", "starts with a combining mark (U+0301), which has no letter to go on"},
      {"\u0301Anne", "starts with a combining mark (U+0301), which has no letter to go on"},
      {"\U000E0041\u0301x", "starts with a tag character (U+E0041), which has no emoji to go on"}};
  for (const auto& [name, message] : cases) {
    SCOPED_TRACE(name);
    NewUserDetails d = World::details("ctl");
    d.givenName = name;
    auto r = std::get<Rejection>(w.run("owner", CreateUser{d, false}));
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].field, "givenName");
    EXPECT_EQ(r.problems[0].message, message);
    EXPECT_EQ(
        std::get<Rejection>(w.run("owner", CreateGroup{name, std::nullopt})).problems.at(0).message,
        message);
  }
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"Notes", std::string("One\nTwo\u2028Three\tfour")})),
            "");
  // The marks that only nudge neutral characters (RLM in a Hebrew name) stay.
  EXPECT_EQ(codeOf(w.run("owner", CreateGroup{"\u05d0\u05d1 (2)\u200f", std::string("\u200e")})),
            "");
  EXPECT_EQ(
      std::get<Rejection>(w.run("owner", CreateGroup{"Desc", std::string("a\u202eb")}))
          .problems.at(0)
          .message,
      "holds a bidirectional control character (U+202E), which can make text read out of order");
  auto control = std::get<Rejection>(w.run("owner", CreateGroup{"Esc", std::string("a\u009b31m")}));
  EXPECT_EQ(control.problems.at(0).message, "holds a control character");
  EXPECT_EQ(std::get<Rejection>(w.run("owner", CreateGroup{"Nel", std::string("a\u0085b")}))
                .problems.at(0)
                .message,
            "holds a control character")
      << "NEL is a C1 control; a description's line breaks are CR, LF and U+2028/U+2029";

  // A group of an older log whose name today's rules refuse keeps it while its
  // description changes, the name sent back too or not.
  EventEnvelope env;
  env.companyId = w.companyId;
  env.stream = "group-old";
  w.model.apply(env, GroupCreated{"old", "Old\u0085Name", std::nullopt});
  EXPECT_EQ(
      typesOf(w.run("owner", UpdateGroup{"old", std::nullopt, std::optional<std::string>("x")})),
      std::vector<std::string>{"GroupRenamed"});
  EXPECT_EQ(typesOf(w.run("owner", UpdateGroup{"old", std::string("Old\u0085Name"),
                                               std::optional<std::string>("y")})),
            std::vector<std::string>{"GroupRenamed"});
  // So does a user's name, sent back whole by a form with another field changed.
  const std::string legacyId = "old-user";
  EventEnvelope userEnv;
  userEnv.companyId = w.companyId;
  userEnv.stream = "user-" + legacyId;
  UserCreated legacy;
  legacy.userId = legacyId;
  legacy.email = Personal("legacy@acme.test");
  legacy.givenName = Personal("Line\u2028Sep");
  legacy.surname = Personal("Old");
  legacy.jobTitle = Personal("Clerk");
  legacy.active = true;
  legacy.managerEmail = Personal("\u201cboss@elsewhere.test\u201d");  // today malformed
  w.model.apply(userEnv, legacy);
  UpdateUser form;
  form.userId = legacyId;
  form.givenName = std::optional<std::string>("Line\u2028Sep");
  form.jobTitle = std::optional<std::string>("Senior clerk");
  EXPECT_EQ(typesOf(w.run("owner", form)), std::vector<std::string>{"UserUpdated"});
  form.givenName = std::optional<std::string>("New\u2028Line");
  EXPECT_EQ(codeOf(w.run("owner", form)), "validation-failed") << "a changed name is judged";
  // So does the manager's address, kept as an email.
  form.givenName.reset();
  form.managerEmail = std::optional<std::string>("\u201cboss@elsewhere.test\u201d");
  form.jobTitle = std::optional<std::string>("Head clerk");
  EXPECT_EQ(typesOf(w.run("owner", form)), std::vector<std::string>{"UserUpdated"});
  form.managerEmail = std::optional<std::string>("\u201cchief@elsewhere.test\u201d");
  EXPECT_EQ(codeOf(w.run("owner", form)), "validation-failed") << "a changed manager is judged";
  // An id of 10,000 letters is not repeated in the answer.
  auto missing = std::get<Rejection>(w.run("owner", DeleteGroup{std::string(10000, 'a')}));
  EXPECT_EQ(missing.message, "Group given (too long to be an id) does not exist in this company.");
  // An email where a user's id goes is said to be one, not a user who is not there
  // (a review: an administrator who typed a colleague's address read that).
  missing = std::get<Rejection>(w.run("owner", IncludeAdmin{"bob@acme.example"}));
  EXPECT_EQ(missing.message,
            "User is given as an email, not an id (a UUID): GET /api/v1/users?search= finds a "
            "user's id, GET /api/v1/me one's own.");
  w.create("dora");
  DeactivateUser deactivate;
  deactivate.userId = w.id("dora");
  deactivate.transferTo = "bob@acme.example";
  const auto byEmail = std::get<Rejection>(w.run("owner", deactivate));
  ASSERT_EQ(byEmail.problems.size(), 1u);
  EXPECT_EQ(byEmail.problems[0].message,
            "the recipient is given as an email, not an id (a UUID): GET /api/v1/users?search= "
            "finds a user's id, GET /api/v1/me one's own");
}

TEST(Deciders, RefusalsListWhatMustBeTransferredAndWhy) {
  World w;
  w.create("bob");
  w.create("carl");
  const std::string sub = give(w, "bob", "subscription");
  const std::string perm = give(w, "bob", "permission");
  auto missing = std::get<Rejection>(w.run("owner", DeactivateUser{w.id("bob"), std::nullopt}));
  EXPECT_EQ(missing.kind, RejectionKind::kConflict);
  EXPECT_EQ(std::set<std::string>(missing.ids.begin(), missing.ids.end()),
            (std::set<std::string>{sub, perm}));
  auto refused = std::get<Rejection>(w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")}));
  EXPECT_EQ(refused.kind, RejectionKind::kInvalid);
  ASSERT_EQ(refused.problems.size(), 1u) << "the permission may go, the subscription may not";
  EXPECT_EQ(refused.problems[0], (FieldProblem{"transferTo",
                                               "subscription 'R' in modeler: a subscription goes "
                                               "only to an administrator",
                                               sub}));
  ASSERT_EQ(missing.problems.size(), 2u);
  for (const FieldProblem& p : missing.problems) {
    EXPECT_EQ(p.field, "transferTo") << "the field a form fills in";
    EXPECT_NE(p.message.find("needs a recipient"), std::string::npos) << p.message;
  }
}

TEST(Deciders, APermissionTheRecipientHoldsIsMergedIntoTheirs) {
  World w;
  w.create("bob");
  w.create("carl");
  const std::string mine = give(w, "bob", "permission", "modeler", "Read all");
  const std::string theirs = give(w, "carl", "permission", "modeler", "Read all");
  auto d = std::get<Decision>(w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")}));
  ASSERT_EQ(d.transferred.size(), 1u);
  EXPECT_EQ(d.transferred[0].resourceId, mine);
  EXPECT_EQ(d.transferred[0].mergedInto, theirs);
  EXPECT_EQ(d.transferred[0].name, "Read all") << "as bob held it";
  EXPECT_EQ(d.transferred[0].service, "modeler");
  EXPECT_EQ(d.transferred[0].ownerId, w.id("carl"));
}

// People type a permission's name in any case: it is one permission.
TEST(Deciders, APermissionIsOneWhateverTheCaseOfItsName) {
  World w;
  w.create("bob");
  w.create("carl");
  const std::string mine = give(w, "bob", "permission", "modeler", "Read all");
  EXPECT_EQ(
      codeOf(w.run("owner", RegisterResource{"permission", "modeler", "READ ALL", w.id("bob")})),
      "permission-held");
  const std::string theirs = give(w, "carl", "permission", "modeler", "read All");
  auto d = std::get<Decision>(w.run("owner", DeactivateUser{w.id("bob"), w.id("carl")}));
  ASSERT_EQ(d.transferred.size(), 1u);
  EXPECT_EQ(d.transferred[0].mergedInto, theirs) << mine << " merged into carl's own";
}

TEST(Deciders, AManagerInThePoolIsReferencedById) {
  World w;
  const std::string boss = w.create("boss");
  NewUserDetails d = World::details("ada");
  d.managerEmail = "BOSS@acme.test";
  auto out = std::get<Decision>(w.run("owner", CreateUser{d, false}));
  const auto& created = std::get<UserCreated>(out.events[0].data);
  EXPECT_EQ(created.managerUserId, boss);
  EXPECT_FALSE(created.managerEmail.has_value()) << "no copy of the manager's email";
  // Their own manager, however created: a reference to themself.
  NewUserDetails own = World::details("solo");
  own.managerEmail = "Solo@acme.test";
  auto single = std::get<Decision>(w.run("owner", CreateUser{own, false}));
  EXPECT_EQ(std::get<UserCreated>(single.events[0].data).managerUserId, single.id);
  EXPECT_FALSE(std::get<UserCreated>(single.events[0].data).managerEmail.has_value());
  NewUserDetails twin = World::details("twin");
  twin.managerEmail = "twin@acme.test";
  auto imported =
      std::get<Decision>(w.run("owner", ImportUsers{"imp", {twin}, 0, false, {}, false}));
  EXPECT_EQ(std::get<UserCreated>(imported.events[0].data).managerUserId, imported.ids.front());
}

// A manager who joins the pool after their report: the report now references them,
// and the copy of their email goes, so that it is shredded with them.
TEST(Deciders, AManagerWhoJoinsLaterIsLinkedToTheirReports) {
  World w;
  NewUserDetails d = World::details("ada");
  d.managerEmail = "late@acme.test";
  auto made = std::get<Decision>(w.run("owner", CreateUser{d, false}));
  const std::string ada = made.id;
  EXPECT_EQ(std::get<UserCreated>(made.events[0].data).managerEmail->value, "late@acme.test");

  auto out = std::get<Decision>(w.run("owner", CreateUser{World::details("LATE"), false}));
  ASSERT_EQ(out.events.size(), 2u);
  const auto& linked = std::get<UserUpdated>(out.events[1].data);
  EXPECT_EQ(out.events[1].stream, userStream(ada));
  EXPECT_EQ(linked.managerUserId, out.id);
  EXPECT_EQ(linked.cleared, std::vector<std::string>{"managerEmail"});

  // Linked once: the next user of another email links nobody.
  auto next = std::get<Decision>(w.run("owner", CreateUser{World::details("bob"), false}));
  EXPECT_EQ(next.events.size(), 1u);

  // A report anonymized before the manager joins, or pointed at someone else since,
  // is not linked.
  NewUserDetails gone = World::details("gone");
  gone.managerEmail = "boss1@acme.test";
  const std::string goneId = std::get<Decision>(w.run("owner", CreateUser{gone, false})).id;
  ASSERT_EQ(codeOf(w.run("owner", DeactivateUser{goneId, std::nullopt})), "");
  ASSERT_EQ(codeOf(w.run("owner", AnonymizeUser{goneId})), "");
  NewUserDetails moved = World::details("moved");
  moved.managerEmail = "boss1@acme.test";
  const std::string movedId = std::get<Decision>(w.run("owner", CreateUser{moved, false})).id;
  UpdateUser repoint;
  repoint.userId = movedId;
  repoint.managerEmail = std::optional<std::string>("boss2@acme.test");
  ASSERT_EQ(codeOf(w.run("owner", repoint)), "");
  EXPECT_EQ(typesOf(w.run("owner", CreateUser{World::details("boss1"), false})),
            std::vector<std::string>{"UserCreated"});
  auto boss2 = w.run("owner", CreateUser{World::details("boss2"), false});
  ASSERT_EQ(typesOf(boss2), (std::vector<std::string>{"UserCreated", "UserUpdated"}));
  EXPECT_EQ(std::get<UserUpdated>(std::get<Decision>(boss2).events[1].data).userId, movedId);

  // And through an import.
  NewUserDetails e = World::details("eve");
  e.managerEmail = "imported@acme.test";
  const std::string eve = std::get<Decision>(w.run("owner", CreateUser{e, false})).id;
  auto imported = std::get<Decision>(
      w.run("owner", ImportUsers{"imp", {World::details("imported")}, 0, false, {}, false}));
  ASSERT_EQ(imported.events.size(), 3u) << "created, linked, imported";
  const auto& viaImport = std::get<UserUpdated>(imported.events[1].data);
  EXPECT_EQ(viaImport.userId, eve);
  EXPECT_EQ(viaImport.managerUserId, imported.ids.front());
}

// A recipient that could take nothing is refused even when the user owns nothing:
// a mistyped id is said, not ignored.
TEST(Deciders, ARecipientThatCannotTakeAnythingIsRefusedWithNothingToHandOver) {
  World w;
  const std::string ada = w.create("ada");
  const std::string gone = w.create("gone", false, /*active=*/false);
  for (const std::string& to : {std::string("no-such-user"), ada, gone}) {
    Outcome o = w.run("owner", DeactivateUser{ada, to});
    ASSERT_EQ(codeOf(o), "transfer-refused") << to;
    const Rejection& r = std::get<Rejection>(o);
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].field, "transferTo");
  }
  EXPECT_EQ(typesOf(w.run("owner", DeactivateUser{ada, w.id("owner")})),
            std::vector<std::string>{"UserDeactivated"})
      << "an active recipient with nothing to take is fine";
}

// A form sends a user back whole: what it sends unchanged is no change (no event,
// the same version, nothing in the audit trail), and only what differs is recorded.
TEST(Deciders, AChangeOfDetailsRecordsOnlyWhatDiffers) {
  World w;
  const std::string boss = w.create("boss");
  NewUserDetails ada = World::details("ada");
  ada.managerEmail = "BOSS@acme.test";  // a user of the pool: kept by id
  const std::string id = std::get<Decision>(w.run("owner", CreateUser{ada, false})).id;
  NewUserDetails bea = World::details("bea");  // a manager outside the pool
  const std::string outside = std::get<Decision>(w.run("owner", CreateUser{bea, false})).id;
  auto resend = [&](const std::string& userId, const NewUserDetails& d) {
    UpdateUser u;
    u.userId = userId;
    u.email = d.email;
    u.givenName = std::optional<std::string>(" " + d.givenName + " ");
    u.surname = std::optional<std::string>(d.surname);
    u.jobTitle = std::optional<std::string>(d.jobTitle);
    u.managerEmail = std::optional<std::string>(d.managerEmail);
    u.country = std::optional<std::string>("de");
    return u;
  };
  const std::uint64_t version = w.model.user(w.companyId, id)->version;
  EXPECT_TRUE(typesOf(w.run("owner", resend(id, ada))).empty());
  ada.managerEmail = "boss@acme.test";  // the same manager, another spelling
  EXPECT_TRUE(typesOf(w.run("owner", resend(id, ada))).empty());
  EXPECT_TRUE(typesOf(w.run("owner", resend(outside, bea))).empty());
  EXPECT_EQ(w.model.user(w.companyId, id)->version, version);

  // One field of five differs: the event holds it alone.
  ada.jobTitle = "Lead";
  auto changed = w.run("owner", resend(id, ada));
  ASSERT_EQ(typesOf(changed), std::vector<std::string>{"UserUpdated"});
  const auto& e = std::get<UserUpdated>(std::get<Decision>(changed).events[0].data);
  EXPECT_EQ(e.jobTitle, Personal("Lead"));
  EXPECT_FALSE(e.givenName || e.surname || e.managerUserId || e.managerEmail || e.country);
  EXPECT_TRUE(e.cleared.empty());
  EXPECT_TRUE(typesOf(w.run("owner", resend(id, ada))).empty()) << "and it is the new value now";

  // A country taken away once is no change the second time; a manager's email in
  // another case is a change of what is shown when they are not in the pool.
  UpdateUser noCountry;
  noCountry.userId = id;
  noCountry.country = std::optional<std::string>();
  EXPECT_EQ(typesOf(w.run("owner", noCountry)), std::vector<std::string>{"UserUpdated"});
  EXPECT_TRUE(typesOf(w.run("owner", noCountry)).empty());
  bea.managerEmail = "MANAGER@elsewhere.test";
  EXPECT_EQ(typesOf(w.run("owner", resend(outside, bea))), std::vector<std::string>{"UserUpdated"});
  // Pointed at someone else and back: both are changes.
  UpdateUser away;
  away.userId = id;
  away.managerEmail = std::optional<std::string>("owner@acme.test");
  EXPECT_EQ(typesOf(w.run("owner", away)), std::vector<std::string>{"UserUpdated"});
  away.managerEmail = std::optional<std::string>("boss@acme.test");
  auto back = w.run("owner", away);
  ASSERT_EQ(typesOf(back), std::vector<std::string>{"UserUpdated"});
  EXPECT_EQ(std::get<UserUpdated>(std::get<Decision>(back).events[0].data).managerUserId, boss);
  EXPECT_EQ(std::get<UserUpdated>(std::get<Decision>(back).events[0].data).cleared,
            std::vector<std::string>{})
      << "a user of the pool for another clears nothing";

  // What is cleared is the way the manager is held now: an outside manager for
  // another outside manager clears nothing; a user of the pool for an outside one
  // clears the reference (a review found "cleared: managerUserId" on the first).
  auto managerChange = [&](const std::string& userId, const std::string& manager) {
    UpdateUser u;
    u.userId = userId;
    u.managerEmail = std::optional<std::string>(manager);
    auto d = w.run("owner", u);
    EXPECT_EQ(typesOf(d), std::vector<std::string>{"UserUpdated"}) << manager;
    return std::get<UserUpdated>(std::get<Decision>(d).events.at(0).data);
  };
  EXPECT_EQ(managerChange(outside, "rita@elsewhere.test").cleared, std::vector<std::string>{});
  EXPECT_EQ(managerChange(id, "rita@elsewhere.test").cleared,
            std::vector<std::string>{"managerUserId"});
  EXPECT_EQ(managerChange(id, "rita2@elsewhere.test").cleared, std::vector<std::string>{});
  EXPECT_EQ(managerChange(id, "boss@acme.test").cleared, std::vector<std::string>{"managerEmail"});
}

// A copy of a manager's email is the manager's data: sealed under one key per
// address, which the user of that email takes over on joining and which is
// shredded with them.
TEST(Deciders, ACopyOfAManagersEmailIsSealedForTheAddressAndGoesWithTheManager) {
  World w;
  auto copyOf = [](const Decision& d, std::size_t i) {
    return std::visit(
        [](const auto& e) -> Personal {
          if constexpr (requires { e.managerEmail; }) return e.managerEmail.value_or(Personal());
          return Personal();
        },
        d.events[i].data);
  };
  NewUserDetails a = World::details("ada");
  a.managerEmail = "late@acme.test";
  const Decision first = std::get<Decision>(w.run("owner", CreateUser{a, false}));
  const std::string key = copyOf(first, 0).sealedFor;
  EXPECT_EQ(key.rfind("address-", 0), 0u) << key;
  NewUserDetails b = World::details("bob");
  b.managerEmail = "LATE@acme.test";
  const Decision second = std::get<Decision>(w.run("owner", CreateUser{b, false}));
  EXPECT_EQ(copyOf(second, 0), Personal("LATE@acme.test", key)) << "one key per address";
  UpdateUser repoint;
  repoint.userId = w.create("cy");
  repoint.managerEmail = std::optional<std::string>("Late@Acme.test");
  EXPECT_EQ(copyOf(std::get<Decision>(w.run("owner", repoint)), 0).sealedFor, key);
  NewUserDetails d = World::details("dan");
  NewUserDetails e = World::details("eve");
  d.managerEmail = e.managerEmail = "new@acme.test";
  const Decision imported =
      std::get<Decision>(w.run("owner", ImportUsers{"imp", {d, e}, 0, false, {}, false}));
  EXPECT_NE(copyOf(imported, 0).sealedFor, key);
  EXPECT_EQ(copyOf(imported, 0).sealedFor, copyOf(imported, 1).sealedFor)
      << "within one import too";

  const std::string late = w.create("late", false, /*active=*/false);
  const Decision anonymized = std::get<Decision>(w.run("owner", AnonymizeUser{late}));
  EXPECT_EQ(anonymized.shred, (std::vector<std::string>{late, key}));
  // The address is nobody's now: a new copy gets a new key.
  NewUserDetails f = World::details("fay");
  f.managerEmail = "late@acme.test";
  const std::string fresh =
      copyOf(std::get<Decision>(w.run("owner", CreateUser{f, false})), 0).sealedFor;
  EXPECT_NE(fresh, key);
  EXPECT_FALSE(fresh.empty());
}

// A log written before domains were compared as DNS does may hold copies of one
// address in two spellings, sealed under two keys: the user of that address takes
// both over, and both are shredded with them.
TEST(Deciders, CopiesOfOneAddressSealedUnderTwoKeysAreAllShreddedWithItsUser) {
  World w;
  auto legacy = [&](const std::string& id, const std::string& managerEmail,
                    const std::string& key) {
    EventEnvelope env;
    env.companyId = w.companyId;
    env.stream = "user-" + id;
    UserCreated e;
    e.userId = id;
    e.email = Personal(id + "@acme.test");
    e.givenName = Personal("Re");
    e.surname = Personal("Port");
    e.jobTitle = Personal("Clerk");
    e.active = true;
    e.managerEmail = Personal(managerEmail, key);
    w.model.apply(env, e);
  };
  legacy("r1", "boss@M\u00dcLLER.test", "address-1");
  legacy("r2", "boss@m\u00fcller.test", "address-2");
  NewUserDetails boss = World::details("boss");
  boss.email = "boss@m\u00fcller.test";
  const std::string id = std::get<Decision>(w.run("owner", CreateUser{boss, false})).id;
  ASSERT_EQ(codeOf(w.run("owner", DeactivateUser{id, std::nullopt})), "");
  const Decision anonymized = std::get<Decision>(w.run("owner", AnonymizeUser{id}));
  EXPECT_EQ(anonymized.shred, (std::vector<std::string>{id, "address-1", "address-2"}));
}

TEST(Deciders, AnImportResolvesManagersWithinTheFile) {
  World w;
  NewUserDetails a = World::details("a");
  NewUserDetails b = World::details("b");
  b.managerEmail = "a@acme.test";
  auto out = std::get<Decision>(w.run("owner", ImportUsers{"imp", {a, b}, 0, false, {}, false}));
  const auto& first = std::get<UserCreated>(out.events[0].data);
  const auto& second = std::get<UserCreated>(out.events[1].data);
  EXPECT_EQ(second.managerUserId, first.userId);
  EXPECT_EQ(first.importId, "imp");
}

// The managers of an import's rows are judged against the pool as it is when the
// users are created (the file's check reads a view, which may be behind: a review
// deactivated a manager while a file was read, and the import said nothing of it).
TEST(Deciders, AnImportWarnsOfManagersWhoAreNoActiveUserOfThePoolAsItIsThen) {
  World w;
  w.create("dee", false, /*active=*/false);
  w.create("max");
  std::vector<NewUserDetails> rows;
  for (const char* manager :
       {"a@acme.test", "dee@acme.test", "nobody@acme.test", "A@acme.test", "max@acme.test"}) {
    rows.push_back(World::details("r" + std::to_string(rows.size())));
    rows.back().managerEmail = manager;
  }
  rows[0].email = "a@acme.test";
  const std::vector<std::size_t> rowNumbers = {2, 3, 5, 6, 7};
  const std::vector<FieldProblem> expected = {
      {"row 3: managerEmail", std::string(kManagerDeactivated)},
      {"row 5: managerEmail", std::string(kManagerNotInPool)}};
  auto dry =
      std::get<Decision>(w.run("owner", ImportUsers{"imp", rows, 4, false, rowNumbers, true}));
  EXPECT_EQ(dry.warnings, expected) << "a dry run's too";
  EXPECT_TRUE(dry.events.empty());
  auto out =
      std::get<Decision>(w.run("owner", ImportUsers{"imp", rows, 4, false, rowNumbers, false}));
  EXPECT_EQ(out.warnings, expected);
  const auto* imported = std::get_if<UsersImported>(&out.events.back().data);
  ASSERT_NE(imported, nullptr);
  EXPECT_EQ(imported->warnings, 6u) << "the file's 4 and the decider's 2";
}

// A release says what the resource was and who held it: the release is in that
// person's history, and still reads in words once the resource is gone.
TEST(Deciders, AReleaseNamesTheResourceAndItsLastOwner) {
  World w;
  w.create("bob");
  const std::string id = give(w, "bob", "project", "modeler", "Payroll");
  // If-Match with a tag: a resource shows none, so none names it (after the 404).
  EXPECT_EQ(codeOf(w.run("owner", ReleaseResource{id, {.ifMatchTag = true}})), "version-mismatch");
  EXPECT_EQ(codeOf(w.run("owner", ReleaseResource{"nothing", {.ifMatchTag = true}})), "not-found");
  // If-None-Match: * asks that it not exist: it does.
  EXPECT_EQ(codeOf(w.run("owner", ReleaseResource{id, {.ifNoneMatchAny = true}})),
            "version-mismatch");
  auto d = std::get<Decision>(w.run("owner", ReleaseResource{id}));
  ASSERT_EQ(d.events.size(), 1u);
  const auto* released = std::get_if<ResourceReleased>(&d.events[0].data);
  ASSERT_NE(released, nullptr);
  EXPECT_EQ(*released, (ResourceReleased{id, w.id("bob"), "project", "modeler", "Payroll"}));
  EXPECT_EQ(codeOf(w.run("owner", ReleaseResource{id})), "not-found");
}

// A sign-in that made the hash again records it with the digest of the one it
// replaces; one that did not records neither.
TEST(Deciders, ASignInCarriesTheHashItMadeAgainAndTheOneItReplaces) {
  World w;
  auto d = std::get<Decision>(w.run(
      "system", RecordLogin{w.id("owner"), "session", w.now, std::nullopt, "$stronger", "digest"}));
  ASSERT_EQ(d.events.size(), 1u);
  const auto& upgraded = std::get<LoginSucceeded>(d.events[0].data);
  ASSERT_TRUE(upgraded.passwordHash.has_value());
  EXPECT_EQ(upgraded.passwordHash->value, "$stronger");
  EXPECT_EQ(upgraded.replacesHash, std::optional<std::string>("digest"));
  d = std::get<Decision>(w.run("system", RecordLogin{w.id("owner"), "session2", w.now, std::nullopt,
                                                     std::nullopt, "digest"}));
  const auto& plain = std::get<LoginSucceeded>(d.events[0].data);
  EXPECT_FALSE(plain.passwordHash.has_value());
  EXPECT_FALSE(plain.replacesHash.has_value());
}

TEST(Deciders, AnonymizationShredsTheKeyAndFreesTheEmail) {
  World w;
  const std::string bob = w.create("bob", false, false);
  auto d = std::get<Decision>(w.run("owner", AnonymizeUser{bob}));
  EXPECT_EQ(d.shred, std::vector<std::string>{bob});
  EXPECT_EQ(w.model.userByEmail(w.companyId, "bob@acme.test"), nullptr);
  EXPECT_EQ(codeOf(w.run("owner", CreateUser{World::details("bob"), false})), "");
}

// A log written before emailKey compared domains as DNS does may hold two users of
// what is one address now (`MÜLLER.test`, `müller.test`): it stays taken until the
// last of them is anonymized, whichever goes first (a review: it was free once the
// one the model indexed was, and a third user of it could be created).
TEST(Deciders, AnAddressTwoUsersOfAnOldLogShareStaysTakenUntilTheLastIsAnonymized) {
  for (const bool laterFirst : {true, false}) {
    World w;
    auto legacy = [&](const std::string& id, const std::string& email) {
      EventEnvelope env;
      env.companyId = w.companyId;
      env.stream = "user-" + id;
      UserCreated e;
      e.userId = id;
      e.email = Personal(email);
      e.givenName = Personal("Ann");
      e.surname = Personal("Lee");
      e.jobTitle = Personal("Clerk");
      e.active = true;
      w.model.apply(env, e);
    };
    legacy("u1", "ann@M\u00dcLLER.test");
    legacy("u2", "ann@m\u00fcller.test");
    NewUserDetails third = World::details("ann");
    third.email = "ANN@m\u00fcller.test";
    const std::string first = laterFirst ? "u2" : "u1";
    const std::string second = laterFirst ? "u1" : "u2";
    for (const std::string& id : {first, second}) {
      EXPECT_EQ(codeOf(w.run("owner", CreateUser{third, false})), "email-taken") << id;
      ASSERT_EQ(codeOf(w.run("owner", DeactivateUser{id, std::nullopt})), "") << id;
      ASSERT_EQ(codeOf(w.run("owner", AnonymizeUser{id})), "") << id;
      const UserState* holder = w.model.userByEmail(w.companyId, third.email);
      EXPECT_EQ(holder == nullptr ? std::string() : holder->id, id == first ? second : "")
          << laterFirst;
    }
    EXPECT_EQ(codeOf(w.run("owner", CreateUser{third, false})), "") << laterFirst;
  }
}

struct EmailCase {
  std::string email;
  bool ok;
};

TEST(Email, SyntaxFollowsTheRules) {
  const std::vector<EmailCase> cases = {
      {"ada@example.org", true},
      {"  ada@example.org ", true},
      {"a.b+tag@sub.example.co", true},
      {"ada@localhost", false},
      {"ada example@example.org", false},
      {"@example.org", false},
      {"ada@", false},
      {"ada@@example.org", false},
      {"ada@example..org", false},
      {"ada.@example.org", false},
      {"ada@-example.org", false},
      {"", false},
      // What spreadsheets and typos let through: only letters, digits, hyphens and
      // dots after the @ (or UTF-8, an internationalized domain).
      {"weird@exa$mple.c_m", false},
      {"x@y!z.com", false},
      {"ada@example.org.", false},
      {"ada@10.0.0.1", false},
      {"ada@exa mple.org", false},
      {"a<b>@example.org", false},
      {"a\"b@example.org", false},
      {"a,b@example.org", false},
      {"o'brien@example.ie", true},
      {"ops-24/7@example.org", true},
      {"jos\u00e9@b\u00fccher.de", true},
      {"ada@a-1.example-2.org", true},
      // Invisible characters copied along: a no-break space, a zero-width space, a BOM.
      {"ada@example.org\u00a0", false},
      {"ada\u200b@example.org", false},
      {"\ufeffada@example.org", false},
      // C1 controls and a right-to-left override.
      {"a\u009b31m@example.org", false},
      {"ab\u202e@example.org", false},
      // Pasted from a word processor: typographic quotes, guillemets, an ellipsis, a
      // dash, an ideographic full stop (a review imported `“anna@corp.example”` beside
      // anna@corp.example). Letters, marks and digits of any script stay; so does a
      // full-width letter in the domain, which IDNA maps (the same domain).
      {"\u201canna@corp.example\u201d", false},
      {"sq2@corp.example\u201d", false},
      {"\u00absq8@corp.example", false},
      {"\u2018sq12@corp.example", false},
      {"sq4\u2026@corp.example", false},
      {"x@corp\u2013x.example", false},
      {"sq5@corp\u3002example", false},
      {"\u7528\u6237@\u4f8b\u5b50.\u516c\u53f8", true},
      {"\u0434\u0436\u043e\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", true},
      {"sq9@corp.exampl\u00e9", true},
      {"sq6@\uff43orp.example", true},
      {"jose\u0301@example.org", true},
      {"a@\u00e9" + std::string(60, 'a') + ".org", false},  // 64 in its xn-- form
      // A domain in its xn-- form is judged as its Unicode form: Punycode that does
      // not decode, or decodes to a control character or an emoji, is no domain.
      {"jose@xn--bcher-kva.de", true},
      {"jose@mail.XN--BCHER-KVA.de", true},
      {"user@xn--zz.example", false},
      {"q@xn--zz9.example", false},
      {"user@xn--a.example", false},
      {"user@xn--ls8h.example", false},
      // Digits are decimal digits (not ², ①); Catalan's middle dot is IDNA's to judge.
      {"ann\u00b2@corp.example", false},
      {"\u2460@corp.example", false},
      {"\u0661\u0662@corp.example", true},
      {"info@col\u00b7legi.cat", true},
      // The punctuation names are written with, before the @ too (a review).
      {"marc.col\u00b7lell@demo.example", true},
      {"\u30b8\u30e7\u30f3\u30fb\u30b9\u30df\u30b9@demo.example", true},
      {"\u05e6\u05f3\u05e8\u05dc\u05d9@demo.example", true},
  };
  for (const auto& c : cases) EXPECT_EQ(!emailProblem(c.email).has_value(), c.ok) << c.email;
  EXPECT_EQ(emailProblem("\u201canna@corp.example\u201d"),
            "holds '\u201c', which an address may not hold before the @");
  // As a mail program writes it (an end-to-end review read "holds a space" of it).
  EXPECT_EQ(emailProblem("John Doe <jd@acme.example>"),
            "holds a name beside the address (Name <address>): give the address alone");
  EXPECT_EQ(emailProblem(" <jd@acme.example>"),
            "is in angle brackets (<address>): give the address alone");
  EXPECT_EQ(emailProblem("jd@acme.example (John Doe)"),
            "holds a name beside the address (address (Name)): give the address alone");
  EXPECT_NE(emailProblem("a@acme.example <b@acme.example>"),
            "holds a name beside the address (Name <address>): give the address alone")
      << "two addresses";
  // No top-level domain is one letter: a new account's address ending so is a cut
  // `.com` (a review); a manager's may be an account's made before the rule.
  EXPECT_EQ(newAccountEmailProblem(" ann@example.c "),
            "has a domain that ends in one letter (no top-level domain does: .c for .com?)");
  EXPECT_TRUE(newAccountEmailProblem("a@b.c").has_value());
  EXPECT_FALSE(emailProblem("a@b.c").has_value());
  EXPECT_FALSE(newAccountEmailProblem("a@b.co").has_value());
  EXPECT_FALSE(newAccountEmailProblem("a@b.c.example").has_value());
  EXPECT_FALSE(newAccountEmailProblem("a@\u4f8b\u5b50.\u516c").has_value())
      << "one letter, three bytes";
  EXPECT_EQ(newAccountEmailProblem("a@b"), emailProblem("a@b"));
  // A full-width local part reads as the plain one and reaches nobody (a review);
  // letters of other scripts, accented ones in either form, are addresses.
  EXPECT_EQ(newAccountEmailProblem("\uff41lice@corp.example"),
            "holds '\uff41' before the @, a variant form (full-width, a ligature, a "
            "superscript\u2026) of 'a': write it as 'a'");
  EXPECT_EQ(newAccountEmailProblem("\U0001d41ann@corp.example"),
            "holds '\U0001d41a' before the @, a variant form (full-width, a ligature, a "
            "superscript\u2026) of 'a': write it as 'a'")
      << "a mathematical bold letter";
  EXPECT_TRUE(newAccountEmailProblem("\ufb01nance@corp.example").has_value()) << "a ligature";
  EXPECT_FALSE(emailProblem("\uff41lice@corp.example").has_value()) << "an account's of before";
  for (const char* fine : {"j\u00fcrgen@corp.example", "ju\u0308rgen@corp.example",
                           "\u7528\u6237@corp.example", "\u0430\u043d\u043d\u0430@corp.example",
                           // Thai's sara am has a compatibility decomposition, and is a
                           // letter (a review: กำพล was refused).
                           "\u0e01\u0e33\u0e1e\u0e25@corp.example"})
    EXPECT_FALSE(newAccountEmailProblem(fine).has_value()) << fine;
  EXPECT_EQ(emailProblem("x@corp\u3002example"),
            "has '\u3002' in its domain, which holds only letters, digits, hyphens and dots");
  EXPECT_FALSE(emailProblem(std::string(64, 'a') + "@example.org").has_value());
  EXPECT_TRUE(emailProblem(std::string(65, 'a') + "@example.org").has_value());
  EXPECT_TRUE(emailProblem("a@" + std::string(250, 'b') + ".org").has_value());
  EXPECT_EQ(emailKey("  Ada@Example.ORG "), "ada@example.org");
}

TEST(Text, FoldCaseFoldsEveryScriptHoweverItWasTypedAndKeepsWhatIsNotUtf8) {
  EXPECT_EQ(foldCase("\u00c9lodie \u00d6ZT\u00dcRK"), "\u00e9lodie \u00f6zt\u00fcrk");
  EXPECT_EQ(foldCase("\u0391\u0398\u0397\u039d\u0391"), "\u03b1\u03b8\u03b7\u03bd\u03b1");
  EXPECT_EQ(foldCase("\u0416\u0423\u041a"), "\u0436\u0443\u043a");
  EXPECT_EQ(foldCase("Ada@Example.ORG"), "ada@example.org");
  EXPECT_EQ(foldCase("A\xff\xc3"
                     "B"),
            "a\xff\xc3"
            "b");
  EXPECT_EQ(foldCase(""), "");
  // One name however its accents were typed; full case folding; compatibility forms.
  EXPECT_EQ(foldCase("E\u0301LODIE"), "\u00e9lodie");
  EXPECT_EQ(foldCase("Stra\u00dfe"), foldCase("STRASSE"));
  EXPECT_EQ(foldCase("\u039f\u03a3"), foldCase("\u03bf\u03c2"));
  EXPECT_EQ(foldCase("\uff21\uff24\uff21"), "ada") << "full-width letters";
  EXPECT_NE(foldCase("\u00c9quipe"), foldCase("Equipe")) << "accents count for a name";
}

// A name's uniqueness key: folded, a run of white space one space, none at the ends;
// text of an older log that is not UTF-8 keeps its bytes (a Latin-1 é is no space).
TEST(Text, NameKeyTakesARunOfSpacesAsOneAndKeepsWhatIsNotUtf8) {
  EXPECT_EQ(nameKey("  Dev \u00a0\u3000Crew \ufe0f"), "dev crew");
  EXPECT_EQ(nameKey("Dev\u1680Crew"), "dev crew");
  EXPECT_EQ(nameKey("Caf\xe9"), "caf\xe9");
  EXPECT_NE(nameKey("R\xe9union"), nameKey("R union"));
  EXPECT_EQ(nameKey(""), "");
}

TEST(Text, TrimTextTakesSpacesOfAnyScriptAndInvisibleCharactersOffBothEnds) {
  EXPECT_EQ(trimText("  Ada \t"), "Ada");
  EXPECT_EQ(trimText("\u00a0\u3000\u2003Ada\u202f\u205f"), "Ada");
  EXPECT_EQ(trimText("\ufeff\u200bAda\u200d\u2060\u00ad\u200e"), "Ada");
  EXPECT_EQ(trimText("\u200b\u00a0\u3000"), "");
  EXPECT_EQ(trimText("\u2800\u3164\u2800"), "") << "blank to the eye: Braille's, Hangul's filler";
  EXPECT_EQ(trimText("\u2800Ada\u2800"), "Ada");
  EXPECT_EQ(trimText("Ada\u00a0Lovelace"), "Ada\u00a0Lovelace") << "inside, it stays";
  EXPECT_EQ(trimText("\u2764\ufe0f"), "\u2764\ufe0f") << "a variation selector ends an emoji";
  EXPECT_EQ(trimText("\U0001F3F4\U000E0067\U000E0062\U000E007F"),
            "\U0001F3F4\U000E0067\U000E0062\U000E007F")
      << "so do tag characters";
  EXPECT_EQ(trimText(" \xff\u00a0 "), "\xff") << "a byte that is not UTF-8 stops it";
  EXPECT_EQ(trimText("\u00a0\xc3"), "\xc3");
  EXPECT_EQ(trimText(""), "");
  EXPECT_EQ(trimText("\u00c9"), "\u00c9");
}

TEST(Text, SearchFoldSetsCaseAndAccentsAsideInEveryScript) {
  EXPECT_EQ(searchFold("\u00c9lodie \u00d6ZT\u00dcRK"), "elodie ozturk");
  EXPECT_EQ(searchFold("E\u0301lodie"), "elodie");
  EXPECT_EQ(searchFold("Fran\u00e7ois Ma\u00f1\u00e1s"), "francois manas");
  EXPECT_EQ(searchFold("\u1f08\u03b8\u03b7\u03bd\u1fb6"), "\u03b1\u03b8\u03b7\u03bd\u03b1");
  EXPECT_EQ(searchFold("\u0416\u0423\u041a"), "\u0436\u0443\u043a");
  EXPECT_EQ(searchFold("\u5c71\u7530"), "\u5c71\u7530") << "no case, no accent: as it is";
  EXPECT_EQ(searchFold("Ada@Example.ORG"), "ada@example.org");
  // Letters whose stroke or ligature is no combining mark (a review: "lukasz" found
  // no Łukasz), in either case.
  EXPECT_EQ(searchFold("Łukasz Łęcki"), "lukasz lecki");
  EXPECT_EQ(searchFold("Ørsted Ægir Œuvre"), "orsted aegir oeuvre");
  EXPECT_EQ(searchFold("Đukić Işıl Þór Ðær"), "dukic isil thor daer");
  EXPECT_EQ(searchFold("A\xff\xc3"
                       "B"),
            "a\xff\xc3"
            "b");
  EXPECT_EQ(searchFold(""), "");
}

}  // namespace
}  // namespace portal
