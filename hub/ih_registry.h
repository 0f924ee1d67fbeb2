/*  =========================================================================
    ih_registry - who the sites are, which key is valid for which event,
    and what each kind of site may publish and read

    The registry is state derived from the log (issue 4): it starts with
    one site, the bureau, whose key is pinned in the hub's configuration
    (trust on first use is not enough), and then applies every registry.*
    event of that site in log order (proto/ih_regchange.h lists them). The
    hub (ingest actor) and the auditor (incuhub audit) run the same
    code: ih_registry_admit decides whether an event may enter the log at
    this point, ih_registry_apply moves the registry past an event that
    did. So an audit checks every event against the key that was valid for
    its site at that point of the log.

    Keys. A site has a list of signing keys, each valid for a range of its
    seqs: the first from seq 1, each rotation from its from_seq on. An
    event (site, seq) must verify with the key whose range holds seq. A
    revocation marks all of the site's keys revoked from that point of the
    log on: later events of the site are refused (IH_E_REVOKED) until a
    rotation adds a new key (events below its from_seq stay refused). The
    site's transport (CURVE) key is the one of its newest key, unless
    revoked.

    Default permissions, until a registry.permissions_changed replaces a
    kind's entry (docs/security.md has the table and the reasons):
        bureau     publish *                                 read all
        district   publish district.* training.* qianfan.* mentor.*
                           statistics.*                      read all
        incubator  publish enterprise.* startup.* financing.* training.*
                           qianfan.* mentor.* voucher.* statistics.*
                                                             read own
        offshore   publish offshore.* overseas.* enterprise.*
                           financing.* training.* statistics.*
                                                             read own
        remote     publish remote.* enterprise.* financing.* training.*
                           statistics.*                      read own
        auditor    publish nothing                           read all
    Only the bureau publishes ratings, subsidies and awards (rating.*,
    subsidy.*, award.*, incubator.*). registry.* is accepted only from the
    pinned bureau site, whatever the permissions say.

    Threads: one writer (the ingest actor, or the audit) calls admit,
    apply and rebuild; readers in other threads (ZAP handler, publisher,
    replay) call the lookups. Every call takes the registry's own lock
    (a pthread rwlock), and lookups copy what they return, so nothing
    borrowed can change under a reader.
    =========================================================================*/
#ifndef IH_REGISTRY_H_INCLUDED
#define IH_REGISTRY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_event.h"
#include "ih_key.h"
#include "ih_log.h"
#include "ih_regchange.h"

//  A site as lookups return it (a copy).
typedef struct {
    char id[IH_NAME_MAX + 1];
    char kind[IH_REG_KIND_MAX];
    char district[IH_NAME_MAX + 1];
    uint8_t key[IH_KEY_PUBLIC_SIZE];  //  newest signing key
    uint8_t curve[IH_KEY_CURVE_SIZE]; //  its transport key
    bool has_curve;                   //  curve is set
    uint64_t key_from;                //  newest key is valid from this seq
    bool revoked;                     //  keys revoked, no newer key yet
} ih_site_t;

typedef struct _ih_registry_t ih_registry_t;

//  The district of the pinned bureau site.
#define IH_REGISTRY_BUREAU_DISTRICT "city"

//  Creates a registry holding only the pinned bureau: site id = the key's
//  name, kind bureau, district "city", its signing key and (if the key
//  file has one) transport key. bureau is copied (public parts only).
//  Returns NULL if bureau is NULL.
ih_registry_t *ih_registry_new (ih_key_t *bureau);

//  Frees; safe to call twice.
void ih_registry_destroy (ih_registry_t **self_p);

//  The bureau's site id.
const char *ih_registry_bureau (ih_registry_t *self);

//  Copies the site with this id into *site; false if unknown.
bool ih_registry_lookup (ih_registry_t *self, const char *id, ih_site_t *site);

//  Copies the site whose current, unrevoked transport key is curve into
//  *site; false if none.
bool ih_registry_lookup_curve (ih_registry_t *self, const uint8_t *curve,
                               ih_site_t *site);

//  Number of sites (the bureau included).
size_t ih_registry_size (ih_registry_t *self);

//  Counts applied registry changes; a reader may cache what it derived
//  from the registry while this stays the same.
uint64_t ih_registry_version (ih_registry_t *self);

//  May a site of this kind publish events of type? (registry.* types:
//  only the pinned bureau site, see ih_registry_admit.)
bool ih_registry_may_publish (ih_registry_t *self, const char *kind,
                              const char *type);

//  The read scope of a kind.
ih_read_scope_t ih_registry_read_scope (ih_registry_t *self, const char *kind);

//  May the connection authenticated as site id open a connection in ZAP
//  domain (IH_CURVE_DOMAIN_*)? The site must exist with an unrevoked key;
//  for "ingest" its kind must be allowed to publish some type; for "feed"
//  and "replay" its read scope must not be none. Errors: IH_E_UNKNOWN_SITE,
//  IH_E_REVOKED, IH_E_DENIED (and IH_E_BADARG for another domain).
ih_err_t ih_registry_may_connect (ih_registry_t *self, const char *id,
                                  const char *domain);

//  ih_registry_lookup_curve and ih_registry_may_connect in one step, under
//  one lock (the ZAP handler: a rotation between two calls could let a
//  replaced key in once more). Fills *site when the key is known, whatever
//  the answer. Errors: IH_E_UNKNOWN_SITE (no current, unrevoked site has
//  this key), IH_E_REVOKED, IH_E_DENIED, IH_E_BADARG.
ih_err_t ih_registry_connect_curve (ih_registry_t *self, const uint8_t *curve,
                                    const char *domain, ih_site_t *site);

//  May reader (a site id) read events of district/site? By its kind's
//  scope: all: anything; district: district equals the reader's; own:
//  site equals the reader. NULL filters mean "any": a reader whose scope is
//  not all must fix them (district scope: district; own scope: site).
bool ih_registry_may_read (ih_registry_t *self, const char *reader,
                           const char *district, const char *site);

//  May reader subscribe to this topic prefix of the feed
//  ("<district>/<site>/<type>/", any prefix of it, "" = everything)?
//  all: any prefix; district: it must start with "<district>/"; own: with
//  "<district>/<site>/" of the reader.
bool ih_registry_may_subscribe (ih_registry_t *self, const char *reader,
                                const char *prefix, size_t prefix_size);

//  Callback: the highest seq of site already in the log (0 if none).
typedef uint64_t (ih_registry_last_fn) (const char *site, void *arg);

//  Decides whether event (decoded from bytes, signature NOT yet checked)
//  may be appended to the log now. Checks, in this order:
//    IH_E_UNKNOWN_SITE  site not registered
//    IH_E_IMPERSONATE   peer (the connection's site id; NULL for plain
//                       text, the journal or an audit) is not event.site
//    IH_E_REVOKED       the key for this seq is revoked
//    IH_E_BADSIG        the signature does not verify with the key valid
//                       for (site, seq)
//    IH_E_DENIED        the kind may not publish this type, or a
//                       registry.* event from a site that is not the
//                       pinned bureau
//    IH_E_REGISTRY      a registry.* event whose change does not decode
//                       or does not apply (site exists / unknown, bad
//                       kind, from_seq not above the site's stored seqs
//                       (asked of last; skipped when last is NULL) or its
//                       current key's from_seq)
//  why (may be NULL) gets a one-line reason. Does not change the registry.
ih_err_t ih_registry_admit (ih_registry_t *self, const ih_event_t *event,
                            const uint8_t *bytes, size_t size, const char *peer,
                            ih_registry_last_fn *last, void *arg, char *why,
                            size_t why_size);

//  After event was appended (admit said IH_OK): if it is a registry.*
//  event, applies its change; other events are ignored. Never fails for an
//  admitted event; a change that does not decode is ignored and logged.
void ih_registry_apply (ih_registry_t *self, const ih_event_t *event);

//  Resets to the pinned bureau and applies the bureau's registry events
//  stored in log, in order (the hub at start, and after an aborted batch
//  whose registry changes never reached the log). Events are trusted as
//  stored (ih_log_verify and audit check them), but each is still
//  signature-checked and admitted with last NULL; one that fails stops
//  the rebuild. Errors: IH_E_STORE, or the admit error (why set).
ih_err_t ih_registry_rebuild (ih_registry_t *self, ih_log_t *log, char *why,
                              size_t why_size);

//  Selftest
void ih_registry_test (bool verbose);

#endif
