/*  =========================================================================
    ih_checkpoint - the hub's signed statement of its log's Merkle root

    Data flow: the hub computes its Merkle root (ih_merkle_root) after a
    commit, signs it here with its own key and hands out the signed bytes
    or the text form; auditors store the text, and `incuhub verify-proof`
    parses it back, decodes, verifies the signature with the hub's public
    key and only then trusts size and root for the proofs.

    Canonical form, as for events: the body has exactly one byte form (the
    shortest msgpack encodings, what msgpack-c's packer emits), enforced on
    decoding by re-encoding the decoded fields and comparing. That is what
    lets the text form carry fields instead of bytes: parsing rebuilds the
    one body the signature was made over.

    Decoding order, which fixes the error code for each kind of bad input:
    size, signature room, structure (ih_msgpack_check at depth 1: truncated
    -> MALFORMED, a nested container -> TOOBIG, extra bytes -> TRAILING),
    not an array -> MALFORMED, empty -> MISSING, version (type, value) before
    the length so a later version may change the shape, then the length,
    each field in order, and the canonical form last.
    =========================================================================*/
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <msgpack.h>
#include <sodium.h>
#include "ih_checkpoint.h"
#include "ih_check.h"
#include "ih_msgpack.h"

#define S_FIELDS 6
#define S_TAG_LEN (sizeof (IH_CHECKPOINT_TAG) - 1)
#define S_TEXT_HEAD "incuhub checkpoint v"

//  Packs the body: the one definition of its canonical form
static void
s_pack_body (msgpack_sbuffer *sbuf, const char *log_id, uint64_t size,
             const uint8_t *root, uint64_t time)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    size_t id_len = strlen (log_id);
    msgpack_pack_array (&pk, S_FIELDS);
    msgpack_pack_uint64 (&pk, IH_CHECKPOINT_VERSION);
    msgpack_pack_str (&pk, S_TAG_LEN);
    msgpack_pack_str_body (&pk, IH_CHECKPOINT_TAG, S_TAG_LEN);
    msgpack_pack_str (&pk, id_len);
    msgpack_pack_str_body (&pk, log_id, id_len);
    msgpack_pack_uint64 (&pk, size);
    msgpack_pack_bin (&pk, IH_HASH_SIZE);
    msgpack_pack_bin_body (&pk, root, IH_HASH_SIZE);
    msgpack_pack_uint64 (&pk, time);
}

//  Writes signature || canonical body into out (IH_CHECKPOINT_MAX bytes)
static void
s_assemble (const char *log_id, uint64_t size, const uint8_t *root,
            uint64_t time, const uint8_t *signature, uint8_t *out,
            size_t *size_p)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    s_pack_body (&sbuf, log_id, size, root, time);
    //  A valid name bounds the body to 139 bytes
    assert (IH_KEY_SIG_SIZE + sbuf.size <= IH_CHECKPOINT_MAX);
    memcpy (out, signature, IH_KEY_SIG_SIZE);
    memcpy (out + IH_KEY_SIG_SIZE, sbuf.data, sbuf.size);
    *size_p = IH_KEY_SIG_SIZE + sbuf.size;
    msgpack_sbuffer_destroy (&sbuf);
}

ih_err_t
ih_checkpoint_sign (uint64_t size, const uint8_t *root, uint64_t time,
                    ih_key_t *key, uint8_t *out, size_t *size_p)
{
    assert (root);
    assert (key);
    assert (out);
    assert (size_p);
    *size_p = 0;
    if (!ih_event_name_valid (ih_key_name (key)))
        return IH_E_BADNAME;
    if (!ih_key_has_secret (key))
        return IH_E_BADARG;
    static const uint8_t no_signature[IH_KEY_SIG_SIZE] = {0};
    size_t total;
    s_assemble (ih_key_name (key), size, root, time, no_signature, out, &total);
    ih_err_t rc =
        ih_key_sign (key, out + IH_KEY_SIG_SIZE, total - IH_KEY_SIG_SIZE, out);
    assert (rc == IH_OK); //  has_secret was checked above
    *size_p = total;
    return IH_OK;
}

ih_err_t
ih_checkpoint_decode (const uint8_t *bytes, size_t size,
                      ih_checkpoint_t *checkpoint)
{
    assert (checkpoint);
    memset (checkpoint, 0, sizeof (*checkpoint));
    if (size > IH_CHECKPOINT_MAX)
        return IH_E_TOOBIG;
    if (!bytes || size <= IH_KEY_SIG_SIZE)
        return IH_E_MALFORMED;
    const uint8_t *body = bytes + IH_KEY_SIG_SIZE;
    size_t body_size = size - IH_KEY_SIG_SIZE;

    //  Structure first: after this, msgpack-c cannot fail or over-allocate
    uint32_t count;
    size_t off;
    ih_err_t rc = ih_msgpack_fields (body, body_size, 1, &count, &off);
    if (rc)
        return rc;

    ih_checkpoint_t cp;
    memset (&cp, 0, sizeof (cp));
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    rc = IH_E_MALFORMED;
    for (uint32_t i = 0; i < count && i < S_FIELDS; i++) {
        if (ih_msgpack_next (&u, body, body_size, &off)) {
            rc = IH_E_MALFORMED;
            goto cleanup;
        }
        msgpack_object *o = &u.data;
        switch (i) {
        case 0: //  version
            rc = ih_msgpack_version (o, IH_CHECKPOINT_VERSION, count, S_FIELDS);
            if (rc)
                goto cleanup;
            break;
        case 1: //  tag: a checkpoint is never mistaken for another message
            if (o->type != MSGPACK_OBJECT_STR) {
                rc = IH_E_TYPE;
                goto cleanup;
            }
            if (o->via.str.size != S_TAG_LEN ||
                memcmp (o->via.str.ptr, IH_CHECKPOINT_TAG, S_TAG_LEN) != 0) {
                rc = IH_E_MALFORMED;
                goto cleanup;
            }
            break;
        case 2: //  log id
            rc = ih_msgpack_name (o, cp.log_id);
            if (rc)
                goto cleanup;
            break;
        case 3: //  size
        case 5: //  time
            rc = ih_msgpack_uint (o, i == 3 ? &cp.size : &cp.time);
            if (rc)
                goto cleanup;
            break;
        case 4: //  root
            rc = ih_msgpack_hash (o, cp.root);
            if (rc)
                goto cleanup;
            break;
        }
    }
    //  Canonical: re-encode and compare byte for byte
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    s_pack_body (&sbuf, cp.log_id, cp.size, cp.root, cp.time);
    bool canonical =
        sbuf.size == body_size && memcmp (sbuf.data, body, body_size) == 0;
    msgpack_sbuffer_destroy (&sbuf);
    if (!canonical) {
        rc = IH_E_MALFORMED;
        goto cleanup;
    }
    memcpy (cp.signature, bytes, IH_KEY_SIG_SIZE);
    *checkpoint = cp;
    rc = IH_OK;
cleanup:
    msgpack_unpacked_destroy (&u);
    return rc;
}

ih_err_t
ih_checkpoint_verify (const uint8_t *bytes, size_t size,
                      const uint8_t *public_key)
{
    assert (public_key);
    if (!bytes || size <= IH_KEY_SIG_SIZE)
        return IH_E_MALFORMED;
    return ih_key_verify (public_key, bytes + IH_KEY_SIG_SIZE,
                          size - IH_KEY_SIG_SIZE, bytes);
}

ih_err_t
ih_checkpoint_to_text (const uint8_t *bytes, size_t size, char **text_p)
{
    assert (text_p);
    *text_p = NULL;
    ih_checkpoint_t cp;
    ih_err_t rc = ih_checkpoint_decode (bytes, size, &cp);
    if (rc)
        return rc;
    char root_hex[2 * IH_HASH_SIZE + 1];
    char sig_hex[2 * IH_KEY_SIG_SIZE + 1];
    sodium_bin2hex (root_hex, sizeof (root_hex), cp.root, IH_HASH_SIZE);
    sodium_bin2hex (sig_hex, sizeof (sig_hex), cp.signature, IH_KEY_SIG_SIZE);
    char *text = (char *) malloc (IH_CHECKPOINT_TEXT_MAX);
    assert (text);
    int len = snprintf (
        text, IH_CHECKPOINT_TEXT_MAX,
        S_TEXT_HEAD "%d\n%s\n%" PRIu64 "\n%s\n%" PRIu64 "\n%s\n",
        IH_CHECKPOINT_VERSION, cp.log_id, cp.size, root_hex, cp.time, sig_hex);
    assert (len > 0 && len < IH_CHECKPOINT_TEXT_MAX);
    *text_p = text;
    return IH_OK;
}

//  Parses a decimal uint64 with no sign, no leading zero (except "0")
static int
s_parse_u64 (const char *s, size_t len, uint64_t *value)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t digit = (uint64_t) (s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    *value = v;
    return 0;
}

//  Parses exactly 2 * size lower-case hex digits into out
static int
s_parse_hex (const char *s, size_t len, uint8_t *out, size_t size)
{
    if (len != 2 * size)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int nibble = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                            : -1;
        if (nibble < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t) (nibble << 4);
        else
            out[i / 2] |= (uint8_t) nibble;
    }
    return 0;
}

ih_err_t
ih_checkpoint_from_text (const char *text, uint8_t *out, size_t *size_p)
{
    assert (text);
    assert (out);
    assert (size_p);
    *size_p = 0;
    size_t text_len = strnlen (text, IH_CHECKPOINT_TEXT_MAX);
    if (text_len >= IH_CHECKPOINT_TEXT_MAX)
        return IH_E_TOOBIG;
    //  Six lines, each ending in "\n", nothing after
    const char *line[S_FIELDS];
    size_t len[S_FIELDS];
    const char *p = text, *end = text + text_len;
    for (int i = 0; i < S_FIELDS; i++) {
        const char *nl = memchr (p, '\n', (size_t) (end - p));
        if (!nl)
            return IH_E_MALFORMED;
        line[i] = p;
        len[i] = (size_t) (nl - p);
        p = nl + 1;
    }
    if (p != end)
        return IH_E_MALFORMED;

    size_t head_len = strlen (S_TEXT_HEAD);
    if (len[0] < head_len || memcmp (line[0], S_TEXT_HEAD, head_len) != 0)
        return IH_E_MALFORMED;
    uint64_t version;
    if (s_parse_u64 (line[0] + head_len, len[0] - head_len, &version))
        return IH_E_MALFORMED;
    if (version != IH_CHECKPOINT_VERSION)
        return IH_E_VERSION;
    ih_checkpoint_t cp;
    memset (&cp, 0, sizeof (cp));
    ih_err_t rc = ih_msgpack_name_copy (line[1], len[1], cp.log_id);
    if (rc)
        return rc;
    if (s_parse_u64 (line[2], len[2], &cp.size) ||
        s_parse_hex (line[3], len[3], cp.root, IH_HASH_SIZE) ||
        s_parse_u64 (line[4], len[4], &cp.time) ||
        s_parse_hex (line[5], len[5], cp.signature, IH_KEY_SIG_SIZE))
        return IH_E_MALFORMED;
    s_assemble (cp.log_id, cp.size, cp.root, cp.time, cp.signature, out,
                size_p);
    return IH_OK;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Which element of a hand-built body to spoil, and how
typedef enum {
    S_GOOD,
    S_VERSION_TYPE,
    S_VERSION_2,
    S_SHORT,
    S_LONG,
    S_TAG_TYPE,
    S_TAG_OTHER,
    S_ID_TYPE,
    S_ID_LONG,
    S_ID_BAD,
    S_ID_NUL,
    S_SIZE_TYPE,
    S_SIZE_NEGATIVE,
    S_ROOT_TYPE,
    S_ROOT_SHORT,
    S_TIME_TYPE,
    S_TIME_WIDE, //  time as uint64 though it fits a fixint
    S_ID_STR8,   //  a short log id as str8
    S_NESTED,    //  a map in place of time
    S_NOT_ARRAY,
    S_EMPTY,
    S_CASES
} s_case_t;

static const ih_err_t s_expect[S_CASES] = {
    IH_OK,        IH_E_TYPE,      IH_E_VERSION,   IH_E_MISSING, IH_E_TRAILING,
    IH_E_TYPE,    IH_E_MALFORMED, IH_E_TYPE,      IH_E_TOOBIG,  IH_E_BADNAME,
    IH_E_BADNAME, IH_E_TYPE,      IH_E_TYPE,      IH_E_TYPE,    IH_E_MALFORMED,
    IH_E_TYPE,    IH_E_MALFORMED, IH_E_MALFORMED, IH_E_TOOBIG,  IH_E_MALFORMED,
    IH_E_MISSING};

//  Builds and signs a body that is good except for case c; returns the
//  signed bytes in out (big enough for any case), *size_p their length
static void
s_build (s_case_t c, ih_key_t *key, uint8_t *out, size_t *size_p)
{
    uint8_t root[IH_HASH_SIZE];
    memset (root, 0x5a, sizeof (root));
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    if (c == S_NOT_ARRAY)
        msgpack_pack_uint64 (&pk, 1);
    else if (c == S_EMPTY)
        msgpack_pack_array (&pk, 0);
    else {
        int fields = c == S_SHORT ? 5 : c == S_LONG ? 7 : 6;
        msgpack_pack_array (&pk, (size_t) fields);
        if (c == S_VERSION_TYPE)
            msgpack_pack_str_with_body (&pk, "1", 1);
        else
            msgpack_pack_uint64 (&pk, c == S_VERSION_2 ? 2 : 1);
        if (c == S_TAG_TYPE)
            msgpack_pack_bin_with_body (&pk, IH_CHECKPOINT_TAG, S_TAG_LEN);
        else if (c == S_TAG_OTHER)
            msgpack_pack_str_with_body (&pk, "incuhub-checkpoinT", S_TAG_LEN);
        else
            msgpack_pack_str_with_body (&pk, IH_CHECKPOINT_TAG, S_TAG_LEN);
        char long_id[IH_NAME_MAX + 1];
        memset (long_id, 'h', sizeof (long_id));
        if (c == S_ID_TYPE)
            msgpack_pack_uint64 (&pk, 7);
        else if (c == S_ID_LONG)
            msgpack_pack_str_with_body (&pk, long_id, sizeof (long_id));
        else if (c == S_ID_BAD)
            msgpack_pack_str_with_body (&pk, "Hub-QD", 6);
        else if (c == S_ID_NUL)
            msgpack_pack_str_with_body (&pk, "hub\0qd", 6);
        else if (c == S_ID_STR8) {
            static const uint8_t str8[] = {0xd9, 6,   'h', 'u',
                                           'b',  '-', 'q', 'd'};
            msgpack_sbuffer_write (&sbuf, (const char *) str8, sizeof (str8));
        } else
            msgpack_pack_str_with_body (&pk, "hub-qd", 6);
        if (c == S_SIZE_TYPE)
            msgpack_pack_str_with_body (&pk, "42", 2);
        else if (c == S_SIZE_NEGATIVE)
            msgpack_pack_int64 (&pk, -42);
        else
            msgpack_pack_uint64 (&pk, 42);
        if (c == S_ROOT_TYPE)
            msgpack_pack_str_with_body (&pk, root, sizeof (root));
        else
            msgpack_pack_bin_with_body (&pk, root, c == S_ROOT_SHORT ? 31 : 32);
        if (c == S_SHORT)
            ; //  no time
        else if (c == S_TIME_TYPE)
            msgpack_pack_true (&pk);
        else if (c == S_TIME_WIDE) {
            static const uint8_t u64[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 9};
            msgpack_sbuffer_write (&sbuf, (const char *) u64, sizeof (u64));
        } else if (c == S_NESTED)
            msgpack_pack_map (&pk, 0);
        else
            msgpack_pack_uint64 (&pk, 1700000000000);
        if (c == S_LONG)
            msgpack_pack_nil (&pk);
    }
    ih_check (IH_KEY_SIG_SIZE + sbuf.size <= 2 * IH_CHECKPOINT_MAX);
    memcpy (out + IH_KEY_SIG_SIZE, sbuf.data, sbuf.size);
    *size_p = IH_KEY_SIG_SIZE + sbuf.size;
    ih_check (ih_key_sign (key, out + IH_KEY_SIG_SIZE, sbuf.size, out) ==
              IH_OK);
    msgpack_sbuffer_destroy (&sbuf);
}

//  Replaces line `which` (0-based) of text with `with` and parses
static ih_err_t
s_parse_with_line (const char *text, int which, const char *with)
{
    char buf[2 * IH_CHECKPOINT_TEXT_MAX] = "";
    const char *p = text;
    for (int i = 0; i < S_FIELDS; i++) {
        const char *nl = strchr (p, '\n');
        ih_check (nl);
        if (i == which)
            strcat (buf, with);
        else
            strncat (buf, p, (size_t) (nl - p));
        strcat (buf, "\n");
        p = nl + 1;
    }
    uint8_t out[IH_CHECKPOINT_MAX];
    size_t size;
    return ih_checkpoint_from_text (buf, out, &size);
}

void
ih_checkpoint_test (bool verbose)
{
    if (verbose)
        printf (" * ih_checkpoint: ");
    ih_key_t *key = ih_key_new ("hub-qd");
    ih_key_t *other = ih_key_new ("hub-qd");
    ih_check (key && other);
    uint8_t root[IH_HASH_SIZE];
    for (size_t i = 0; i < sizeof (root); i++)
        root[i] = (uint8_t) (i * 7);

    //  Round trip, at the smallest and largest values
    const uint64_t sizes[] = {0, 1, 127, 128, 65536, UINT64_MAX};
    for (size_t t = 0; t < sizeof (sizes) / sizeof (sizes[0]); t++) {
        uint8_t cp_bytes[IH_CHECKPOINT_MAX];
        size_t cp_size;
        uint64_t time = sizes[t] ^ 0x5555;
        ih_check (ih_checkpoint_sign (sizes[t], root, time, key, cp_bytes,
                                      &cp_size) == IH_OK);
        ih_checkpoint_t cp;
        ih_check (ih_checkpoint_decode (cp_bytes, cp_size, &cp) == IH_OK);
        ih_check (streq (cp.log_id, "hub-qd"));
        ih_check (cp.size == sizes[t] && cp.time == time);
        ih_check (memcmp (cp.root, root, IH_HASH_SIZE) == 0);
        ih_check (memcmp (cp.signature, cp_bytes, IH_KEY_SIG_SIZE) == 0);
        ih_check (ih_checkpoint_verify (cp_bytes, cp_size,
                                        ih_key_public (key)) == IH_OK);
        ih_check (ih_checkpoint_verify (cp_bytes, cp_size,
                                        ih_key_public (other)) == IH_E_BADSIG);
        //  Text round trip gives the very same bytes
        char *text;
        ih_check (ih_checkpoint_to_text (cp_bytes, cp_size, &text) == IH_OK);
        ih_check (strlen (text) < IH_CHECKPOINT_TEXT_MAX);
        uint8_t back[IH_CHECKPOINT_MAX];
        size_t back_size;
        ih_check (ih_checkpoint_from_text (text, back, &back_size) == IH_OK);
        ih_check (back_size == cp_size &&
                  memcmp (back, cp_bytes, cp_size) == 0);
        if (verbose && t == 1)
            printf ("\n%s", text);
        zstr_free (&text);
    }

    //  The longest log id gives the largest checkpoint, within bounds
    char long_name[IH_NAME_MAX + 1];
    memset (long_name, 'z', IH_NAME_MAX);
    long_name[IH_NAME_MAX] = 0;
    ih_key_t *long_key = ih_key_new (long_name);
    ih_check (long_key);
    uint8_t cp_bytes[IH_CHECKPOINT_MAX];
    size_t cp_size;
    ih_check (ih_checkpoint_sign (UINT64_MAX, root, UINT64_MAX, long_key,
                                  cp_bytes, &cp_size) == IH_OK);
    ih_check (cp_size == 203);
    char *text;
    ih_check (ih_checkpoint_to_text (cp_bytes, cp_size, &text) == IH_OK);
    ih_check (strlen (text) + 1 == 324);
    zstr_free (&text);
    ih_key_destroy (&long_key);

    //  Signing errors
    ih_key_t *pub = ih_key_new_public ("hub-qd", ih_key_public (key));
    ih_check (ih_checkpoint_sign (1, root, 1, pub, cp_bytes, &cp_size) ==
              IH_E_BADARG);
    ih_key_destroy (&pub);
    ih_key_t *bad_name = ih_key_new ("Hub QD");
    ih_check (bad_name);
    ih_check (ih_checkpoint_sign (1, root, 1, bad_name, cp_bytes, &cp_size) ==
              IH_E_BADNAME);
    ih_key_destroy (&bad_name);

    //  Every decode error path, each body validly signed
    ih_checkpoint_t cp;
    for (int c = 0; c < S_CASES; c++) {
        uint8_t buf[2 * IH_CHECKPOINT_MAX];
        size_t size;
        s_build ((s_case_t) c, key, buf, &size);
        ih_err_t rc = ih_checkpoint_decode (buf, size, &cp);
        if (rc != s_expect[c])
            fprintf (stderr, "ih_checkpoint_test: case %d: got %s want %s\n", c,
                     ih_err_name (rc), ih_err_name (s_expect[c]));
        ih_check (rc == s_expect[c]);
        ih_check (ih_checkpoint_verify (buf, size, ih_key_public (key)) ==
                  IH_OK);
    }
    uint8_t good[2 * IH_CHECKPOINT_MAX];
    size_t good_size;
    s_build (S_GOOD, key, good, &good_size);
    ih_check (ih_checkpoint_decode (good, good_size, &cp) == IH_OK);
    ih_check (cp.size == 42 && cp.time == 1700000000000);
    //  Truncation at every length; a trailing byte; size limits
    for (size_t len = 0; len < good_size; len++) {
        ih_err_t rc = ih_checkpoint_decode (good, len, &cp);
        ih_check (rc == IH_E_MALFORMED);
    }
    ih_check (ih_checkpoint_decode (NULL, 0, &cp) == IH_E_MALFORMED);
    good[good_size] = 0x00;
    ih_check (ih_checkpoint_decode (good, good_size + 1, &cp) == IH_E_TRAILING);
    ih_check (ih_checkpoint_decode (good, IH_CHECKPOINT_MAX + 1, &cp) ==
              IH_E_TOOBIG);
    uint8_t never[IH_KEY_SIG_SIZE + 1];
    memset (never, 0, sizeof (never));
    never[IH_KEY_SIG_SIZE] = 0xc1;
    ih_check (ih_checkpoint_decode (never, sizeof (never), &cp) ==
              IH_E_MALFORMED);
    //  A huge announced count is refused without allocating
    uint8_t huge[IH_KEY_SIG_SIZE + 5] = {0};
    memcpy (huge + IH_KEY_SIG_SIZE, "\xdd\xff\xff\xff\xff", 5);
    ih_check (ih_checkpoint_decode (huge, sizeof (huge), &cp) ==
              IH_E_MALFORMED);
    ih_check (ih_checkpoint_verify (good, IH_KEY_SIG_SIZE,
                                    ih_key_public (key)) == IH_E_MALFORMED);
    ih_check (ih_checkpoint_verify (NULL, 0, ih_key_public (key)) ==
              IH_E_MALFORMED);
    //  Every byte flipped: refused by decode or by the signature
    for (size_t i = 0; i < good_size; i++) {
        good[i] ^= 0x01;
        ih_check (ih_checkpoint_decode (good, good_size, &cp) != IH_OK ||
                  ih_checkpoint_verify (good, good_size, ih_key_public (key)) ==
                      IH_E_BADSIG);
        good[i] ^= 0x01;
    }

    //  Text form errors
    ih_check (ih_checkpoint_to_text (good, 10, &text) == IH_E_MALFORMED);
    ih_check (text == NULL);
    ih_check (ih_checkpoint_to_text (good, good_size, &text) == IH_OK);
    uint8_t out[IH_CHECKPOINT_MAX];
    size_t out_size;
    ih_check (ih_checkpoint_from_text (text, out, &out_size) == IH_OK);
    ih_check (out_size == good_size && memcmp (out, good, good_size) == 0);
    static const struct {
        int line;
        const char *with;
        ih_err_t expect;
    } lines[] = {
        {0, "incuhub checkpoint v2", IH_E_VERSION},
        {0, "incuhub checkpoint v01", IH_E_MALFORMED},
        {0, "incuhub checkpoint v", IH_E_MALFORMED},
        {0, "incuhub checkpoint", IH_E_MALFORMED},
        {0, "incuhub checkpoint v1 ", IH_E_MALFORMED},
        {0, "Incuhub checkpoint v1", IH_E_MALFORMED},
        {1, "", IH_E_BADNAME},
        {1, "Hub-qd", IH_E_BADNAME},
        {1, "hub qd", IH_E_BADNAME},
        {1, "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",
         IH_E_TOOBIG},
        {2, "", IH_E_MALFORMED},
        {2, "042", IH_E_MALFORMED},
        {2, "+42", IH_E_MALFORMED},
        {2, "-1", IH_E_MALFORMED},
        {2, "4 2", IH_E_MALFORMED},
        {2, "18446744073709551616", IH_E_MALFORMED},
        {2, "99999999999999999999", IH_E_MALFORMED},
        {2, "184467440737095516150", IH_E_MALFORMED},
        {3, "", IH_E_MALFORMED},
        {3, "5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A",
         IH_E_MALFORMED},
        {3, "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
         IH_E_MALFORMED},
        {3, "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5g",
         IH_E_MALFORMED},
        {4, "1700000000000 ", IH_E_MALFORMED},
        {4, "0x10", IH_E_MALFORMED},
        {5, "00", IH_E_MALFORMED},
    };
    for (size_t t = 0; t < sizeof (lines) / sizeof (lines[0]); t++) {
        ih_err_t rc = s_parse_with_line (text, lines[t].line, lines[t].with);
        if (rc != lines[t].expect)
            fprintf (stderr, "ih_checkpoint_test: text %zu: got %s want %s\n",
                     t, ih_err_name (rc), ih_err_name (lines[t].expect));
        ih_check (rc == lines[t].expect);
    }
    //  The boundary values parse: 0 and 2^64-1
    ih_check (s_parse_with_line (text, 2, "0") == IH_OK);
    ih_check (s_parse_with_line (text, 4, "18446744073709551615") == IH_OK);
    //  Framing: missing final newline, extra line, CRLF, empty
    char buf[2 * IH_CHECKPOINT_TEXT_MAX];
    size_t text_len = strlen (text);
    memcpy (buf, text, text_len + 1);
    buf[text_len - 1] = 0;
    ih_check (ih_checkpoint_from_text (buf, out, &out_size) == IH_E_MALFORMED);
    snprintf (buf, sizeof (buf), "%sx\n", text);
    ih_check (ih_checkpoint_from_text (buf, out, &out_size) == IH_E_MALFORMED);
    snprintf (buf, sizeof (buf), "%s\n", text);
    ih_check (ih_checkpoint_from_text (buf, out, &out_size) == IH_E_MALFORMED);
    ih_check (ih_checkpoint_from_text ("", out, &out_size) == IH_E_MALFORMED);
    char *crlf = strchr (text, '\n');
    memcpy (buf, text, (size_t) (crlf - text));
    snprintf (buf + (crlf - text), sizeof (buf) - (size_t) (crlf - text),
              "\r%s", crlf);
    ih_check (ih_checkpoint_from_text (buf, out, &out_size) == IH_E_MALFORMED);
    memset (buf, 'a', sizeof (buf) - 1);
    buf[sizeof (buf) - 1] = 0;
    ih_check (ih_checkpoint_from_text (buf, out, &out_size) == IH_E_TOOBIG);
    //  A parsed text with a changed field still parses, but its signature
    //  no longer verifies
    ih_check (s_parse_with_line (text, 2, "43") == IH_OK);
    char *edited = strdup (text);
    ih_check (edited);
    char *size_line = strchr (strchr (edited, '\n') + 1, '\n') + 1;
    ih_check (strncmp (size_line, "42\n", 3) == 0);
    size_line[1] = '3';
    ih_check (ih_checkpoint_from_text (edited, out, &out_size) == IH_OK);
    ih_check (ih_checkpoint_verify (out, out_size, ih_key_public (key)) ==
              IH_E_BADSIG);
    free (edited);
    zstr_free (&text);

    ih_key_destroy (&key);
    ih_key_destroy (&other);
    if (verbose)
        printf ("OK\n");
}
