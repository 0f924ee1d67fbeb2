/*  =========================================================================
    ih_registry - who the sites are, which key is valid for which event,
    and what each kind of site may publish and read

    Where it sits: the ingest actor asks ih_registry_admit about every
    event before it appends it to the log and calls ih_registry_apply after
    the append; the ZAP handler, the publisher and the replay service ask
    the lookups from their own threads; `incuhub audit` replays the log
    through the same admit and apply. The registry is therefore a pure
    function of the log (and the pinned bureau key): nothing else feeds it.

    State: a table of sites (id -> site record), each with its list of
    signing keys in from_seq order (the first from seq 1, one per
    rotation), the permissions of the six kinds, and an index from the
    current unrevoked transport key of each site to its id (for ZAP).
    Invariants, kept by admit (which refuses what would break them) and
    checked again by apply (which never trusts its caller to have asked):
      - the pinned bureau is always a site and is never replaced;
      - a site's keys have strictly increasing from_seq, the first 1;
      - a revocation marks every key the site has had; a rotation adds
        an unrevoked key and leaves the older ones as they were, so seqs
        below the new from_seq stay refused after a revocation;
      - no two sites share a current transport key (the index is a
        function), so a CURVE connection names exactly one site.

    Concurrency: one writer (admit, apply, rebuild), any number of reader
    threads (lookups), one pthread rwlock around the state. Lookups copy
    what they return. Rebuild replays the log into a fresh state without
    the lock and swaps it in under the write lock, so readers see the old
    registry or the new one, never half of one. The version counter never
    goes back (a rebuild bumps it too), so a reader's cache keyed by it
    cannot match a different state.
    =========================================================================*/
#include <czmq.h>
#include <pthread.h>
#include <stdarg.h>
#include "ih_curve.h"
#include "ih_registry.h"

#define IH_REGISTRY_KINDS 6
#define IH_REGISTRY_CURVE_HEX (2 * IH_KEY_CURVE_SIZE + 1)

//  One signing key of a site and the transport key that came with it.
typedef struct {
    uint8_t sign[IH_KEY_PUBLIC_SIZE];
    uint8_t curve[IH_KEY_CURVE_SIZE];
    bool has_curve;    //  curve is set (not all zero)
    uint64_t from_seq; //  valid for the site's seqs from this one on
    bool revoked;      //  a revocation came after this key was added
} s_key_t;

//  A site record in the table.
typedef struct {
    char id[IH_NAME_MAX + 1];
    char kind[IH_REG_KIND_MAX];
    char district[IH_NAME_MAX + 1];
    s_key_t *keys; //  nkeys keys in increasing from_seq, newest last
    size_t nkeys;
} s_site_t;

//  What sites of one kind may do.
typedef struct {
    size_t count; //  publish patterns
    char publish[IH_REG_PATTERNS_MAX][IH_NAME_MAX + 1];
    ih_read_scope_t read;
} s_perm_t;

//  Everything a registry change can touch; swapped whole by rebuild.
typedef struct {
    zhashx_t *sites;  //  id -> s_site_t (owned)
    zhashx_t *curves; //  curve hex -> site id (owned copy)
    s_perm_t perms[IH_REGISTRY_KINDS];
} s_state_t;

struct _ih_registry_t {
    pthread_rwlock_t lock;        //  readers shared, the writer exclusive
    char bureau[IH_NAME_MAX + 1]; //  the pinned bureau's site id
    s_key_t bureau_key;           //  its pinned keys (from seq 1)
    s_state_t *state;             //  the current state (owned)
    uint64_t version;             //  bumped by every change, never reset
};

//  The six kinds, in the order of the permissions array.
static const char *s_kinds[IH_REGISTRY_KINDS] = {
    "bureau", "district", "incubator", "offshore", "remote", "auditor"};

//  Default permissions (docs/security.md has the reasons). Only the bureau
//  publishes ratings, subsidies, awards and incubator.* facts.
static const struct {
    const char *publish[9]; //  NULL-terminated
    ih_read_scope_t read;
} s_defaults[IH_REGISTRY_KINDS] = {
    {{"*", NULL}, IH_READ_ALL},
    {{"district.*", "training.*", "qianfan.*", "mentor.*", "statistics.*",
      NULL},
     IH_READ_ALL},
    {{"enterprise.*", "startup.*", "financing.*", "training.*", "qianfan.*",
      "mentor.*", "voucher.*", "statistics.*", NULL},
     IH_READ_OWN},
    {{"offshore.*", "overseas.*", "enterprise.*", "financing.*", "training.*",
      "statistics.*", NULL},
     IH_READ_OWN},
    {{"remote.*", "enterprise.*", "financing.*", "training.*", "statistics.*",
      NULL},
     IH_READ_OWN},
    {{NULL}, IH_READ_ALL},
};

//  Index of kind in s_kinds, or -1.
static int
s_kind_index (const char *kind)
{
    if (!kind)
        return -1;
    for (int i = 0; i < IH_REGISTRY_KINDS; i++)
        if (streq (kind, s_kinds[i]))
            return i;
    return -1;
}

//  Writes a reason into why, if the caller wants one.
static void
s_why (char *why, size_t why_size, const char *format, ...)
{
    if (!why || why_size == 0)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (why, why_size, format, args);
    va_end (args);
}

static bool
s_is_zero (const uint8_t *bytes, size_t size)
{
    uint8_t any = 0;
    for (size_t i = 0; i < size; i++)
        any |= bytes[i];
    return any == 0;
}

static void
s_curve_hex (const uint8_t *curve, char *hex)
{
    ih_key_to_hex (curve, hex);
}

static void
s_site_free (void **item_p)
{
    s_site_t *site = (s_site_t *) *item_p;
    if (site) {
        free (site->keys);
        free (site);
        *item_p = NULL;
    }
}

static void
s_string_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  The newest key of a site (every site has at least one).
static s_key_t *
s_current (s_site_t *site)
{
    return &site->keys[site->nkeys - 1];
}

//  The key valid for seq: the newest whose from_seq <= seq, or NULL.
static s_key_t *
s_key_for (s_site_t *site, uint64_t seq)
{
    for (size_t i = site->nkeys; i > 0; i--)
        if (site->keys[i - 1].from_seq <= seq)
            return &site->keys[i - 1];
    return NULL;
}

static void
s_key_add (s_site_t *site, const s_key_t *key)
{
    s_key_t *keys =
        (s_key_t *) realloc (site->keys, (site->nkeys + 1) * sizeof (s_key_t));
    assert (keys);
    site->keys = keys;
    site->keys[site->nkeys++] = *key;
}

//  Makes a key record from a change's (or the pinned key's) parts.
static void
s_key_make (s_key_t *key, const uint8_t *sign, const uint8_t *curve,
            uint64_t from_seq)
{
    memset (key, 0, sizeof (*key));
    memcpy (key->sign, sign, IH_KEY_PUBLIC_SIZE);
    if (curve && !s_is_zero (curve, IH_KEY_CURVE_SIZE)) {
        memcpy (key->curve, curve, IH_KEY_CURVE_SIZE);
        key->has_curve = true;
    }
    key->from_seq = from_seq;
}

//  The site's current transport key leaves the index (if it is there).
static void
s_curve_unindex (s_state_t *state, s_site_t *site)
{
    s_key_t *key = s_current (site);
    if (!key->has_curve)
        return;
    char hex[IH_REGISTRY_CURVE_HEX];
    s_curve_hex (key->curve, hex);
    const char *owner = (const char *) zhashx_lookup (state->curves, hex);
    if (owner && streq (owner, site->id))
        zhashx_delete (state->curves, hex);
}

//  The site's current transport key enters the index if it is unrevoked
//  and no other site holds it (admit refuses the latter; apply logs it).
static void
s_curve_index (s_state_t *state, s_site_t *site)
{
    s_key_t *key = s_current (site);
    if (!key->has_curve || key->revoked)
        return;
    char hex[IH_REGISTRY_CURVE_HEX];
    s_curve_hex (key->curve, hex);
    const char *owner = (const char *) zhashx_lookup (state->curves, hex);
    if (owner && !streq (owner, site->id)) {
        zsys_error ("registry: transport key of site=%s is already that of "
                    "site=%s; not indexed",
                    site->id, owner);
        return;
    }
    char *copy = strdup (site->id);
    assert (copy);
    zhashx_update (state->curves, hex, copy);
}

//  Site id of the other site whose current transport key is curve, or NULL.
static const char *
s_curve_owner (s_state_t *state, const uint8_t *curve, const char *except)
{
    if (s_is_zero (curve, IH_KEY_CURVE_SIZE))
        return NULL;
    char hex[IH_REGISTRY_CURVE_HEX];
    s_curve_hex (curve, hex);
    const char *owner = (const char *) zhashx_lookup (state->curves, hex);
    return owner && !streq (owner, except) ? owner : NULL;
}

static s_site_t *
s_site_new (const char *id, const char *kind, const char *district,
            const s_key_t *key)
{
    s_site_t *site = (s_site_t *) zmalloc (sizeof (s_site_t));
    assert (site);
    snprintf (site->id, sizeof (site->id), "%s", id);
    snprintf (site->kind, sizeof (site->kind), "%s", kind);
    snprintf (site->district, sizeof (site->district), "%s", district);
    s_key_add (site, key);
    return site;
}

//  A fresh state: the pinned bureau and the default permissions.
static s_state_t *
s_state_new (ih_registry_t *self)
{
    s_state_t *state = (s_state_t *) zmalloc (sizeof (s_state_t));
    assert (state);
    state->sites = zhashx_new ();
    assert (state->sites);
    zhashx_set_destructor (state->sites, s_site_free);
    state->curves = zhashx_new ();
    assert (state->curves);
    zhashx_set_destructor (state->curves, s_string_free);
    for (int i = 0; i < IH_REGISTRY_KINDS; i++) {
        s_perm_t *perm = &state->perms[i];
        for (size_t j = 0; s_defaults[i].publish[j]; j++)
            snprintf (perm->publish[perm->count++], IH_NAME_MAX + 1, "%s",
                      s_defaults[i].publish[j]);
        perm->read = s_defaults[i].read;
    }
    s_site_t *bureau = s_site_new (
        self->bureau, "bureau", IH_REGISTRY_BUREAU_DISTRICT, &self->bureau_key);
    int rc = zhashx_insert (state->sites, bureau->id, bureau);
    assert (rc == 0);
    s_curve_index (state, bureau);
    return state;
}

static void
s_state_destroy (s_state_t **state_p)
{
    if (*state_p) {
        zhashx_destroy (&(*state_p)->sites);
        zhashx_destroy (&(*state_p)->curves);
        free (*state_p);
        *state_p = NULL;
    }
}

//  Copies a site record out as lookups return it.
static void
s_site_copy (s_site_t *site, ih_site_t *out)
{
    memset (out, 0, sizeof (*out));
    snprintf (out->id, sizeof (out->id), "%s", site->id);
    snprintf (out->kind, sizeof (out->kind), "%s", site->kind);
    snprintf (out->district, sizeof (out->district), "%s", site->district);
    s_key_t *key = s_current (site);
    memcpy (out->key, key->sign, IH_KEY_PUBLIC_SIZE);
    memcpy (out->curve, key->curve, IH_KEY_CURVE_SIZE);
    out->has_curve = key->has_curve;
    out->key_from = key->from_seq;
    out->revoked = key->revoked;
}

static s_perm_t *
s_perm (s_state_t *state, const char *kind)
{
    int index = s_kind_index (kind);
    return index < 0 ? NULL : &state->perms[index];
}

static bool
s_may_publish (s_state_t *state, const char *kind, const char *type)
{
    s_perm_t *perm = s_perm (state, kind);
    if (!perm || !type)
        return false;
    for (size_t i = 0; i < perm->count; i++)
        if (ih_regchange_pattern_match (perm->publish[i], type))
            return true;
    return false;
}

static ih_read_scope_t
s_read_scope (s_state_t *state, const char *kind)
{
    s_perm_t *perm = s_perm (state, kind);
    return perm ? perm->read : IH_READ_NONE;
}

ih_registry_t *
ih_registry_new (ih_key_t *bureau)
{
    if (!bureau)
        return NULL;
    const char *name = ih_key_name (bureau);
    if (!name || !ih_event_name_valid (name)) {
        zsys_error ("registry: the bureau key's name is not a valid site id");
        return NULL;
    }
    ih_registry_t *self = (ih_registry_t *) zmalloc (sizeof (ih_registry_t));
    assert (self);
    int rc = pthread_rwlock_init (&self->lock, NULL);
    assert (rc == 0);
    snprintf (self->bureau, sizeof (self->bureau), "%s", name);
    s_key_make (&self->bureau_key, ih_key_public (bureau),
                ih_key_has_curve (bureau) ? ih_key_curve_public (bureau) : NULL,
                1);
    self->state = s_state_new (self);
    return self;
}

void
ih_registry_destroy (ih_registry_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_registry_t *self = *self_p;
        s_state_destroy (&self->state);
        pthread_rwlock_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

const char *
ih_registry_bureau (ih_registry_t *self)
{
    assert (self);
    return self->bureau; //  set once by new, never changed
}

bool
ih_registry_lookup (ih_registry_t *self, const char *id, ih_site_t *site)
{
    assert (self);
    assert (site);
    if (!id)
        return false;
    pthread_rwlock_rdlock (&self->lock);
    s_site_t *found = (s_site_t *) zhashx_lookup (self->state->sites, id);
    if (found)
        s_site_copy (found, site);
    pthread_rwlock_unlock (&self->lock);
    return found != NULL;
}

//  The site whose current, unrevoked transport key is curve, or NULL.
//  Under the read lock.
static s_site_t *
s_by_curve (ih_registry_t *self, const uint8_t *curve)
{
    if (!curve || s_is_zero (curve, IH_KEY_CURVE_SIZE))
        return NULL;
    char hex[IH_REGISTRY_CURVE_HEX];
    s_curve_hex (curve, hex);
    const char *id = (const char *) zhashx_lookup (self->state->curves, hex);
    return id ? (s_site_t *) zhashx_lookup (self->state->sites, id) : NULL;
}

bool
ih_registry_lookup_curve (ih_registry_t *self, const uint8_t *curve,
                          ih_site_t *site)
{
    assert (self);
    assert (site);
    pthread_rwlock_rdlock (&self->lock);
    s_site_t *found = s_by_curve (self, curve);
    if (found)
        s_site_copy (found, site);
    pthread_rwlock_unlock (&self->lock);
    return found != NULL;
}

size_t
ih_registry_size (ih_registry_t *self)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    size_t size = zhashx_size (self->state->sites);
    pthread_rwlock_unlock (&self->lock);
    return size;
}

uint64_t
ih_registry_version (ih_registry_t *self)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    uint64_t version = self->version;
    pthread_rwlock_unlock (&self->lock);
    return version;
}

bool
ih_registry_may_publish (ih_registry_t *self, const char *kind,
                         const char *type)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    bool may = s_may_publish (self->state, kind, type);
    pthread_rwlock_unlock (&self->lock);
    return may;
}

ih_read_scope_t
ih_registry_read_scope (ih_registry_t *self, const char *kind)
{
    assert (self);
    pthread_rwlock_rdlock (&self->lock);
    ih_read_scope_t scope = s_read_scope (self->state, kind);
    pthread_rwlock_unlock (&self->lock);
    return scope;
}

//  The connection check on a site record, under the read lock.
static ih_err_t
s_may_connect (ih_registry_t *self, s_site_t *site, bool ingest)
{
    if (!site)
        return IH_E_UNKNOWN_SITE;
    if (s_current (site)->revoked)
        return IH_E_REVOKED;
    if (ingest) {
        //  The pinned bureau always sends its registry changes
        s_perm_t *perm = s_perm (self->state, site->kind);
        if (!streq (site->id, self->bureau) && (!perm || perm->count == 0))
            return IH_E_DENIED;
    } else if (s_read_scope (self->state, site->kind) == IH_READ_NONE)
        return IH_E_DENIED;
    return IH_OK;
}

//  Which service a ZAP domain names: 1 ingest, 0 feed or replay, -1 none.
static int
s_domain (const char *domain)
{
    if (!domain)
        return -1;
    if (streq (domain, IH_CURVE_DOMAIN_INGEST))
        return 1;
    if (streq (domain, IH_CURVE_DOMAIN_FEED) ||
        streq (domain, IH_CURVE_DOMAIN_REPLAY))
        return 0;
    return -1;
}

ih_err_t
ih_registry_may_connect (ih_registry_t *self, const char *id,
                         const char *domain)
{
    assert (self);
    int service = s_domain (domain);
    if (service < 0)
        return IH_E_BADARG;
    if (!id)
        return IH_E_UNKNOWN_SITE;
    pthread_rwlock_rdlock (&self->lock);
    ih_err_t err = s_may_connect (
        self, (s_site_t *) zhashx_lookup (self->state->sites, id), service);
    pthread_rwlock_unlock (&self->lock);
    return err;
}

ih_err_t
ih_registry_connect_curve (ih_registry_t *self, const uint8_t *curve,
                           const char *domain, ih_site_t *site)
{
    assert (self);
    assert (site);
    int service = s_domain (domain);
    if (service < 0)
        return IH_E_BADARG;
    pthread_rwlock_rdlock (&self->lock);
    s_site_t *found = s_by_curve (self, curve);
    ih_err_t err = s_may_connect (self, found, service);
    if (found)
        s_site_copy (found, site);
    pthread_rwlock_unlock (&self->lock);
    return err;
}

//  The reader's site record if it may read at all (known, not revoked),
//  else NULL. Under the read lock.
static s_site_t *
s_reader (ih_registry_t *self, const char *reader)
{
    if (!reader)
        return NULL;
    s_site_t *site = (s_site_t *) zhashx_lookup (self->state->sites, reader);
    if (!site || s_current (site)->revoked)
        return NULL;
    return site;
}

bool
ih_registry_may_read (ih_registry_t *self, const char *reader,
                      const char *district, const char *site)
{
    assert (self);
    bool may = false;
    pthread_rwlock_rdlock (&self->lock);
    s_site_t *entry = s_reader (self, reader);
    if (entry) {
        switch (s_read_scope (self->state, entry->kind)) {
        case IH_READ_ALL:
            may = true;
            break;
        case IH_READ_DISTRICT:
            may = district && streq (district, entry->district);
            break;
        case IH_READ_OWN:
            may = site && streq (site, entry->id);
            break;
        case IH_READ_NONE:
            break;
        }
    }
    pthread_rwlock_unlock (&self->lock);
    return may;
}

bool
ih_registry_may_subscribe (ih_registry_t *self, const char *reader,
                           const char *prefix, size_t prefix_size)
{
    assert (self);
    if (!prefix && prefix_size)
        return false;
    bool may = false;
    pthread_rwlock_rdlock (&self->lock);
    s_site_t *entry = s_reader (self, reader);
    if (entry) {
        //  The topic of the reader's district, and of its own events
        char own[2 * IH_NAME_MAX + 3];
        size_t district_len = strlen (entry->district) + 1;
        size_t own_len = (size_t) snprintf (own, sizeof (own), "%s/%s/",
                                            entry->district, entry->id);
        switch (s_read_scope (self->state, entry->kind)) {
        case IH_READ_ALL:
            may = true;
            break;
        case IH_READ_DISTRICT:
            may = prefix_size >= district_len &&
                  memcmp (prefix, own, district_len) == 0;
            break;
        case IH_READ_OWN:
            may = prefix_size >= own_len && memcmp (prefix, own, own_len) == 0;
            break;
        case IH_READ_NONE:
            break;
        }
    }
    pthread_rwlock_unlock (&self->lock);
    return may;
}

//  --------------------------------------------------------------------------
//  Admit and apply, on a state (the registry's, or rebuild's fresh one)

//  Checks that no site but except ("" for none) holds change's transport
//  key. Returns IH_OK or IH_E_REGISTRY.
static ih_err_t
s_check_curve (s_state_t *state, const ih_regchange_t *change,
               const char *except, char *why, size_t why_size)
{
    const char *owner = s_curve_owner (state, change->curve_key, except);
    if (owner) {
        s_why (why, why_size,
               "transport key of site '%s' is already that of site '%s'",
               change->site, owner);
        return IH_E_REGISTRY;
    }
    return IH_OK;
}

//  Checks that a decoded registry change applies to state now. event is
//  the bureau's event that carries it. Returns IH_OK or IH_E_REGISTRY.
static ih_err_t
s_check_change (s_state_t *state, const ih_event_t *event,
                const ih_regchange_t *change, ih_registry_last_fn *last,
                void *arg, char *why, size_t why_size)
{
    s_site_t *site = NULL;
    if (change->op != IH_REG_OP_PERMISSIONS)
        site = (s_site_t *) zhashx_lookup (state->sites, change->site);
    switch (change->op) {
    case IH_REG_OP_SITE_ADDED: {
        if (site) {
            s_why (why, why_size, "site '%s' exists already", change->site);
            return IH_E_REGISTRY;
        }
        if (s_kind_index (change->kind) < 0) {
            s_why (why, why_size, "unknown kind '%s'", change->kind);
            return IH_E_REGISTRY;
        }
        return s_check_curve (state, change, "", why, why_size);
    }
    case IH_REG_OP_KEY_ROTATED: {
        if (!site) {
            s_why (why, why_size, "site '%s' not registered", change->site);
            return IH_E_REGISTRY;
        }
        uint64_t current = s_current (site)->from_seq;
        if (change->from_seq <= current) {
            s_why (why, why_size,
                   "from_seq %" PRIu64 " is not above the from_seq %" PRIu64
                   " of the current key of site '%s'",
                   change->from_seq, current, change->site);
            return IH_E_REGISTRY;
        }
        //  The bureau rotating its own key: this event is signed with the
        //  old key, so it must stay below the new key's range
        if (streq (change->site, event->site) &&
            change->from_seq <= event->seq) {
            s_why (why, why_size,
                   "from_seq %" PRIu64 " is not above the seq %" PRIu64
                   " of this event of site '%s'",
                   change->from_seq, event->seq, change->site);
            return IH_E_REGISTRY;
        }
        if (last) {
            uint64_t stored = last (change->site, arg);
            if (change->from_seq <= stored) {
                s_why (why, why_size,
                       "from_seq %" PRIu64 " is not above the stored seq "
                       "%" PRIu64 " of site '%s'",
                       change->from_seq, stored, change->site);
                return IH_E_REGISTRY;
            }
        }
        return s_check_curve (state, change, change->site, why, why_size);
    }
    case IH_REG_OP_KEY_REVOKED:
        if (!site) {
            s_why (why, why_size, "site '%s' not registered", change->site);
            return IH_E_REGISTRY;
        }
        if (streq (change->site, event->site)) {
            //  Nothing could ever sign a registry change again: rotate the
            //  bureau's key instead
            s_why (why, why_size,
                   "the pinned bureau '%s' cannot be revoked; rotate its key",
                   change->site);
            return IH_E_REGISTRY;
        }
        return IH_OK;
    case IH_REG_OP_PERMISSIONS:
        if (s_kind_index (change->kind) < 0) {
            s_why (why, why_size, "unknown kind '%s'", change->kind);
            return IH_E_REGISTRY;
        }
        if (change->publish_count > IH_REG_PATTERNS_MAX) {
            s_why (why, why_size, "too many publish patterns");
            return IH_E_REGISTRY;
        }
        return IH_OK;
    }
    s_why (why, why_size, "unknown registry change");
    return IH_E_REGISTRY;
}

static ih_err_t
s_admit (ih_registry_t *self, s_state_t *state, const ih_event_t *event,
         const uint8_t *bytes, size_t size, const char *peer,
         ih_registry_last_fn *last, void *arg, char *why, size_t why_size)
{
    s_site_t *site = (s_site_t *) zhashx_lookup (state->sites, event->site);
    if (!site) {
        s_why (why, why_size, "site '%s' not registered", event->site);
        return IH_E_UNKNOWN_SITE;
    }
    if (peer && !streq (peer, event->site)) {
        s_why (why, why_size,
               "event for site '%s' on a connection of site '%s'", event->site,
               peer);
        return IH_E_IMPERSONATE;
    }
    s_key_t *key = s_key_for (site, event->seq);
    if (!key || key->revoked) {
        s_why (why, why_size, "key of site '%s' for seq %" PRIu64 " revoked",
               event->site, event->seq);
        return IH_E_REVOKED;
    }
    if (ih_event_verify (bytes, size, key->sign) != IH_OK) {
        s_why (why, why_size,
               "signature does not verify with the key of site '%s' valid "
               "from seq %" PRIu64,
               event->site, key->from_seq);
        return IH_E_BADSIG;
    }
    bool registry = ih_regchange_is_registry (event->type);
    if (registry && !streq (event->site, self->bureau)) {
        s_why (why, why_size, "registry changes only from bureau '%s'",
               self->bureau);
        return IH_E_DENIED;
    }
    if (!registry && !s_may_publish (state, site->kind, event->type)) {
        s_why (why, why_size, "kind '%s' may not publish '%s'", site->kind,
               event->type);
        return IH_E_DENIED;
    }
    if (!registry)
        return IH_OK;
    ih_regchange_t change;
    char reason[256] = "";
    ih_err_t err = ih_regchange_decode (event, &change, reason, sizeof reason);
    if (err != IH_OK) {
        s_why (why, why_size, "%s", *reason ? reason : "bad registry change");
        return IH_E_REGISTRY;
    }
    //  An event at a seq the log already holds will not be appended (the
    //  log answers IH_E_DUPLICATE or IH_E_CONFLICT), so its change is not
    //  checked against a state it may already be part of: a journal read
    //  again must not turn its old lines into errors
    if (last && event->seq <= last (event->site, arg))
        return IH_OK;
    return s_check_change (state, event, &change, last, arg, why, why_size);
}

//  Applies a registry change to state; refuses (and logs) one that admit
//  would have refused, so the invariants hold whatever the caller did.
static void
s_apply_change (s_state_t *state, const ih_regchange_t *change)
{
    char why[256] = "";
    s_site_t *site = NULL;
    if (change->op != IH_REG_OP_PERMISSIONS)
        site = (s_site_t *) zhashx_lookup (state->sites, change->site);
    switch (change->op) {
    case IH_REG_OP_SITE_ADDED: {
        if (site || s_kind_index (change->kind) < 0) {
            snprintf (why, sizeof why, "site exists or bad kind");
            break;
        }
        s_key_t key;
        s_key_make (&key, change->sign_key, change->curve_key, 1);
        site = s_site_new (change->site, change->kind, change->district, &key);
        int rc = zhashx_insert (state->sites, site->id, site);
        assert (rc == 0);
        s_curve_index (state, site);
        return;
    }
    case IH_REG_OP_KEY_ROTATED: {
        if (!site || change->from_seq <= s_current (site)->from_seq) {
            snprintf (why, sizeof why, "unknown site or from_seq too low");
            break;
        }
        s_curve_unindex (state, site);
        s_key_t key;
        s_key_make (&key, change->sign_key, change->curve_key,
                    change->from_seq);
        s_key_add (site, &key);
        s_curve_index (state, site);
        return;
    }
    case IH_REG_OP_KEY_REVOKED:
        if (!site) {
            snprintf (why, sizeof why, "unknown site");
            break;
        }
        s_curve_unindex (state, site);
        for (size_t i = 0; i < site->nkeys; i++)
            site->keys[i].revoked = true;
        return;
    case IH_REG_OP_PERMISSIONS: {
        s_perm_t *perm = s_perm (state, change->kind);
        if (!perm || change->publish_count > IH_REG_PATTERNS_MAX) {
            snprintf (why, sizeof why, "bad kind or too many patterns");
            break;
        }
        memset (perm, 0, sizeof (*perm));
        for (size_t i = 0; i < change->publish_count; i++)
            snprintf (perm->publish[i], sizeof (perm->publish[i]), "%s",
                      change->publish[i]);
        perm->count = change->publish_count;
        perm->read = change->read;
        return;
    }
    }
    zsys_error ("registry: change %s site=%s kind=%s not applied: %s",
                ih_regchange_type (change), change->site, change->kind, why);
}

//  Applies event's change to state if it is a registry event of the
//  bureau. Returns true if it was a registry event (applied or not).
static bool
s_apply (ih_registry_t *self, s_state_t *state, const ih_event_t *event)
{
    if (!ih_regchange_is_registry (event->type))
        return false;
    if (!streq (event->site, self->bureau)) {
        zsys_error ("registry: %s from site=%s seq=%" PRIu64
                    " ignored: not the bureau",
                    event->type, event->site, event->seq);
        return true;
    }
    ih_regchange_t change;
    char why[256] = "";
    if (ih_regchange_decode (event, &change, why, sizeof why) != IH_OK) {
        zsys_error ("registry: %s seq=%" PRIu64 " ignored: %s", event->type,
                    event->seq, why);
        return true;
    }
    s_apply_change (state, &change);
    return true;
}

ih_err_t
ih_registry_admit (ih_registry_t *self, const ih_event_t *event,
                   const uint8_t *bytes, size_t size, const char *peer,
                   ih_registry_last_fn *last, void *arg, char *why,
                   size_t why_size)
{
    assert (self);
    if (why && why_size)
        *why = 0;
    if (!event || !bytes) {
        s_why (why, why_size, "no event");
        return IH_E_BADARG;
    }
    pthread_rwlock_rdlock (&self->lock);
    ih_err_t err = s_admit (self, self->state, event, bytes, size, peer, last,
                            arg, why, why_size);
    pthread_rwlock_unlock (&self->lock);
    return err;
}

void
ih_registry_apply (ih_registry_t *self, const ih_event_t *event)
{
    assert (self);
    if (!event || !ih_regchange_is_registry (event->type))
        return;
    pthread_rwlock_wrlock (&self->lock);
    if (s_apply (self, self->state, event))
        self->version++;
    pthread_rwlock_unlock (&self->lock);
}

//  Rebuild: the bureau's events from the log, in order, into a fresh state
typedef struct {
    ih_registry_t *self;
    s_state_t *state;
    ih_err_t err;
    char *why;
    size_t why_size;
    uint64_t applied;
} s_rebuild_t;

static int
s_rebuild_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
              size_t size, void *arg)
{
    (void) received;
    s_rebuild_t *rebuild = (s_rebuild_t *) arg;
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    if (err != IH_OK) {
        //  ih_log passes a record that does not split as its raw value
        s_why (rebuild->why, rebuild->why_size,
               "hub_seq %" PRIu64 ": stored event does not decode (%s)",
               hub_seq, ih_err_name (err));
        rebuild->err = IH_E_STORE;
        return 1;
    }
    if (!streq (event.site, rebuild->self->bureau)) {
        s_why (rebuild->why, rebuild->why_size,
               "hub_seq %" PRIu64 ": indexed as the bureau's, holds site '%s'",
               hub_seq, event.site);
        rebuild->err = IH_E_STORE;
        return 1;
    }
    //  The bureau's other events (ratings, awards ...) change nothing
    if (!ih_regchange_is_registry (event.type))
        return 0;
    char why[256] = "";
    err = s_admit (rebuild->self, rebuild->state, &event, bytes, size, NULL,
                   NULL, NULL, why, sizeof why);
    if (err != IH_OK) {
        s_why (rebuild->why, rebuild->why_size,
               "hub_seq %" PRIu64 " (site '%s' seq %" PRIu64 "): %s", hub_seq,
               event.site, event.seq, why);
        rebuild->err = err;
        return 1;
    }
    s_apply (rebuild->self, rebuild->state, &event);
    rebuild->applied++;
    return 0;
}

ih_err_t
ih_registry_rebuild (ih_registry_t *self, ih_log_t *log, char *why,
                     size_t why_size)
{
    assert (self);
    if (why && why_size)
        *why = 0;
    if (!log) {
        s_why (why, why_size, "no log");
        return IH_E_BADARG;
    }
    //  Only the writer changes the state, so reading self->bureau and
    //  building a private state needs no lock; the swap does
    s_rebuild_t rebuild = {self, s_state_new (self), IH_OK, why, why_size, 0};
    ih_err_t err =
        ih_log_site_events (log, self->bureau, 1, s_rebuild_fn, &rebuild);
    if (err != IH_OK && rebuild.err == IH_OK) {
        s_why (why, why_size, "cannot read the bureau's events from the log");
        rebuild.err = err;
    }
    //  Reset even on failure: the state is then that of the log up to the
    //  event that failed, which is all the log vouches for
    pthread_rwlock_wrlock (&self->lock);
    s_state_destroy (&self->state);
    self->state = rebuild.state;
    self->version += 1 + rebuild.applied;
    size_t sites = zhashx_size (self->state->sites);
    pthread_rwlock_unlock (&self->lock);
    if (rebuild.err == IH_OK)
        zsys_info ("registry: rebuilt from the log: %" PRIu64
                   " registry changes of bureau=%s, %zu sites",
                   rebuild.applied, self->bureau, sites);
    else
        zsys_error ("registry: rebuild stopped after %" PRIu64 " changes: %s",
                    rebuild.applied, why ? why : ih_err_name (rebuild.err));
    return rebuild.err;
}

//  --------------------------------------------------------------------------
//  Selftest

#include "ih_hubtest.h"

//  Admits bytes with peer and last; returns the code, why in why.
static ih_err_t
s_test_admit (ih_registry_t *self, const uint8_t *bytes, size_t size,
              const char *peer, ih_registry_last_fn *last, void *arg, char *why)
{
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    assert (err == IH_OK);
    return ih_registry_admit (self, &event, bytes, size, peer, last, arg, why,
                              256);
}

//  Signs change as the chain's next bureau event, admits it (expecting
//  expect, and expect_why if not NULL), and on IH_OK applies it and
//  advances the chain (appending the event to the chain's log).
static void
s_test_change (ih_registry_t *self, ih_hubtest_chain_t *chain,
               const ih_regchange_t *change, ih_registry_last_fn *last,
               void *arg, ih_err_t expect, const char *expect_why)
{
    char *json = ih_regchange_json (change);
    assert (json);
    size_t size;
    uint8_t *bytes = ih_hubtest_chain_sign (chain, ih_regchange_type (change),
                                            0, json, &size);
    free (json);
    ih_hubtest_admit (self, bytes, size, last, arg, expect, expect_why);
    if (expect == IH_OK)
        ih_hubtest_chain_advance (chain, bytes, size, 0);
    free (bytes);
}

//  A site event: admit with the connection's peer.
static ih_err_t
s_test_event (ih_registry_t *self, ih_key_t *key, uint64_t seq,
              const char *type, const char *peer, char *why)
{
    size_t size;
    uint8_t *bytes =
        ih_hubtest_sign (key, seq, NULL, type, 0, "{\"n\": 1}", &size);
    ih_err_t err = s_test_admit (self, bytes, size, peer, NULL, NULL, why);
    free (bytes);
    return err;
}

//  What the log holds: seq of site, nothing of the others.
typedef struct {
    const char *site;
    uint64_t seq;
} s_test_stored_t;

static uint64_t
s_test_last (const char *site, void *arg)
{
    s_test_stored_t *stored = (s_test_stored_t *) arg;
    return streq (site, stored->site) ? stored->seq : 0;
}

static int
s_test_compare (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Everything a state holds, as text, to compare two registries.
static char *
s_test_dump (ih_registry_t *self)
{
    pthread_rwlock_rdlock (&self->lock);
    zlistx_t *ids = zhashx_keys (self->state->sites);
    zlistx_set_comparator (ids, s_test_compare);
    zlistx_sort (ids);
    char *text = strdup ("");
    const char *id = (const char *) zlistx_first (ids);
    while (id) {
        s_site_t *site = (s_site_t *) zhashx_lookup (self->state->sites, id);
        char *line = zsys_sprintf ("%s%s %s %s:", text, site->id, site->kind,
                                   site->district);
        free (text);
        text = line;
        for (size_t i = 0; i < site->nkeys; i++) {
            char sign[IH_KEY_HEX_SIZE], curve[IH_KEY_HEX_SIZE];
            ih_key_to_hex (site->keys[i].sign, sign);
            ih_key_to_hex (site->keys[i].curve, curve);
            line =
                zsys_sprintf ("%s %.8s/%.8s/%" PRIu64 "/%d", text, sign, curve,
                              site->keys[i].from_seq, site->keys[i].revoked);
            free (text);
            text = line;
        }
        line = zsys_sprintf ("%s;", text);
        free (text);
        text = line;
        id = (const char *) zlistx_next (ids);
    }
    zlistx_destroy (&ids);
    for (int i = 0; i < IH_REGISTRY_KINDS; i++) {
        s_perm_t *perm = &self->state->perms[i];
        char *line = zsys_sprintf ("%s%s %d", text, s_kinds[i], perm->read);
        free (text);
        text = line;
        for (size_t j = 0; j < perm->count; j++) {
            line = zsys_sprintf ("%s %s", text, perm->publish[j]);
            free (text);
            text = line;
        }
        line = zsys_sprintf ("%s;", text);
        free (text);
        text = line;
    }
    char *line =
        zsys_sprintf ("%scurves %zu", text, zhashx_size (self->state->curves));
    free (text);
    pthread_rwlock_unlock (&self->lock);
    return line;
}

void
ih_registry_test (bool verbose)
{
    printf (" * ih_registry: ");
    if (verbose)
        printf ("\n");

    //  The fixture's registry is pinned to its bureau, qd-bureau
    ih_hubtest_t *test = ih_hubtest_new ("ih_registry_test");
    ih_log_t *log = ih_log_new (test->dir, false, 0);
    assert (log);
    assert (ih_log_begin (log) == IH_OK);

    ih_key_t *bureau = test->bureau;
    ih_key_t *inc = ih_key_new ("lh-inc-01");
    ih_key_t *district = ih_key_new ("laoshan-office");
    ih_key_t *auditor = ih_key_new ("qd-audit");
    ih_key_t *offshore = ih_key_new ("off-de-01");
    ih_key_t *rogue = ih_key_new ("qd-bureau"); //  claims the bureau's id
    assert (inc && district && auditor && offshore && rogue);

    //  Pinned bureau only
    assert (ih_registry_new (NULL) == NULL);
    ih_registry_t *registry = test->registry;
    assert (streq (ih_registry_bureau (registry), "qd-bureau"));
    assert (ih_registry_size (registry) == 1);
    assert (ih_registry_version (registry) == 0);
    ih_site_t site;
    assert (ih_registry_lookup (registry, "qd-bureau", &site));
    assert (streq (site.kind, "bureau"));
    assert (streq (site.district, IH_REGISTRY_BUREAU_DISTRICT));
    assert (memcmp (site.key, ih_key_public (bureau), IH_KEY_PUBLIC_SIZE) == 0);
    assert (site.has_curve && site.key_from == 1 && !site.revoked);
    assert (!ih_registry_lookup (registry, "lh-inc-01", &site));
    assert (!ih_registry_lookup (registry, NULL, &site));
    assert (ih_registry_lookup_curve (registry, ih_key_curve_public (bureau),
                                      &site));
    assert (streq (site.id, "qd-bureau"));

    //  Default permissions
    assert (ih_registry_may_publish (registry, "bureau", "award.granted"));
    assert (
        ih_registry_may_publish (registry, "incubator", "enterprise.admitted"));
    assert (!ih_registry_may_publish (registry, "incubator", "award.granted"));
    assert (!ih_registry_may_publish (registry, "incubator", "rating.issued"));
    assert (ih_registry_may_publish (registry, "offshore", "overseas.project"));
    assert (!ih_registry_may_publish (registry, "district", "subsidy.paid"));
    assert (!ih_registry_may_publish (registry, "auditor", "training.held"));
    assert (!ih_registry_may_publish (registry, "pirate", "training.held"));
    assert (ih_registry_read_scope (registry, "district") == IH_READ_ALL);
    assert (ih_registry_read_scope (registry, "incubator") == IH_READ_OWN);
    assert (ih_registry_read_scope (registry, "auditor") == IH_READ_ALL);
    assert (ih_registry_read_scope (registry, "pirate") == IH_READ_NONE);

    //  Site add, through admit and apply, appended to the log as the hub
    //  does
    ih_hubtest_chain_t chain = {bureau, 0, {0}, log};
    ih_regchange_t change;
    ih_hubtest_site_added (&change, inc, "incubator", "laoshan");
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_REGISTRY,
                   "site 'lh-inc-01' exists already");
    ih_hubtest_site_added (&change, district, "district", "laoshan");
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    ih_hubtest_site_added (&change, auditor, "auditor", "city");
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    ih_hubtest_site_added (&change, offshore, "offshore", "huangdao");
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    assert (ih_registry_size (registry) == 5);
    assert (ih_registry_version (registry) == 4);
    assert (ih_registry_lookup (registry, "lh-inc-01", &site));
    assert (streq (site.kind, "incubator") && streq (site.district, "laoshan"));
    assert (memcmp (site.key, ih_key_public (inc), IH_KEY_PUBLIC_SIZE) == 0);
    assert (memcmp (site.curve, ih_key_curve_public (inc), IH_KEY_CURVE_SIZE) ==
            0);
    assert (site.has_curve && site.key_from == 1 && !site.revoked);
    //  A second site with a transport key someone holds already
    ih_key_t *twin = ih_key_new ("twin");
    assert (twin);
    ih_hubtest_site_added (&change, twin, "remote", "jimo");
    memcpy (change.curve_key, ih_key_curve_public (inc), IH_KEY_CURVE_SIZE);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_REGISTRY,
                   "transport key of site 'twin' is already that of site "
                   "'lh-inc-01'");
    ih_key_destroy (&twin);

    //  Admission of site events
    char why[256];
    assert (s_test_event (registry, inc, 1, "enterprise.admitted", "lh-inc-01",
                          why) == IH_OK);
    assert (s_test_event (registry, inc, 2, "enterprise.admitted", NULL, why) ==
            IH_OK);
    //  Bad signature: signed by another key under the site's id
    ih_key_t *forger = ih_key_new ("lh-inc-01");
    assert (s_test_event (registry, forger, 3, "enterprise.admitted", NULL,
                          why) == IH_E_BADSIG);
    assert (streq (why, "signature does not verify with the key of site "
                        "'lh-inc-01' valid from seq 1"));
    ih_key_destroy (&forger);
    //  Unknown site
    ih_key_t *stranger = ih_key_new ("x");
    assert (s_test_event (registry, stranger, 1, "enterprise.admitted", NULL,
                          why) == IH_E_UNKNOWN_SITE);
    assert (streq (why, "site 'x' not registered"));
    ih_key_destroy (&stranger);
    //  Impersonation: the district office's connection sends the
    //  incubator's (validly signed) event
    assert (s_test_event (registry, inc, 3, "enterprise.admitted",
                          "laoshan-office", why) == IH_E_IMPERSONATE);
    assert (streq (why, "event for site 'lh-inc-01' on a connection of site "
                        "'laoshan-office'"));
    //  A type outside the kind's permissions
    assert (s_test_event (registry, inc, 3, "award.granted", NULL, why) ==
            IH_E_DENIED);
    assert (streq (why, "kind 'incubator' may not publish 'award.granted'"));
    assert (s_test_event (registry, auditor, 1, "training.held", NULL, why) ==
            IH_E_DENIED);
    assert (s_test_event (registry, bureau, 99, "award.granted", NULL, why) ==
            IH_OK);
    //  A registry event from a site that is not the pinned bureau, even a
    //  bureau-kind one, and even when its kind may publish "*"
    ih_key_t *bureau2 = ih_key_new ("qd-bureau-2");
    ih_hubtest_site_added (&change, bureau2, "bureau", "city");
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    ih_regchange_t sneaky;
    stranger = ih_key_new ("evil");
    ih_hubtest_site_added (&sneaky, stranger, "bureau", "city");
    ih_key_destroy (&stranger);
    char *json = ih_regchange_json (&sneaky);
    size_t size;
    uint8_t *bytes =
        ih_hubtest_sign (bureau2, 1, NULL, IH_REG_SITE_ADDED, 0, json, &size);
    assert (s_test_admit (registry, bytes, size, NULL, NULL, NULL, why) ==
            IH_E_DENIED);
    assert (streq (why, "registry changes only from bureau 'qd-bureau'"));
    free (bytes);
    bytes = ih_hubtest_sign (inc, 3, NULL, IH_REG_SITE_ADDED, 0, json, &size);
    assert (s_test_admit (registry, bytes, size, NULL, NULL, NULL, why) ==
            IH_E_DENIED);
    free (bytes);
    //  ... or signed by a non-bureau key under the bureau's id
    bytes = ih_hubtest_sign (rogue, chain.seq + 1, chain.prev,
                             IH_REG_SITE_ADDED, 0, json, &size);
    assert (s_test_admit (registry, bytes, size, NULL, NULL, NULL, why) ==
            IH_E_BADSIG);
    free (bytes);
    //  A registry event whose change does not decode
    bytes = ih_hubtest_chain_sign (&chain, IH_REG_SITE_ADDED, 0,
                                   "{\"site\": \"y\"}", &size);
    assert (s_test_admit (registry, bytes, size, NULL, NULL, NULL, why) ==
            IH_E_REGISTRY);
    assert (*why);
    free (bytes);
    free (json);
    ih_key_destroy (&bureau2);

    //  Rotation: from seq 5 of lh-inc-01, whose seqs 1..4 are stored
    ih_key_t *inc2 = ih_key_new ("lh-inc-01");
    s_test_stored_t stored = {"lh-inc-01", 9};
    ih_hubtest_key_rotated (&change, inc2, 5);
    s_test_change (registry, &chain, &change, s_test_last, &stored,
                   IH_E_REGISTRY,
                   "from_seq 5 is not above the stored seq 9 of site "
                   "'lh-inc-01'");
    ih_hubtest_key_rotated (&change, inc2, 1);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_REGISTRY, NULL);
    ih_hubtest_key_rotated (&change, inc2, 5);
    change.site[0] = 'z';
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_REGISTRY,
                   "site 'zh-inc-01' not registered");
    //  A registry event at a seq the log holds already (a journal read
    //  again) is left to the log (IH_E_DUPLICATE there), not refused as a
    //  change that no longer applies
    ih_hubtest_site_added (&change, inc, "incubator", "laoshan");
    json = ih_regchange_json (&change);
    bytes =
        ih_hubtest_sign (bureau, 1, NULL, IH_REG_SITE_ADDED, 0, json, &size);
    free (json);
    s_test_stored_t bureau_stored = {"qd-bureau", 9};
    assert (s_test_admit (registry, bytes, size, NULL, s_test_last,
                          &bureau_stored, why) == IH_OK);
    assert (s_test_admit (registry, bytes, size, NULL, NULL, NULL, why) ==
            IH_E_REGISTRY);
    assert (streq (why, "site 'lh-inc-01' exists already"));
    free (bytes);
    stored.seq = 4;
    ih_hubtest_key_rotated (&change, inc2, 5);
    uint64_t version = ih_registry_version (registry);
    s_test_change (registry, &chain, &change, s_test_last, &stored, IH_OK,
                   NULL);
    assert (ih_registry_version (registry) == version + 1);
    assert (ih_registry_lookup (registry, "lh-inc-01", &site));
    assert (memcmp (site.key, ih_key_public (inc2), IH_KEY_PUBLIC_SIZE) == 0);
    assert (site.key_from == 5 && !site.revoked);
    //  Old seqs verify with the old key only, new ones with the new key only
    assert (s_test_event (registry, inc, 4, "enterprise.admitted", NULL, why) ==
            IH_OK);
    assert (s_test_event (registry, inc2, 4, "enterprise.admitted", NULL,
                          why) == IH_E_BADSIG);
    assert (s_test_event (registry, inc2, 5, "enterprise.admitted", NULL,
                          why) == IH_OK);
    assert (s_test_event (registry, inc, 5, "enterprise.admitted", NULL, why) ==
            IH_E_BADSIG);
    assert (streq (why, "signature does not verify with the key of site "
                        "'lh-inc-01' valid from seq 5"));
    //  The transport key moved with it
    assert (
        !ih_registry_lookup_curve (registry, ih_key_curve_public (inc), &site));
    assert (
        ih_registry_lookup_curve (registry, ih_key_curve_public (inc2), &site));
    assert (streq (site.id, "lh-inc-01"));
    //  A second rotation must go above the current key's from_seq
    ih_hubtest_key_rotated (&change, inc, 5);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_REGISTRY,
                   "from_seq 5 is not above the from_seq 5 of the current "
                   "key of site 'lh-inc-01'");

    //  The bureau rotates its own key: the event itself is signed with the
    //  old key, so from_seq must be above its seq
    ih_key_t *bureau_new = ih_key_new ("qd-bureau");
    ih_hubtest_key_rotated (&change, bureau_new, chain.seq + 1);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_REGISTRY, NULL);
    ih_hubtest_key_rotated (&change, bureau_new, chain.seq + 2);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    //  The old bureau key no longer signs registry changes
    ih_hubtest_key_revoked (&change, "off-de-01", "laptop stolen");
    char expect[256];
    snprintf (expect, sizeof expect,
              "signature does not verify with the key of site 'qd-bureau' "
              "valid from seq %" PRIu64,
              chain.seq + 1);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_E_BADSIG, expect);
    chain.key = bureau_new;

    //  Revocation: nothing of the site after it, whatever the seq
    assert (ih_registry_may_connect (registry, "off-de-01",
                                     IH_CURVE_DOMAIN_INGEST) == IH_OK);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    assert (ih_registry_lookup (registry, "off-de-01", &site));
    assert (site.revoked);
    assert (s_test_event (registry, offshore, 1, "overseas.project", NULL,
                          why) == IH_E_REVOKED);
    assert (streq (why, "key of site 'off-de-01' for seq 1 revoked"));
    assert (s_test_event (registry, offshore, 7, "overseas.project", NULL,
                          why) == IH_E_REVOKED);
    assert (streq (why, "key of site 'off-de-01' for seq 7 revoked"));
    assert (!ih_registry_lookup_curve (registry, ih_key_curve_public (offshore),
                                       &site));
    assert (ih_registry_may_connect (registry, "off-de-01",
                                     IH_CURVE_DOMAIN_INGEST) == IH_E_REVOKED);
    assert (ih_registry_may_connect (registry, "off-de-01",
                                     IH_CURVE_DOMAIN_FEED) == IH_E_REVOKED);
    assert (!ih_registry_may_read (registry, "off-de-01", NULL, "off-de-01"));
    assert (!ih_registry_may_subscribe (registry, "off-de-01",
                                        "huangdao/off-de-01/", 19));
    //  A rotation after the revocation restores the site from its from_seq
    ih_key_t *offshore2 = ih_key_new ("off-de-01");
    ih_hubtest_key_rotated (&change, offshore2, 8);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    assert (ih_registry_lookup (registry, "off-de-01", &site));
    assert (!site.revoked && site.key_from == 8);
    assert (s_test_event (registry, offshore2, 8, "overseas.project", NULL,
                          why) == IH_OK);
    assert (s_test_event (registry, offshore2, 7, "overseas.project", NULL,
                          why) == IH_E_REVOKED);
    assert (s_test_event (registry, offshore, 7, "overseas.project", NULL,
                          why) == IH_E_REVOKED);
    assert (ih_registry_lookup_curve (registry, ih_key_curve_public (offshore2),
                                      &site));
    assert (ih_registry_may_connect (registry, "off-de-01",
                                     IH_CURVE_DOMAIN_INGEST) == IH_OK);

    //  Permissions change: incubators may now also publish award.nominated,
    //  and read their district
    const char *incubator[] = {"enterprise.*", "award.nominated", NULL};
    ih_hubtest_permissions (&change, "incubator", IH_READ_DISTRICT, incubator);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    assert (ih_registry_may_publish (registry, "incubator", "award.nominated"));
    assert (!ih_registry_may_publish (registry, "incubator", "award.granted"));
    assert (!ih_registry_may_publish (registry, "incubator", "training.held"));
    assert (ih_registry_read_scope (registry, "incubator") == IH_READ_DISTRICT);
    assert (s_test_event (registry, inc2, 6, "award.nominated", NULL, why) ==
            IH_OK);
    assert (s_test_event (registry, inc2, 6, "training.held", NULL, why) ==
            IH_E_DENIED);
    assert (ih_registry_may_read (registry, "lh-inc-01", "laoshan", NULL));
    assert (!ih_registry_may_read (registry, "lh-inc-01", "huangdao", NULL));
    //  Auditors: nothing to publish, so no ingest, but read everything
    ih_hubtest_permissions (&change, "remote", IH_READ_NONE, NULL);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    assert (!ih_registry_may_publish (registry, "remote", "remote.report"));
    assert (ih_registry_read_scope (registry, "remote") == IH_READ_NONE);
    //  Registry events from the bureau whatever its permissions say
    ih_hubtest_permissions (&change, "bureau", IH_READ_ALL, NULL);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);
    assert (!ih_registry_may_publish (registry, "bureau", "award.granted"));
    assert (ih_registry_may_connect (registry, "qd-bureau",
                                     IH_CURVE_DOMAIN_INGEST) == IH_OK);
    const char *anything[] = {"*", NULL};
    ih_hubtest_permissions (&change, "bureau", IH_READ_ALL, anything);
    s_test_change (registry, &chain, &change, NULL, NULL, IH_OK, NULL);

    //  may_connect per domain
    assert (ih_registry_may_connect (registry, "qd-audit",
                                     IH_CURVE_DOMAIN_INGEST) == IH_E_DENIED);
    assert (ih_registry_may_connect (registry, "qd-audit",
                                     IH_CURVE_DOMAIN_FEED) == IH_OK);
    assert (ih_registry_may_connect (registry, "qd-audit",
                                     IH_CURVE_DOMAIN_REPLAY) == IH_OK);
    assert (ih_registry_may_connect (registry, "lh-inc-01",
                                     IH_CURVE_DOMAIN_INGEST) == IH_OK);
    assert (ih_registry_may_connect (
                registry, "nobody", IH_CURVE_DOMAIN_FEED) == IH_E_UNKNOWN_SITE);
    assert (ih_registry_may_connect (registry, "qd-audit", "other") ==
            IH_E_BADARG);
    assert (ih_registry_may_connect (registry, "qd-audit", NULL) ==
            IH_E_BADARG);

    //  may_read and may_subscribe for scopes all, district, own
    assert (ih_registry_may_read (registry, "qd-audit", NULL, NULL));
    assert (ih_registry_may_read (registry, "laoshan-office", NULL, NULL));
    assert (ih_registry_may_subscribe (registry, "qd-audit", "", 0));
    assert (ih_registry_may_subscribe (registry, "qd-audit", "jimo/", 5));
    //  incubator: district scope now (see above)
    assert (!ih_registry_may_read (registry, "lh-inc-01", NULL, NULL));
    assert (
        ih_registry_may_read (registry, "lh-inc-01", "laoshan", "ls-inc-09"));
    assert (ih_registry_may_subscribe (registry, "lh-inc-01", "laoshan/", 8));
    assert (ih_registry_may_subscribe (registry, "lh-inc-01",
                                       "laoshan/ls-inc-09/x", 19));
    assert (!ih_registry_may_subscribe (registry, "lh-inc-01", "laoshan", 7));
    assert (!ih_registry_may_subscribe (registry, "lh-inc-01", "", 0));
    assert (!ih_registry_may_subscribe (registry, "lh-inc-01", "jimo/", 5));
    //  offshore: own scope
    assert (!ih_registry_may_read (registry, "off-de-01", "huangdao", NULL));
    assert (ih_registry_may_read (registry, "off-de-01", NULL, "off-de-01"));
    assert (
        ih_registry_may_read (registry, "off-de-01", "huangdao", "off-de-01"));
    assert (!ih_registry_may_read (registry, "off-de-01", NULL, "lh-inc-01"));
    const char *own = "huangdao/off-de-01/overseas.project/";
    assert (
        ih_registry_may_subscribe (registry, "off-de-01", own, strlen (own)));
    assert (ih_registry_may_subscribe (registry, "off-de-01", own, 19));
    assert (!ih_registry_may_subscribe (registry, "off-de-01", own, 18));
    assert (!ih_registry_may_subscribe (registry, "off-de-01", "huangdao/", 9));
    //  Unknown readers may do nothing
    assert (!ih_registry_may_read (registry, "nobody", NULL, NULL));
    assert (!ih_registry_may_read (registry, NULL, NULL, NULL));
    assert (!ih_registry_may_subscribe (registry, "nobody", "", 0));

    //  lookup_curve: each site's current unrevoked key only
    assert (ih_registry_lookup_curve (registry, ih_key_curve_public (auditor),
                                      &site));
    assert (streq (site.id, "qd-audit") && streq (site.kind, "auditor"));
    assert (!ih_registry_lookup_curve (registry, ih_key_curve_public (rogue),
                                       &site));
    assert (!ih_registry_lookup_curve (registry, NULL, &site));
    uint8_t zero[IH_KEY_CURVE_SIZE] = {0};
    assert (!ih_registry_lookup_curve (registry, zero, &site));

    //  The pinned bureau cannot be revoked (nothing could sign a registry
    //  change again): IH_E_REGISTRY, and it keeps working
    ih_registry_t *scratch = ih_registry_new (bureau);
    ih_hubtest_chain_t scratch_chain = {bureau, 0, {0}, NULL};
    ih_hubtest_key_revoked (&change, "qd-bureau", "laptop stolen");
    s_test_change (scratch, &scratch_chain, &change, NULL, NULL, IH_E_REGISTRY,
                   "the pinned bureau 'qd-bureau' cannot be revoked; "
                   "rotate its key");
    assert (ih_registry_may_connect (scratch, "qd-bureau",
                                     IH_CURVE_DOMAIN_INGEST) == IH_OK);
    ih_registry_destroy (&scratch);
    ih_registry_destroy (&scratch);
    assert (scratch == NULL);

    //  Rebuild from the log gives the same state
    assert (ih_log_commit (log) == IH_OK);
    //  ... with a bureau event that is not a registry change in between
    assert (ih_log_begin (log) == IH_OK);
    ih_hubtest_chain_append (&chain, "award.granted", 0, "{\"to\": \"x\"}", 0);
    assert (ih_log_commit (log) == IH_OK);
    char *before = s_test_dump (registry);
    ih_registry_t *rebuilt = ih_registry_new (bureau);
    assert (rebuilt);
    version = ih_registry_version (rebuilt);
    assert (ih_registry_rebuild (rebuilt, log, why, sizeof why) == IH_OK);
    assert (ih_registry_version (rebuilt) > version);
    char *after = s_test_dump (rebuilt);
    if (verbose)
        printf ("   state: %s\n", after);
    assert (streq (before, after));
    free (after);
    //  The live registry rebuilds to itself too
    version = ih_registry_version (registry);
    assert (ih_registry_rebuild (registry, log, why, sizeof why) == IH_OK);
    assert (ih_registry_version (registry) > version);
    after = s_test_dump (registry);
    assert (streq (before, after));
    free (after);
    free (before);
    ih_registry_destroy (&rebuilt);

    //  A log whose bureau events do not verify with the pinned key stops
    //  the rebuild and names the hub_seq; the state is the pinned bureau
    ih_registry_t *other = ih_registry_new (rogue);
    assert (ih_registry_rebuild (other, log, why, sizeof why) == IH_E_BADSIG);
    assert (strncmp (why, "hub_seq 1 ", 10) == 0);
    assert (ih_registry_size (other) == 1);
    ih_registry_destroy (&other);
    ih_log_destroy (&log);

    ih_key_destroy (&bureau_new);
    ih_key_destroy (&inc);
    ih_key_destroy (&inc2);
    ih_key_destroy (&district);
    ih_key_destroy (&auditor);
    ih_key_destroy (&offshore);
    ih_key_destroy (&offshore2);
    ih_key_destroy (&rogue);
    ih_hubtest_destroy (&test);
    printf ("OK\n");
}
