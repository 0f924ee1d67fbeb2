/*  =========================================================================
    ih_key - Ed25519 signing keys and their files

    Sits at both ends of the trust chain: an agent loads its site's NAME.key
    and signs every event body with it (ih_event_sign); the hub loads each
    registered site's NAME.pub and verifies (ih_event_verify).

    Files are ZPL (CZMQ zconfig), see ih_key.h. Invariants:
    - A secret file is created with open (O_CREAT | O_EXCL, 0600): it never
      exists, even for an instant, with a wider mode, and an existing file is
      never overwritten.
    - On load, the mode is read with fstat on the same descriptor the bytes
      are read from, so the check and the read cannot refer to different
      files. A file with a secret part and mode & 077 != 0 is refused.
    - The secret must belong to the public key in the same file (the
      Ed25519 secret key embeds its public key); a mismatch is IH_E_KEY.
    - Buffers that held secret material are wiped before they are freed.
      Key material never reaches the log.
    =========================================================================*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <czmq.h>
#include <sodium.h>
#include "ih_key.h"
#include "ih_event.h"

#define S_FILE_MAX 4096 //  a key file is ~300 bytes; anything huge is junk

#define s_check(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                     #cond);                                                   \
            abort ();                                                          \
        }                                                                      \
    } while (0)

struct _ih_key_t {
    char name[IH_NAME_MAX + 1];             //  site id
    uint8_t public_key[IH_KEY_PUBLIC_SIZE]; //  Ed25519 public key
    uint8_t secret_key[IH_KEY_SECRET_SIZE]; //  libsodium form: seed || public
    bool has_secret;                        //  secret_key is valid
};

static pthread_once_t s_sodium_once = PTHREAD_ONCE_INIT;
static int s_sodium_rc = 0;

static void
s_sodium_init_once (void)
{
    s_sodium_rc = sodium_init ();
}

//  libsodium must be initialised before key generation; once per process.
static void
s_sodium_init (void)
{
    pthread_once (&s_sodium_once, s_sodium_init_once);
    //  Failure means no entropy source: nothing safe can be done.
    assert (s_sodium_rc >= 0);
}

static ih_key_t *
s_key_alloc (const char *name)
{
    if (!name || strlen (name) > IH_NAME_MAX)
        return NULL;
    ih_key_t *self = (ih_key_t *) zmalloc (sizeof (ih_key_t));
    assert (self);
    strcpy (self->name, name);
    return self;
}

ih_key_t *
ih_key_new (const char *name)
{
    s_sodium_init ();
    ih_key_t *self = s_key_alloc (name);
    if (!self)
        return NULL;
    crypto_sign_keypair (self->public_key, self->secret_key);
    self->has_secret = true;
    return self;
}

ih_key_t *
ih_key_new_public (const char *name, const uint8_t *public_key)
{
    if (!public_key)
        return NULL;
    s_sodium_init ();
    ih_key_t *self = s_key_alloc (name);
    if (self)
        memcpy (self->public_key, public_key, IH_KEY_PUBLIC_SIZE);
    return self;
}

void
ih_key_destroy (ih_key_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_memzero (*self_p, sizeof (ih_key_t));
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
ih_key_name (ih_key_t *self)
{
    assert (self);
    return self->name;
}

const uint8_t *
ih_key_public (ih_key_t *self)
{
    assert (self);
    return self->public_key;
}

bool
ih_key_has_secret (ih_key_t *self)
{
    assert (self);
    return self->has_secret;
}

ih_err_t
ih_key_sign (ih_key_t *self, const uint8_t *msg, size_t size, uint8_t *sig)
{
    assert (self);
    assert (sig);
    assert (msg || size == 0);
    if (!self->has_secret)
        return IH_E_BADARG;
    crypto_sign_detached (sig, NULL, msg, size, self->secret_key);
    return IH_OK;
}

ih_err_t
ih_key_verify (const uint8_t *public_key, const uint8_t *msg, size_t size,
               const uint8_t *sig)
{
    assert (public_key);
    assert (sig);
    assert (msg || size == 0);
    s_sodium_init ();
    if (crypto_sign_verify_detached (sig, msg, size, public_key) != 0)
        return IH_E_BADSIG;
    return IH_OK;
}

void
ih_key_to_hex (const uint8_t *public_key, char *hex)
{
    assert (public_key);
    assert (hex);
    sodium_bin2hex (hex, IH_KEY_HEX_SIZE, public_key, IH_KEY_PUBLIC_SIZE);
}

static int
s_hex_digit (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Parses exactly 2 * size hex digits; anything else (short, long, junk)
//  is refused. Written out rather than sodium_hex2bin, whose "stop at the
//  first non-hex character" rule would accept trailing junk.
static int
s_hex_decode (const char *hex, uint8_t *out, size_t size)
{
    if (!hex || strlen (hex) != 2 * size)
        return -1;
    for (size_t i = 0; i < size; i++) {
        int hi = s_hex_digit (hex[2 * i]);
        int lo = s_hex_digit (hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    return 0;
}

ih_err_t
ih_key_from_hex (const char *hex, uint8_t *public_key)
{
    assert (public_key);
    uint8_t tmp[IH_KEY_PUBLIC_SIZE];
    if (s_hex_decode (hex, tmp, sizeof (tmp)))
        return IH_E_KEY;
    memcpy (public_key, tmp, sizeof (tmp));
    return IH_OK;
}

//  Reads the whole file at path into a NUL-terminated buffer and reports
//  its mode, both from the same descriptor.
static ih_err_t
s_read_file (const char *path, char **text_p, mode_t *mode_p)
{
    //  O_NONBLOCK: a FIFO or device at path must not hang start-up; it is
    //  refused below as not a regular file
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        zsys_warning ("key: cannot open %s: %s", path, strerror (errno));
        return IH_E_KEY;
    }
    ih_err_t rc = IH_E_KEY;
    char *text = NULL;
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || st.st_size > S_FILE_MAX) {
        zsys_warning ("key: %s is not a key file", path);
        goto cleanup;
    }
    text = (char *) zmalloc (S_FILE_MAX + 1);
    assert (text);
    size_t have = 0;
    while (have < S_FILE_MAX) {
        ssize_t n = read (fd, text + have, S_FILE_MAX - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            zsys_warning ("key: cannot read %s: %s", path, strerror (errno));
            goto cleanup;
        }
        if (n == 0)
            break;
        have += (size_t) n;
    }
    text[have] = 0;
    *text_p = text;
    *mode_p = st.st_mode;
    text = NULL;
    rc = IH_OK;
cleanup:
    if (text) {
        sodium_memzero (text, S_FILE_MAX + 1);
        free (text);
    }
    close (fd);
    return rc;
}

ih_err_t
ih_key_load (const char *path, ih_key_t **key_p)
{
    assert (key_p);
    *key_p = NULL;
    if (!path)
        return IH_E_KEY;
    s_sodium_init ();

    char *text = NULL;
    mode_t mode = 0;
    ih_err_t rc = s_read_file (path, &text, &mode);
    if (rc)
        return rc;
    rc = IH_E_KEY;
    ih_key_t *self = NULL;
    zconfig_t *secret_node = NULL;
    zconfig_t *root = zconfig_str_load (text);
    if (!root) {
        zsys_warning ("key: %s is not valid ZPL", path);
        goto cleanup;
    }
    const char *name = zconfig_get (root, "incuhub/name", NULL);
    const char *public_hex = zconfig_get (root, "incuhub/sign-public", NULL);
    secret_node = zconfig_locate (root, "incuhub/sign-secret");
    if (!name || !ih_event_name_valid (name) || !public_hex) {
        zsys_warning ("key: %s lacks a valid name or sign-public", path);
        goto cleanup;
    }
    if (secret_node && (mode & 077)) {
        zsys_warning ("key: %s holds a secret key but has mode %04o, "
                      "refusing it (chmod 600 %s)",
                      path, (unsigned) (mode & 07777), path);
        rc = IH_E_KEYPERM;
        goto cleanup;
    }
    self = s_key_alloc (name);
    assert (self);
    if (ih_key_from_hex (public_hex, self->public_key)) {
        zsys_warning ("key: %s has a malformed sign-public", path);
        goto cleanup;
    }
    if (secret_node) {
        if (s_hex_decode (zconfig_value (secret_node), self->secret_key,
                          IH_KEY_SECRET_SIZE)) {
            zsys_warning ("key: %s has a malformed sign-secret", path);
            goto cleanup;
        }
        //  Rebuild the pair from the seed (the first 32 bytes): the copy of
        //  the public key stored in the secret's last 32 bytes proves
        //  nothing, and signing with a mismatched public key is unsafe
        uint8_t seed[crypto_sign_SEEDBYTES];
        uint8_t derived[IH_KEY_PUBLIC_SIZE];
        uint8_t rebuilt[IH_KEY_SECRET_SIZE];
        crypto_sign_ed25519_sk_to_seed (seed, self->secret_key);
        crypto_sign_seed_keypair (derived, rebuilt, seed);
        bool match =
            sodium_memcmp (derived, self->public_key, IH_KEY_PUBLIC_SIZE) ==
                0 &&
            sodium_memcmp (rebuilt, self->secret_key, IH_KEY_SECRET_SIZE) == 0;
        sodium_memzero (seed, sizeof seed);
        sodium_memzero (rebuilt, sizeof rebuilt);
        if (!match) {
            zsys_warning ("key: %s: sign-secret does not match sign-public",
                          path);
            goto cleanup;
        }
        self->has_secret = true;
    }
    *key_p = self;
    self = NULL;
    rc = IH_OK;
cleanup:
    ih_key_destroy (&self);
    if (secret_node && zconfig_value (secret_node)) {
        char *value = zconfig_value (secret_node);
        sodium_memzero (value, strlen (value));
    }
    zconfig_destroy (&root);
    sodium_memzero (text, S_FILE_MAX + 1);
    free (text);
    return rc;
}

//  Writes text to a new file path with mode; fails if path exists.
static ih_err_t
s_write_new (const char *path, const char *text, mode_t mode)
{
    int fd =
        open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        zsys_error ("key: cannot create %s: %s", path, strerror (errno));
        return IH_E_IO;
    }
    //  umask may only narrow the mode; a public file is made 0644 exactly.
    if (mode == 0644 && fchmod (fd, 0644))
        goto failed;
    size_t size = strlen (text);
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, text + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto failed;
        done += (size_t) n;
    }
    if (fsync (fd))
        goto failed;
    if (close (fd)) {
        fd = -1;
        goto failed;
    }
    return IH_OK;
failed:
    zsys_error ("key: cannot write %s: %s", path, strerror (errno));
    if (fd >= 0)
        close (fd);
    unlink (path);
    return IH_E_IO;
}

//  Renders the ZPL text of a key file; with_secret adds the secret part.
static char *
s_render (ih_key_t *self, bool with_secret)
{
    char hex[2 * IH_KEY_SECRET_SIZE + 1];
    zconfig_t *root = zconfig_new ("root", NULL);
    assert (root);
    zconfig_set_comment (root, "   incuhub Ed25519 signing key of site %s",
                         self->name);
    if (with_secret)
        zconfig_set_comment (root, "   SECRET: keep this file mode 0600, "
                                   "never copy it off the site");
    zconfig_put (root, "incuhub/name", self->name);
    sodium_bin2hex (hex, sizeof (hex), self->public_key, IH_KEY_PUBLIC_SIZE);
    zconfig_put (root, "incuhub/sign-public", hex);
    if (with_secret) {
        sodium_bin2hex (hex, sizeof (hex), self->secret_key,
                        IH_KEY_SECRET_SIZE);
        zconfig_put (root, "incuhub/sign-secret", hex);
        sodium_memzero (hex, sizeof (hex));
    }
    char *text = zconfig_str_save (root);
    assert (text);
    zconfig_t *secret_node = zconfig_locate (root, "incuhub/sign-secret");
    if (secret_node)
        sodium_memzero (zconfig_value (secret_node),
                        strlen (zconfig_value (secret_node)));
    zconfig_destroy (&root);
    return text;
}

ih_err_t
ih_key_save (ih_key_t *self, const char *dir)
{
    assert (self);
    if (!dir || !self->has_secret || !ih_event_name_valid (self->name))
        return IH_E_BADARG;
    char *key_path = zsys_sprintf ("%s/%s.key", dir, self->name);
    char *pub_path = zsys_sprintf ("%s/%s.pub", dir, self->name);
    assert (key_path && pub_path);
    ih_err_t rc = IH_E_IO;
    char *secret_text = NULL;
    char *public_text = NULL;
    struct stat st;
    if (lstat (pub_path, &st) == 0 || errno != ENOENT) {
        zsys_error ("key: %s already exists, not overwriting", pub_path);
        goto cleanup;
    }
    secret_text = s_render (self, true);
    public_text = s_render (self, false);
    //  O_EXCL on the secret file is the real guard against overwriting.
    rc = s_write_new (key_path, secret_text, 0600);
    if (rc)
        goto cleanup;
    rc = s_write_new (pub_path, public_text, 0644);
    if (rc)
        unlink (key_path);
cleanup:
    if (secret_text) {
        sodium_memzero (secret_text, strlen (secret_text));
        zstr_free (&secret_text);
    }
    zstr_free (&public_text);
    zstr_free (&key_path);
    zstr_free (&pub_path);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_write_text (const char *path, const char *text, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    s_check (fd >= 0);
    s_check (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    s_check (fchmod (fd, mode) == 0);
    close (fd);
}

void
ih_key_test (bool verbose)
{
    if (verbose)
        printf (" * ih_key: ");
    char tmpl[] = "/tmp/ih_key_test.XXXXXX";
    char *dir = mkdtemp (tmpl);
    s_check (dir);
    //  Tests create files with exact modes
    mode_t old_umask = umask (022);

    //  Generate, sign, verify
    ih_key_t *key = ih_key_new ("lh-inc-01");
    s_check (key);
    s_check (ih_key_has_secret (key));
    s_check (streq (ih_key_name (key), "lh-inc-01"));
    uint8_t sig[IH_KEY_SIG_SIZE];
    const uint8_t msg[] = "hello incubator";
    s_check (ih_key_sign (key, msg, sizeof (msg), sig) == IH_OK);
    s_check (ih_key_verify (ih_key_public (key), msg, sizeof (msg), sig) ==
             IH_OK);
    uint8_t bad[sizeof (msg)];
    memcpy (bad, msg, sizeof (msg));
    bad[0] ^= 1;
    s_check (ih_key_verify (ih_key_public (key), bad, sizeof (bad), sig) ==
             IH_E_BADSIG);
    s_check (ih_key_new (NULL) == NULL);
    char long_name[IH_NAME_MAX + 2];
    memset (long_name, 'a', sizeof (long_name) - 1);
    long_name[IH_NAME_MAX + 1] = 0;
    s_check (ih_key_new (long_name) == NULL);
    s_check (ih_key_new_public ("x", NULL) == NULL);

    //  Hex
    char hex[IH_KEY_HEX_SIZE];
    uint8_t raw[IH_KEY_PUBLIC_SIZE];
    ih_key_to_hex (ih_key_public (key), hex);
    s_check (strlen (hex) == 64);
    s_check (ih_key_from_hex (hex, raw) == IH_OK);
    s_check (memcmp (raw, ih_key_public (key), 32) == 0);
    s_check (ih_key_from_hex (NULL, raw) == IH_E_KEY);
    s_check (ih_key_from_hex ("abcd", raw) == IH_E_KEY);
    hex[10] = 'g';
    s_check (ih_key_from_hex (hex, raw) == IH_E_KEY);
    char longhex[70];
    ih_key_to_hex (ih_key_public (key), longhex);
    strcat (longhex, "00");
    s_check (ih_key_from_hex (longhex, raw) == IH_E_KEY);

    //  Public-only key cannot sign or be saved
    ih_key_t *pub = ih_key_new_public ("lh-inc-01", ih_key_public (key));
    s_check (pub);
    s_check (!ih_key_has_secret (pub));
    s_check (ih_key_sign (pub, msg, sizeof (msg), sig) == IH_E_BADARG);
    s_check (ih_key_save (pub, dir) == IH_E_BADARG);
    ih_key_destroy (&pub);
    ih_key_destroy (&pub);

    //  Save: modes, and never overwrite
    s_check (ih_key_save (key, dir) == IH_OK);
    char *key_path = zsys_sprintf ("%s/lh-inc-01.key", dir);
    char *pub_path = zsys_sprintf ("%s/lh-inc-01.pub", dir);
    struct stat st;
    s_check (stat (key_path, &st) == 0);
    s_check ((st.st_mode & 07777) == 0600);
    s_check (stat (pub_path, &st) == 0);
    s_check ((st.st_mode & 07777) == 0644);
    s_check (ih_key_save (key, dir) == IH_E_IO);
    s_check (ih_key_save (key, "/nonexistent-dir-ih") == IH_E_IO);

    //  Load both forms
    ih_key_t *loaded = NULL;
    s_check (ih_key_load (key_path, &loaded) == IH_OK);
    s_check (ih_key_has_secret (loaded));
    s_check (streq (ih_key_name (loaded), "lh-inc-01"));
    s_check (memcmp (ih_key_public (loaded), ih_key_public (key), 32) == 0);
    s_check (ih_key_sign (loaded, msg, sizeof (msg), sig) == IH_OK);
    s_check (ih_key_verify (ih_key_public (key), msg, sizeof (msg), sig) ==
             IH_OK);
    ih_key_destroy (&loaded);
    s_check (ih_key_load (pub_path, &loaded) == IH_OK);
    s_check (!ih_key_has_secret (loaded));
    s_check (memcmp (ih_key_public (loaded), ih_key_public (key), 32) == 0);
    ih_key_destroy (&loaded);

    //  A secret file readable by others is refused; 0600 again is fine
    s_check (chmod (key_path, 0644) == 0);
    s_check (ih_key_load (key_path, &loaded) == IH_E_KEYPERM);
    s_check (loaded == NULL);
    s_check (chmod (key_path, 0640) == 0);
    s_check (ih_key_load (key_path, &loaded) == IH_E_KEYPERM);
    s_check (chmod (key_path, 0600) == 0);
    s_check (ih_key_load (key_path, &loaded) == IH_OK);
    ih_key_destroy (&loaded);

    //  Missing, not a file, malformed
    char *path = zsys_sprintf ("%s/missing.pub", dir);
    s_check (ih_key_load (path, &loaded) == IH_E_KEY);
    s_check (ih_key_load (dir, &loaded) == IH_E_KEY);
    s_check (ih_key_load (NULL, &loaded) == IH_E_KEY);
    zstr_free (&path);
    ih_key_to_hex (ih_key_public (key), hex);
    struct {
        const char *file;
        const char *text;
        mode_t mode;
        ih_err_t expect;
    } cases[] = {
        {"garbage.pub", "\x01\x02 = = \"\n", 0644, IH_E_KEY},
        {"empty.pub", "", 0644, IH_E_KEY},
        {"noname.pub", "incuhub\n    sign-public = \"%s\"\n", 0644, IH_E_KEY},
        {"badname.pub",
         "incuhub\n    name = \"Bad Name\"\n"
         "    sign-public = \"%s\"\n",
         0644, IH_E_KEY},
        {"nopublic.pub", "incuhub\n    name = \"a\"\n", 0644, IH_E_KEY},
        {"shorthex.pub",
         "incuhub\n    name = \"a\"\n"
         "    sign-public = \"abcd\"\n",
         0644, IH_E_KEY},
        {"badsecret.key",
         "incuhub\n    name = \"a\"\n"
         "    sign-public = \"%s\"\n"
         "    sign-secret = \"00\"\n",
         0600, IH_E_KEY},
        {"wrongsecret.key",
         "incuhub\n    name = \"a\"\n"
         "    sign-public = \"%s\"\n    sign-secret = \""
         "0000000000000000000000000000000000000000000000"
         "0000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000\"\n",
         0600, IH_E_KEY},
        {"perm.key",
         "incuhub\n    name = \"a\"\n"
         "    sign-public = \"%s\"\n"
         "    sign-secret = \"00\"\n",
         0604, IH_E_KEYPERM},
        {"ok.pub", "incuhub\n    name = \"a\"\n    sign-public = \"%s\"\n",
         0600, IH_OK},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        path = zsys_sprintf ("%s/%s", dir, cases[i].file);
        char *text = zsys_sprintf (cases[i].text, hex);
        s_write_text (path, text, cases[i].mode);
        ih_err_t rc = ih_key_load (path, &loaded);
        if (rc != cases[i].expect)
            fprintf (stderr, "case %s: got %s\n", cases[i].file,
                     ih_err_name (rc));
        s_check (rc == cases[i].expect);
        s_check ((rc == IH_OK) == (loaded != NULL));
        ih_key_destroy (&loaded);
        unlink (path);
        zstr_free (&path);
        zstr_free (&text);
    }
    //  A secret whose seed does not produce sign-public (one seed byte
    //  changed; the public copy in its last 32 bytes still matches)
    {
        uint8_t secret[IH_KEY_SECRET_SIZE];
        memcpy (secret, key->secret_key, sizeof secret);
        secret[5] ^= 0x10;
        char secret_hex[2 * IH_KEY_SECRET_SIZE + 1];
        sodium_bin2hex (secret_hex, sizeof secret_hex, secret, sizeof secret);
        path = zsys_sprintf ("%s/seed.key", dir);
        char *text = zsys_sprintf ("incuhub\n    name = \"lh-inc-01\"\n"
                                   "    sign-public = \"%s\"\n"
                                   "    sign-secret = \"%s\"\n",
                                   hex, secret_hex);
        s_write_text (path, text, 0600);
        s_check (ih_key_load (path, &loaded) == IH_E_KEY);
        s_check (loaded == NULL);
        unlink (path);
        zstr_free (&path);
        zstr_free (&text);
        sodium_memzero (secret, sizeof secret);
        sodium_memzero (secret_hex, sizeof secret_hex);
    }
    //  Oversize file
    path = zsys_sprintf ("%s/huge.pub", dir);
    char *huge = (char *) zmalloc (S_FILE_MAX + 100);
    memset (huge, '#', S_FILE_MAX + 99);
    s_write_text (path, huge, 0644);
    s_check (ih_key_load (path, &loaded) == IH_E_KEY);
    unlink (path);
    zstr_free (&path);
    free (huge);

    //  Invalid names cannot be saved (they become file names)
    ih_key_t *evil = ih_key_new ("../evil");
    s_check (evil);
    s_check (ih_key_save (evil, dir) == IH_E_BADARG);
    ih_key_destroy (&evil);

    unlink (key_path);
    unlink (pub_path);
    zstr_free (&key_path);
    zstr_free (&pub_path);
    s_check (rmdir (dir) == 0);
    umask (old_umask);
    ih_key_destroy (&key);
    ih_key_destroy (&key);
    if (verbose)
        printf ("OK\n");
}
