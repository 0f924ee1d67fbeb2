/*  =========================================================================
    fuzz_keyfile - libFuzzer target for the key file reader

    The input is the content of a NAME.key or NAME.pub file (ZPL, protocol.md
    2.1). It is written to one file, mode 0600, in the scratch directory and
    loaded with ih_key_load. An accepted key must have a valid name; one
    with a secret part must sign so that its public part verifies, must be
    refused once the file is group-readable, and must survive ih_key_save
    and a reload unchanged. Its transport (Curve25519) pair, if any, must
    be complete in a secret file (the secret deriving the public key),
    give a CZMQ certificate holding exactly that pair, and survive the
    save too; a key without one gives no certificate. Key material is
    never printed.
    =========================================================================*/
#include <sodium.h>
#include "ih_fuzz.h"
#include "ih_event.h"
#include "ih_key.h"

IH_FUZZ_INITIALIZE (ih_fuzz_dir ());

//  Saves key into a fresh subdirectory of the scratch dir, reloads both
//  files and checks they hold the same key; removes what it wrote.
static void
s_check_save (ih_key_t *key)
{
    char dir[4200];
    snprintf (dir, sizeof (dir), "%s/save", ih_fuzz_dir ());
    IH_FUZZ_CHECK (mkdir (dir, 0700) == 0);
    IH_FUZZ_CHECK (ih_key_save (key, dir) == IH_OK);
    const char *suffixes[] = {"key", "pub"};
    for (int i = 0; i < 2; i++) {
        char path[4400];
        snprintf (path, sizeof (path), "%s/%s.%s", dir, ih_key_name (key),
                  suffixes[i]);
        ih_key_t *loaded = NULL;
        IH_FUZZ_CHECK (ih_key_load (path, &loaded) == IH_OK);
        IH_FUZZ_CHECK (streq (ih_key_name (loaded), ih_key_name (key)));
        IH_FUZZ_CHECK (memcmp (ih_key_public (loaded), ih_key_public (key),
                               IH_KEY_PUBLIC_SIZE) == 0);
        IH_FUZZ_CHECK (ih_key_has_secret (loaded) == (i == 0));
        IH_FUZZ_CHECK (ih_key_has_curve (loaded) == ih_key_has_curve (key));
        IH_FUZZ_CHECK (ih_key_has_curve_secret (loaded) ==
                       (i == 0 && ih_key_has_curve (key)));
        if (ih_key_has_curve (key))
            IH_FUZZ_CHECK (memcmp (ih_key_curve_public (loaded),
                                   ih_key_curve_public (key),
                                   IH_KEY_CURVE_SIZE) == 0);
        ih_key_destroy (&loaded);
        IH_FUZZ_CHECK (unlink (path) == 0);
    }
    IH_FUZZ_CHECK (rmdir (dir) == 0);
}

//  The transport pair of an accepted key: complete in a secret file, the
//  secret deriving the public key, and the certificate holds that pair.
static void
s_check_curve (ih_key_t *key)
{
    zcert_t *cert = ih_key_cert (key);
    if (!ih_key_has_curve (key)) {
        IH_FUZZ_CHECK (!ih_key_has_curve_secret (key));
        IH_FUZZ_CHECK (ih_key_curve_public (key) == NULL);
        IH_FUZZ_CHECK (cert == NULL);
        return;
    }
    IH_FUZZ_CHECK (ih_key_curve_public (key));
    IH_FUZZ_CHECK (ih_key_has_curve_secret (key) == ih_key_has_secret (key));
    IH_FUZZ_CHECK (cert);
    IH_FUZZ_CHECK (memcmp (zcert_public_key (cert), ih_key_curve_public (key),
                           IH_KEY_CURVE_SIZE) == 0);
    uint8_t derived[IH_KEY_CURVE_SIZE];
    if (ih_key_has_curve_secret (key)) {
        IH_FUZZ_CHECK (
            crypto_scalarmult_base (derived, zcert_secret_key (cert)) == 0);
        IH_FUZZ_CHECK (memcmp (derived, ih_key_curve_public (key),
                               IH_KEY_CURVE_SIZE) == 0);
    } else {
        static const uint8_t zero[IH_KEY_CURVE_SIZE] = {0};
        IH_FUZZ_CHECK (
            memcmp (zcert_secret_key (cert), zero, IH_KEY_CURVE_SIZE) == 0);
    }
    sodium_memzero (derived, sizeof (derived));
    zcert_destroy (&cert);
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    const char *path = ih_fuzz_write ("site.key", bytes, size, 0600);
    ih_key_t *key = NULL;
    ih_err_t rc = ih_key_load (path, &key);
    //  KEYPERM cannot happen: the file is 0600
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_KEY);
    if (rc != IH_OK) {
        IH_FUZZ_CHECK (key == NULL);
        return 0;
    }
    IH_FUZZ_CHECK (key);
    IH_FUZZ_CHECK (ih_event_name_valid (ih_key_name (key)));
    s_check_curve (key);
    uint8_t sig[IH_KEY_SIG_SIZE];
    const uint8_t msg[] = "fuzz";
    if (ih_key_has_secret (key)) {
        IH_FUZZ_CHECK (ih_key_sign (key, msg, sizeof (msg), sig) == IH_OK);
        IH_FUZZ_CHECK (ih_key_verify (ih_key_public (key), msg, sizeof (msg),
                                      sig) == IH_OK);
        IH_FUZZ_CHECK (chmod (path, 0640) == 0);
        ih_key_t *refused = NULL;
        IH_FUZZ_CHECK (ih_key_load (path, &refused) == IH_E_KEYPERM);
        IH_FUZZ_CHECK (refused == NULL);
        s_check_save (key);
    } else
        IH_FUZZ_CHECK (ih_key_sign (key, msg, sizeof (msg), sig) ==
                       IH_E_BADARG);
    ih_key_destroy (&key);
    IH_FUZZ_CHECK (key == NULL);
    return 0;
}
