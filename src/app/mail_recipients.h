#pragma once
// Who a mail of the outbox goes to, as the views know them at delivery time: the
// Mailer's RecipientLookupFn for a portal (portal-server's, and the tests' servers').

#include "src/mail/mailer.h"

namespace portal {

class Clock;
class Portal;

// Not yet known while the views are behind the mail's event; gone for an anonymized,
// deactivated or unknown user; obsolete for a reset mail whose link no longer works
// (expired, or voided by a newer request, a password change or a deactivation).
// `portal` and `clock` must outlive the function.
RecipientLookupFn mailRecipients(Portal& portal, Clock& clock);

}  // namespace portal
