/*  =========================================================================
    fuzz_registry - libFuzzer target for the registry's inputs: registry
    events (signed events of the bureau) and the bureau's journal file

    The registry lives in the log (hub/ih_registry.h): the hub admits every
    event, registry changes included, through ih_registry_admit before it
    appends it, and reads the bureau's journal (hub/ih_journal.h) from a
    file an operator controls. So the input is fed three ways:
    - as a signed event: ih_event_decode, then (for registry.* types)
      ih_regchange_decode, then ih_registry_admit on a registry whose
      bureau key is pinned (plus one incubator site, added by a fixed
      signed event), with and without a connection's peer and a last-seq
      callback; an admitted event is applied to a fresh registry and the
      change checked;
    - as the content of a journal file: ih_journal_read, whose lines must
      be exactly the hex of what it passes;
    - hex-encoded as the one line of a journal: read back byte for byte.

    The bureau's keys below are public keys only (the secret was thrown
    away after signing the seeds in corpus/registry/ and the init event),
    so the fuzzer reaches the apply path only through the seeds.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_curve.h"
#include "ih_journal.h"
#include "ih_registry.h"

#define S_BUREAU_SIGN                                                          \
    "3078aaf465abb4c6e54897d26b220110c73aaa96e2404f066c44656ff9e1f903"
#define S_BUREAU_CURVE                                                         \
    "86965fd59ac3fba63417c82991cfed3dc57c6dafc5183da5c5d775aafc092a7c"
//  registry.site_added of lh-inc-01 (incubator, laoshan), bureau seq 1
#define S_INIT_EVENT                                                           \
    "78c9ca142237e11c97a2895d894be89dabe1eca6e4370138e814de3333d4b8fd"         \
    "1002f847802556868a36a35b48c97a98bb0f293937b0313863df89610048f70e"         \
    "9701a971642d62757265617501cf0000019abd75b801b372656769737472792e"         \
    "736974655f6164646564c4200000000000000000000000000000000000000000"         \
    "00000000000000000000000085a963757276655f6b6579d94032333737353164"         \
    "6538653535346366313138633436316565633039623130616231656130653465"         \
    "37393930633066393766613362613430313736313466343232a8646973747269"         \
    "6374a76c616f7368616ea46b696e64a9696e63756261746f72a87369676e5f6b"         \
    "6579d94039393266656232373630336466393333623530613338313064313837"         \
    "6664656464336338353765623634326533616566663836396437363038313666"         \
    "65663063a473697465a96c682d696e632d3031"

static ih_key_t *s_bureau; //  the pinned bureau (public keys only)
static uint8_t *s_init;    //  S_INIT_EVENT as bytes
static size_t s_init_size;
static ih_registry_t *s_base; //  bureau + lh-inc-01; only admitted against

static void
s_unhex (const char *hex, uint8_t *bytes)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        unsigned value;
        IH_FUZZ_CHECK (sscanf (hex + 2 * i, "%2x", &value) == 1);
        bytes[i] = (uint8_t) value;
    }
}

//  A registry in the base state: the pinned bureau and lh-inc-01.
static ih_registry_t *
s_registry_new (void)
{
    ih_registry_t *registry = ih_registry_new (s_bureau);
    IH_FUZZ_CHECK (registry);
    ih_event_t event;
    IH_FUZZ_CHECK (ih_event_decode (s_init, s_init_size, &event) == IH_OK);
    IH_FUZZ_CHECK (ih_registry_admit (registry, &event, s_init, s_init_size,
                                      NULL, NULL, NULL, NULL, 0) == IH_OK);
    ih_registry_apply (registry, &event);
    IH_FUZZ_CHECK (ih_registry_size (registry) == 2);
    return registry;
}

//  Pins the bureau and builds the base registry, once.
static void
s_setup (void)
{
    ih_fuzz_dir ();
    uint8_t sign[IH_KEY_PUBLIC_SIZE], curve[IH_KEY_CURVE_SIZE];
    s_unhex (S_BUREAU_SIGN, sign);
    s_unhex (S_BUREAU_CURVE, curve);
    s_bureau = ih_key_new_public_pair ("qd-bureau", sign, curve);
    IH_FUZZ_CHECK (s_bureau);
    s_init_size = strlen (S_INIT_EVENT) / 2;
    s_init = (uint8_t *) malloc (s_init_size);
    IH_FUZZ_CHECK (s_init);
    s_unhex (S_INIT_EVENT, s_init);
    s_base = s_registry_new ();
}

IH_FUZZ_INITIALIZE (s_setup ());

static uint64_t
s_last (const char *site, void *arg)
{
    (void) site;
    return *(uint64_t *) arg;
}

//  The journal reader passes line n as the bytes whose hex is that line.
typedef struct {
    const uint8_t *text; //  the file's content
    size_t size;
    size_t offset; //  where the next line starts
    size_t lines;  //  lines passed
} s_journal_t;

static int
s_journal_fn (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    s_journal_t *journal = (s_journal_t *) arg;
    IH_FUZZ_CHECK (line == journal->lines + 1);
    IH_FUZZ_CHECK (size >= 1 && size <= IH_EVENT_MAX);
    const uint8_t *start = journal->text + journal->offset;
    IH_FUZZ_CHECK (journal->offset + 2 * size < journal->size);
    IH_FUZZ_CHECK (start[2 * size] == '\n');
    for (size_t i = 0; i < size; i++) {
        char hex[3];
        snprintf (hex, sizeof hex, "%02x", bytes[i]);
        IH_FUZZ_CHECK (start[2 * i] == (uint8_t) hex[0] &&
                       start[2 * i + 1] == (uint8_t) hex[1]);
    }
    journal->offset += 2 * size + 1;
    journal->lines++;
    return 0;
}

static void
s_journal (const uint8_t *bytes, size_t size)
{
    //  The input as a journal file
    const char *path = ih_fuzz_write ("registry.journal", bytes, size, 0644);
    s_journal_t journal = {bytes, size, 0, 0};
    ih_err_t rc = ih_journal_read (path, s_journal_fn, &journal);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_MALFORMED);
    if (rc == IH_OK) {
        //  Every '\n'-terminated line was passed; only a torn tail is left
        IH_FUZZ_CHECK (
            !memchr (bytes + journal.offset, '\n', size - journal.offset));
    }
    //  The input as the one line of a journal
    if (size == 0 || size > IH_EVENT_MAX)
        return;
    char *line = (char *) malloc (2 * size + 1);
    IH_FUZZ_CHECK (line);
    for (size_t i = 0; i < size; i++)
        snprintf (line + 2 * i, 3, "%02x", bytes[i]);
    line[2 * size] = '\n';
    path = ih_fuzz_write ("registry.journal", (const uint8_t *) line,
                          2 * size + 1, 0644);
    journal = (s_journal_t){(const uint8_t *) line, 2 * size + 1, 0, 0};
    IH_FUZZ_CHECK (ih_journal_read (path, s_journal_fn, &journal) == IH_OK);
    IH_FUZZ_CHECK (journal.lines == 1);
    free (line);
}

//  A decoded registry change must be one the registry can hold.
static void
s_check_change (const ih_regchange_t *change)
{
    switch (change->op) {
    case IH_REG_OP_SITE_ADDED:
        IH_FUZZ_CHECK (ih_event_name_valid (change->site));
        IH_FUZZ_CHECK (ih_regchange_kind_valid (change->kind));
        IH_FUZZ_CHECK (ih_event_name_valid (change->district));
        break;
    case IH_REG_OP_KEY_ROTATED:
        IH_FUZZ_CHECK (ih_event_name_valid (change->site));
        IH_FUZZ_CHECK (change->from_seq >= 2);
        break;
    case IH_REG_OP_KEY_REVOKED:
        IH_FUZZ_CHECK (ih_event_name_valid (change->site));
        IH_FUZZ_CHECK (strlen (change->reason) < IH_REG_REASON_MAX);
        break;
    case IH_REG_OP_PERMISSIONS:
        IH_FUZZ_CHECK (ih_regchange_kind_valid (change->kind));
        IH_FUZZ_CHECK (change->publish_count <= IH_REG_PATTERNS_MAX);
        for (size_t i = 0; i < change->publish_count; i++)
            IH_FUZZ_CHECK (ih_regchange_pattern_valid (change->publish[i]));
        IH_FUZZ_CHECK (change->read >= IH_READ_NONE &&
                       change->read <= IH_READ_ALL);
        break;
    default:
        IH_FUZZ_CHECK (false);
    }
    char *json = ih_regchange_json (change);
    IH_FUZZ_CHECK (json);
    free (json);
}

//  After apply: the registry shows the change.
static void
s_check_applied (ih_registry_t *registry, const ih_regchange_t *change)
{
    ih_site_t site;
    switch (change->op) {
    case IH_REG_OP_SITE_ADDED:
        IH_FUZZ_CHECK (ih_registry_lookup (registry, change->site, &site));
        IH_FUZZ_CHECK (streq (site.kind, change->kind));
        IH_FUZZ_CHECK (streq (site.district, change->district));
        IH_FUZZ_CHECK (
            memcmp (site.key, change->sign_key, IH_KEY_PUBLIC_SIZE) == 0);
        IH_FUZZ_CHECK (site.key_from == 1 && !site.revoked);
        IH_FUZZ_CHECK (ih_registry_size (registry) == 3);
        break;
    case IH_REG_OP_KEY_ROTATED:
        IH_FUZZ_CHECK (ih_registry_lookup (registry, change->site, &site));
        IH_FUZZ_CHECK (
            memcmp (site.key, change->sign_key, IH_KEY_PUBLIC_SIZE) == 0);
        IH_FUZZ_CHECK (site.key_from == change->from_seq && !site.revoked);
        break;
    case IH_REG_OP_KEY_REVOKED:
        IH_FUZZ_CHECK (ih_registry_lookup (registry, change->site, &site));
        IH_FUZZ_CHECK (site.revoked);
        IH_FUZZ_CHECK (ih_registry_may_connect (registry, change->site,
                                                IH_CURVE_DOMAIN_FEED) ==
                       IH_E_REVOKED);
        IH_FUZZ_CHECK (!site.has_curve ||
                       !ih_registry_lookup_curve (registry, site.curve, &site));
        break;
    case IH_REG_OP_PERMISSIONS:
        IH_FUZZ_CHECK (ih_registry_read_scope (registry, change->kind) ==
                       change->read);
        for (size_t i = 0; i < change->publish_count; i++)
            if (ih_event_name_valid (change->publish[i]))
                IH_FUZZ_CHECK (ih_registry_may_publish (registry, change->kind,
                                                        change->publish[i]));
        break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    s_journal (bytes, size);

    ih_event_t event;
    if (ih_event_decode (bytes, size, &event) != IH_OK)
        return 0;
    ih_regchange_t change;
    bool registry_type = ih_regchange_is_registry (event.type);
    bool change_ok = false;
    if (registry_type) {
        char why[256] = "";
        ih_err_t rc = ih_regchange_decode (&event, &change, why, sizeof why);
        IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_REGISTRY);
        if (rc == IH_OK)
            s_check_change (&change);
        else
            IH_FUZZ_CHECK (*why);
        change_ok = rc == IH_OK;
    }

    //  Admission as the journal, the audit or plain text would ask it
    uint64_t version = ih_registry_version (s_base);
    size_t sites = ih_registry_size (s_base);
    char why[256] = "";
    ih_err_t rc = ih_registry_admit (s_base, &event, bytes, size, NULL, NULL,
                                     NULL, why, sizeof why);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_UNKNOWN_SITE ||
                   rc == IH_E_REVOKED || rc == IH_E_BADSIG ||
                   rc == IH_E_DENIED || rc == IH_E_REGISTRY);
    IH_FUZZ_CHECK (rc == IH_OK || *why);
    ih_site_t site;
    bool known = ih_registry_lookup (s_base, event.site, &site);
    IH_FUZZ_CHECK (known == (rc != IH_E_UNKNOWN_SITE));
    if (rc == IH_OK) {
        IH_FUZZ_CHECK (ih_event_verify (bytes, size, site.key) == IH_OK);
        IH_FUZZ_CHECK (!registry_type ||
                       (change_ok && streq (event.site, "qd-bureau")));
    }
    //  ... and as on a CURVE connection of lh-inc-01, with a log that holds
    //  seqs up to 3 of every site
    uint64_t stored = 3;
    ih_err_t peer_rc =
        ih_registry_admit (s_base, &event, bytes, size, "lh-inc-01", s_last,
                           &stored, why, sizeof why);
    if (rc == IH_E_UNKNOWN_SITE)
        IH_FUZZ_CHECK (peer_rc == IH_E_UNKNOWN_SITE);
    else if (!streq (event.site, "lh-inc-01"))
        IH_FUZZ_CHECK (peer_rc == IH_E_IMPERSONATE);
    else if (!registry_type)
        IH_FUZZ_CHECK (peer_rc == rc);
    //  Admission changes nothing
    IH_FUZZ_CHECK (ih_registry_version (s_base) == version);
    IH_FUZZ_CHECK (ih_registry_size (s_base) == sites);

    if (rc == IH_OK) {
        ih_registry_t *registry = s_registry_new ();
        uint64_t before = ih_registry_version (registry);
        ih_registry_apply (registry, &event);
        IH_FUZZ_CHECK (ih_registry_version (registry) ==
                       before + (registry_type ? 1 : 0));
        if (registry_type)
            s_check_applied (registry, &change);
        ih_registry_destroy (&registry);
        IH_FUZZ_CHECK (registry == NULL);
    }
    return 0;
}
