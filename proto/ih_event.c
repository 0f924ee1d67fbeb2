/*  =========================================================================
    ih_event - the signed event, incuhub's unit of record

    Data flow: an agent builds an ih_event_t, ih_event_sign turns it into the
    signed bytes it keeps in its outbox and sends in EVENT; the hub runs
    ih_event_decode (shape), ih_event_verify (signature against the
    registered key) and ih_event_hash (chain) and stores the bytes verbatim;
    readers decode them again from the log, forever.

    Canonical form. The body is [version, site, seq, ts, type, prev, data]
    with every header field (the array header and the first six elements)
    in msgpack's shortest encoding, which is what msgpack-c's packer emits.
    The decoder enforces it by re-encoding the header fields it decoded and
    comparing the result with the input: so one logical header has exactly
    one byte form, and the offset where data starts falls out for free.
    data is opaque: the signer copies it in verbatim after checking it is
    exactly one well-formed map; it is not re-canonicalised.

    Decoding order, which fixes the error code for each kind of bad input:
    size, signature room, structure (ih_msgpack_check: truncated -> MALFORMED,
    too deep -> TOOBIG, extra bytes -> TRAILING), not an array -> MALFORMED,
    empty -> MISSING, version type/value (checked before the length so that
    a future version may change the shape), then length, then each field in
    order, then canonical form.
    =========================================================================*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <msgpack.h>
#include <sodium.h>
#include "ih_event.h"
#include "ih_check.h"
#include "ih_msgpack.h"

#define S_BODY_FIELDS 7

bool
ih_event_name_valid (const char *name)
{
    if (!name)
        return false;
    size_t len = strnlen (name, IH_NAME_MAX + 1);
    if (len < 1 || len > IH_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

//  Packs the header fields (array header + first six elements). This is
//  the one definition of the canonical header, used to sign and to check.
static void
s_pack_header (msgpack_packer *pk, const char *site, uint64_t seq, uint64_t ts,
               const char *type, const uint8_t *prev)
{
    size_t site_len = strlen (site);
    size_t type_len = strlen (type);
    msgpack_pack_array (pk, S_BODY_FIELDS);
    msgpack_pack_uint64 (pk, IH_EVENT_VERSION);
    msgpack_pack_str (pk, site_len);
    msgpack_pack_str_body (pk, site, site_len);
    msgpack_pack_uint64 (pk, seq);
    msgpack_pack_uint64 (pk, ts);
    msgpack_pack_str (pk, type_len);
    msgpack_pack_str_body (pk, type, type_len);
    msgpack_pack_bin (pk, IH_HASH_SIZE);
    msgpack_pack_bin_body (pk, prev, IH_HASH_SIZE);
}

ih_err_t
ih_event_sign (const ih_event_t *event, ih_key_t *key, uint8_t **out_p,
               size_t *size_p)
{
    assert (event);
    assert (key);
    assert (out_p);
    assert (size_p);
    *out_p = NULL;
    *size_p = 0;
    if (!ih_event_name_valid (event->site) ||
        !ih_event_name_valid (event->type))
        return IH_E_BADNAME;
    if (event->seq == 0 || !ih_key_has_secret (key) ||
        !streq (event->site, ih_key_name (key)))
        return IH_E_BADARG;

    //  NULL data with size 0 means an empty map
    static const uint8_t empty_map[] = {0x80};
    const uint8_t *data = event->data;
    size_t data_size = event->data_size;
    if (!data && data_size == 0) {
        data = empty_map;
        data_size = sizeof (empty_map);
    }
    if (!data)
        return IH_E_MALFORMED;
    if (data_size > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    size_t used = 0;
    ih_err_t rc = ih_msgpack_check (data, data_size, IH_MSGPACK_DEPTH, &used);
    if (rc == IH_E_TOOBIG)
        return IH_E_TOOBIG;
    if (rc || used != data_size || !ih_msgpack_is_map (data, data_size))
        return IH_E_MALFORMED;

    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    s_pack_header (&pk, event->site, event->seq, event->ts, event->type,
                   event->prev);
    size_t body_size = sbuf.size + data_size;
    if (IH_KEY_SIG_SIZE + body_size > IH_EVENT_MAX) {
        msgpack_sbuffer_destroy (&sbuf);
        return IH_E_TOOBIG;
    }
    size_t size = IH_KEY_SIG_SIZE + body_size;
    uint8_t *out = (uint8_t *) malloc (size);
    assert (out);
    memcpy (out + IH_KEY_SIG_SIZE, sbuf.data, sbuf.size);
    memcpy (out + IH_KEY_SIG_SIZE + sbuf.size, data, data_size);
    msgpack_sbuffer_destroy (&sbuf);
    rc = ih_key_sign (key, out + IH_KEY_SIG_SIZE, body_size, out);
    assert (rc == IH_OK); //  has_secret was checked above
    *out_p = out;
    *size_p = size;
    return IH_OK;
}

ih_err_t
ih_event_decode (const uint8_t *bytes, size_t size, ih_event_t *event)
{
    assert (event);
    memset (event, 0, sizeof (*event));
    if (size > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    if (!bytes || size <= IH_KEY_SIG_SIZE)
        return IH_E_MALFORMED;
    const uint8_t *body = bytes + IH_KEY_SIG_SIZE;
    size_t body_size = size - IH_KEY_SIG_SIZE;

    //  Structure first: after this, msgpack-c cannot fail or over-allocate.
    //  The body array is one level, data may use the rest.
    uint32_t count;
    size_t off;
    ih_err_t rc =
        ih_msgpack_fields (body, body_size, IH_MSGPACK_DEPTH + 1, &count, &off);
    if (rc)
        return rc;

    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t data_off = 0;
    ih_event_t ev;
    memset (&ev, 0, sizeof (ev));
    rc = IH_E_MALFORMED;
    for (uint32_t i = 0; i < count && i < S_BODY_FIELDS; i++) {
        if (i == S_BODY_FIELDS - 1)
            data_off = off;
        if (ih_msgpack_next (&u, body, body_size, &off)) {
            rc = IH_E_MALFORMED;
            goto cleanup;
        }
        msgpack_object *o = &u.data;
        switch (i) {
        case 0: //  version
            rc = ih_msgpack_version (o, IH_EVENT_VERSION, count, S_BODY_FIELDS);
            if (rc)
                goto cleanup;
            break;
        case 1: //  site
        case 4: //  type
            rc = ih_msgpack_name (o, i == 1 ? ev.site : ev.type);
            if (rc)
                goto cleanup;
            break;
        case 2: //  seq
        case 3: //  ts
            rc = ih_msgpack_uint (o, i == 2 ? &ev.seq : &ev.ts);
            if (rc)
                goto cleanup;
            if (i == 2 && ev.seq == 0) {
                rc = IH_E_MALFORMED; //  sequences start at 1
                goto cleanup;
            }
            break;
        case 5: //  prev
            rc = ih_msgpack_hash (o, ev.prev);
            if (rc)
                goto cleanup;
            break;
        case 6: //  data
            if (o->type != MSGPACK_OBJECT_MAP) {
                rc = IH_E_TYPE;
                goto cleanup;
            }
            break;
        }
    }
    //  Canonical header: re-encode and compare byte for byte
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    s_pack_header (&pk, ev.site, ev.seq, ev.ts, ev.type, ev.prev);
    bool canonical =
        sbuf.size == data_off && memcmp (sbuf.data, body, data_off) == 0;
    msgpack_sbuffer_destroy (&sbuf);
    if (!canonical) {
        rc = IH_E_MALFORMED;
        goto cleanup;
    }
    ev.data = body + data_off;
    ev.data_size = body_size - data_off;
    *event = ev;
    rc = IH_OK;
cleanup:
    msgpack_unpacked_destroy (&u);
    return rc;
}

ih_err_t
ih_event_verify (const uint8_t *bytes, size_t size, const uint8_t *public_key)
{
    assert (public_key);
    if (!bytes || size < IH_KEY_SIG_SIZE)
        return IH_E_MALFORMED;
    return ih_key_verify (public_key, bytes + IH_KEY_SIG_SIZE,
                          size - IH_KEY_SIG_SIZE, bytes);
}

void
ih_event_hash (const uint8_t *bytes, size_t size, uint8_t *hash)
{
    assert (hash);
    assert (bytes || size == 0);
    crypto_hash_sha256 (hash, bytes, size);
}

uint64_t
ih_event_now (void)
{
    return (uint64_t) zclock_time ();
}

//  --------------------------------------------------------------------------
//  Selftest

//  Signs raw body bytes (any shape) with key: test helper that builds
//  events the encoder would refuse to produce.
static uint8_t *
s_sign_raw (ih_key_t *key, const uint8_t *body, size_t body_size,
            size_t *size_p)
{
    uint8_t *out = (uint8_t *) malloc (IH_KEY_SIG_SIZE + body_size + 1);
    ih_check (out);
    memcpy (out + IH_KEY_SIG_SIZE, body, body_size);
    ih_check (ih_key_sign (key, body, body_size, out) == IH_OK);
    *size_p = IH_KEY_SIG_SIZE + body_size;
    return out;
}

//  Packs a body with the given field values; nfields limits the array
//  length so missing fields can be tested. variant picks a wrong type.
static uint8_t *
s_body (int nfields, int array_len, int bad_field, size_t *size_p)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, (size_t) array_len);
    uint8_t prev[IH_HASH_SIZE] = {0};
    for (int i = 0; i < nfields; i++) {
        if (i == bad_field) {
            //  A type no field accepts in that position
            if (i == 0 || i == 2 || i == 3)
                msgpack_pack_str (&pk, 1), msgpack_pack_str_body (&pk, "x", 1);
            else
                msgpack_pack_int64 (&pk, -1);
            continue;
        }
        switch (i) {
        case 0:
            msgpack_pack_uint64 (&pk, 1);
            break;
        case 1:
            msgpack_pack_str (&pk, 2);
            msgpack_pack_str_body (&pk, "s1", 2);
            break;
        case 2:
            msgpack_pack_uint64 (&pk, 7);
            break;
        case 3:
            msgpack_pack_uint64 (&pk, 1700000000000ULL);
            break;
        case 4:
            msgpack_pack_str (&pk, 1);
            msgpack_pack_str_body (&pk, "t", 1);
            break;
        case 5:
            msgpack_pack_bin (&pk, 32);
            msgpack_pack_bin_body (&pk, prev, 32);
            break;
        case 6:
            msgpack_pack_map (&pk, 0);
            break;
        default:
            msgpack_pack_nil (&pk);
            break;
        }
    }
    uint8_t *out = (uint8_t *) malloc (sbuf.size);
    ih_check (out);
    memcpy (out, sbuf.data, sbuf.size);
    *size_p = sbuf.size;
    msgpack_sbuffer_destroy (&sbuf);
    return out;
}

static ih_err_t
s_decode_body (ih_key_t *key, const uint8_t *body, size_t body_size)
{
    size_t size;
    uint8_t *ev = s_sign_raw (key, body, body_size, &size);
    ih_event_t event;
    ih_err_t rc = ih_event_decode (ev, size, &event);
    if (rc == IH_OK)
        ih_check (ih_event_verify (ev, size, ih_key_public (key)) == IH_OK);
    free (ev);
    return rc;
}

static ih_err_t
s_decode_hex (ih_key_t *key, const char *hex)
{
    uint8_t body[512];
    size_t len = 0;
    ih_check (sodium_hex2bin (body, sizeof (body), hex, strlen (hex), " ", &len,
                              NULL) == 0);
    return s_decode_body (key, body, len);
}

//  Loads fixture dir/name, checks that it decodes to expect and, for those
//  that decode, that it verifies (or not) with the fixture site's key.
static void
s_fixture (const char *dir, const char *name, ih_key_t *key, ih_err_t expect,
           ih_err_t expect_verify)
{
    char *path = zsys_sprintf ("%s/%s", dir, name);
    FILE *file = fopen (path, "rb");
    if (!file)
        fprintf (stderr,
                 "ih_event_test: missing fixture %s (set "
                 "IH_FIXTURES)\n",
                 path);
    ih_check (file);
    uint8_t *buf = (uint8_t *) malloc (IH_EVENT_MAX + 2);
    ih_check (buf);
    size_t size = fread (buf, 1, IH_EVENT_MAX + 2, file);
    fclose (file);
    ih_event_t event;
    ih_err_t rc = ih_event_decode (buf, size, &event);
    if (rc != expect)
        fprintf (stderr, "ih_event_test: fixture %s: got %s want %s\n", name,
                 ih_err_name (rc), ih_err_name (expect));
    ih_check (rc == expect);
    if (rc == IH_OK)
        ih_check (ih_event_verify (buf, size, ih_key_public (key)) ==
                  expect_verify);
    free (buf);
    zstr_free (&path);
}

void
ih_event_test (bool verbose)
{
    if (verbose)
        printf (" * ih_event: ");
    ih_key_t *key = ih_key_new ("lh-inc-01");
    ih_check (key);

    //  Names
    ih_check (ih_event_name_valid ("lh-inc-01"));
    ih_check (ih_event_name_valid ("a.b_c-9"));
    ih_check (!ih_event_name_valid (""));
    ih_check (!ih_event_name_valid (NULL));
    ih_check (!ih_event_name_valid ("Upper"));
    ih_check (!ih_event_name_valid ("a/b"));
    ih_check (!ih_event_name_valid ("a b"));
    char name[IH_NAME_MAX + 2];
    memset (name, 'a', IH_NAME_MAX);
    name[IH_NAME_MAX] = 0;
    ih_check (ih_event_name_valid (name));
    name[IH_NAME_MAX] = 'a';
    name[IH_NAME_MAX + 1] = 0;
    ih_check (!ih_event_name_valid (name));

    //  Round trip
    const uint8_t data[] = {
        0x81, 0xa4, 't', 'e', 'm', 'p', 0xcb, 0x40,
        0x42, 0x80, 0,   0,   0,   0,   0}; //  {"temp": 37.0}
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    strcpy (event.site, "lh-inc-01");
    strcpy (event.type, "sensor.temp");
    event.seq = 1;
    event.ts = ih_event_now ();
    ih_check (event.ts > 1600000000000ULL);
    event.data = data;
    event.data_size = sizeof (data);
    uint8_t *signed_ev = NULL;
    size_t size = 0;
    ih_check (ih_event_sign (&event, key, &signed_ev, &size) == IH_OK);
    ih_check (size > IH_KEY_SIG_SIZE);
    ih_check (signed_ev[IH_KEY_SIG_SIZE] == 0x97); //  fixarray of 7
    ih_event_t decoded;
    ih_check (ih_event_decode (signed_ev, size, &decoded) == IH_OK);
    ih_check (streq (decoded.site, "lh-inc-01"));
    ih_check (streq (decoded.type, "sensor.temp"));
    ih_check (decoded.seq == 1);
    ih_check (decoded.ts == event.ts);
    ih_check (memcmp (decoded.prev, event.prev, IH_HASH_SIZE) == 0);
    ih_check (decoded.data_size == sizeof (data));
    ih_check (memcmp (decoded.data, data, sizeof (data)) == 0);
    ih_check (decoded.data == signed_ev + size - sizeof (data));
    ih_check (ih_event_verify (signed_ev, size, ih_key_public (key)) == IH_OK);

    //  Chain: the next event's prev is this one's hash, and a resign of
    //  the same event gives the same bytes (Ed25519 is deterministic)
    uint8_t hash[IH_HASH_SIZE];
    ih_event_hash (signed_ev, size, hash);
    uint8_t *again = NULL;
    size_t again_size = 0;
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_OK);
    ih_check (again_size == size && memcmp (again, signed_ev, size) == 0);
    free (again);
    event.seq = 2;
    memcpy (event.prev, hash, IH_HASH_SIZE);
    event.data = NULL;
    event.data_size = 0; //  empty map
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_OK);
    ih_check (ih_event_decode (again, again_size, &decoded) == IH_OK);
    ih_check (memcmp (decoded.prev, hash, IH_HASH_SIZE) == 0);
    ih_check (decoded.data_size == 1 && decoded.data[0] == 0x80);
    free (again);
    memset (event.prev, 0, IH_HASH_SIZE);
    event.seq = 1;
    event.data = data;
    event.data_size = sizeof (data);

    //  Large integers take their shortest forms
    event.seq = 0xffffffffffffffffULL;
    event.ts = 0;
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_OK);
    ih_check (ih_event_decode (again, again_size, &decoded) == IH_OK);
    ih_check (decoded.seq == 0xffffffffffffffffULL && decoded.ts == 0);
    free (again);
    event.seq = 1;
    event.ts = 1700000000000ULL;

    //  Signature: wrong key, flipped byte anywhere
    ih_key_t *other = ih_key_new ("lh-inc-01");
    ih_check (ih_event_verify (signed_ev, size, ih_key_public (other)) ==
              IH_E_BADSIG);
    ih_key_destroy (&other);
    for (size_t i = 0; i < size; i++) {
        signed_ev[i] ^= 0x01;
        ih_check (ih_event_verify (signed_ev, size, ih_key_public (key)) ==
                  IH_E_BADSIG);
        signed_ev[i] ^= 0x01;
    }
    ih_check (ih_event_verify (signed_ev, 10, ih_key_public (key)) ==
              IH_E_MALFORMED);
    ih_check (ih_event_verify (signed_ev, IH_KEY_SIG_SIZE,
                               ih_key_public (key)) == IH_E_BADSIG);

    //  Truncated at every length
    for (size_t len = 0; len < size; len++)
        ih_check (ih_event_decode (signed_ev, len, &decoded) == IH_E_MALFORMED);
    ih_check (ih_event_decode (NULL, 0, &decoded) == IH_E_MALFORMED);

    //  Trailing bytes
    uint8_t *longer = (uint8_t *) malloc (size + 1);
    memcpy (longer, signed_ev, size);
    longer[size] = 0xc0;
    ih_check (ih_event_decode (longer, size + 1, &decoded) == IH_E_TRAILING);
    free (longer);

    //  Oversize
    uint8_t *huge = (uint8_t *) zmalloc (IH_EVENT_MAX + 1);
    ih_check (ih_event_decode (huge, IH_EVENT_MAX + 1, &decoded) ==
              IH_E_TOOBIG);
    free (huge);

    //  Sign-side errors
    ih_key_t *pub = ih_key_new_public ("lh-inc-01", ih_key_public (key));
    ih_check (ih_event_sign (&event, pub, &again, &again_size) == IH_E_BADARG);
    ih_key_destroy (&pub);
    event.seq = 0;
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_BADARG);
    event.seq = 1;
    strcpy (event.site, "lh-inc-02");
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_BADARG);
    strcpy (event.site, "LH");
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_BADNAME);
    strcpy (event.site, "lh-inc-01");
    strcpy (event.type, "");
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_BADNAME);
    strcpy (event.type, "t");
    const uint8_t not_map[] = {0x91, 0x01};
    const uint8_t two_maps[] = {0x80, 0x80};
    const uint8_t cut_map[] = {0x81, 0xa1};
    event.data = not_map;
    event.data_size = sizeof (not_map);
    ih_check (ih_event_sign (&event, key, &again, &again_size) ==
              IH_E_MALFORMED);
    event.data = two_maps;
    event.data_size = sizeof (two_maps);
    ih_check (ih_event_sign (&event, key, &again, &again_size) ==
              IH_E_MALFORMED);
    event.data = cut_map;
    event.data_size = sizeof (cut_map);
    ih_check (ih_event_sign (&event, key, &again, &again_size) ==
              IH_E_MALFORMED);
    event.data = NULL;
    event.data_size = 3;
    ih_check (ih_event_sign (&event, key, &again, &again_size) ==
              IH_E_MALFORMED);
    //  A map of one big string: too big once signed
    size_t big_size = IH_EVENT_MAX - 20;
    uint8_t *big = (uint8_t *) zmalloc (big_size);
    big[0] = 0x81;
    big[1] = 0xa1;
    big[2] = 'k';
    big[3] = 0xdb; //  str32
    uint32_t slen = (uint32_t) (big_size - 8);
    big[4] = (uint8_t) (slen >> 24);
    big[5] = (uint8_t) (slen >> 16);
    big[6] = (uint8_t) (slen >> 8);
    big[7] = (uint8_t) slen;
    event.data = big;
    event.data_size = big_size;
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_TOOBIG);
    event.data_size = IH_EVENT_MAX + 1;
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_TOOBIG);
    free (big);
    //  Too deep: 40 nested maps
    uint8_t deep[200];
    size_t dn = 0;
    for (int i = 0; i < 40; i++) {
        deep[dn++] = 0x81;
        deep[dn++] = 0xa1;
        deep[dn++] = 'k';
    }
    deep[dn++] = 0xc0;
    event.data = deep;
    event.data_size = dn;
    ih_check (ih_event_sign (&event, key, &again, &again_size) == IH_E_TOOBIG);
    ih_check (again == NULL && again_size == 0);
    event.data = data;
    event.data_size = sizeof (data);

    //  Decode-side shape errors, each signed so only the shape is wrong
    uint8_t *body;
    size_t body_size;
    body = s_body (7, 7, -1, &body_size);
    ih_check (s_decode_body (key, body, body_size) == IH_OK);
    free (body);
    for (int missing = 1; missing < 7; missing++) {
        body = s_body (missing, missing, -1, &body_size);
        ih_check (s_decode_body (key, body, body_size) == IH_E_MISSING);
        free (body);
    }
    body = s_body (0, 0, -1, &body_size);
    ih_check (s_decode_body (key, body, body_size) == IH_E_MISSING);
    free (body);
    body = s_body (8, 8, -1, &body_size);
    ih_check (s_decode_body (key, body, body_size) == IH_E_TRAILING);
    free (body);
    for (int bad = 0; bad < 7; bad++) {
        body = s_body (7, 7, bad, &body_size);
        ih_check (s_decode_body (key, body, body_size) == IH_E_TYPE);
        free (body);
    }
    //  Array announces more elements than present: truncated
    body = s_body (6, 7, -1, &body_size);
    ih_check (s_decode_body (key, body, body_size) == IH_E_MALFORMED);
    free (body);

    //  Hand-written bodies (hex): header fields are
    //  97 01 a2 7331 07 cf.. a1 74 c420 00*32 80
    const char *zeros = "0000000000000000000000000000000000000000000000000000"
                        "000000000000";
    char hex[400];
    struct {
        const char *fmt;
        ih_err_t expect;
    } cases[] = {
        {"97 01 a2 7331 07 07 a1 74 c420 %s 80", IH_OK},
        {"97 02 a2 7331 07 07 a1 74 c420 %s 80", IH_E_VERSION},
        {"97 00 a2 7331 07 07 a1 74 c420 %s 80", IH_E_VERSION},
        {"93 02 a2 7331 07", IH_E_VERSION}, //  version before length
        {"97 01 a2 5331 07 07 a1 74 c420 %s 80", IH_E_BADNAME},   //  "S1"
        {"97 01 a0 07 07 a1 74 c420 %s 80", IH_E_BADNAME},        //  ""
        {"97 01 a3 730031 07 07 a1 74 c420 %s 80", IH_E_BADNAME}, //  NUL
        {"97 01 a2 7331 07 07 a1 2f c420 %s 80", IH_E_BADNAME},   //  "/"
        {"97 01 c402 7331 07 07 a1 74 c420 %s 80", IH_E_TYPE},    //  bin site
        {"97 01 a2 7331 00 07 a1 74 c420 %s 80", IH_E_MALFORMED}, //  seq 0
        {"97 01 a2 7331 d0ff 07 a1 74 c420 %s 80", IH_E_TYPE},    //  seq -1
        {"97 01 a2 7331 07 cb3ff0000000000000 a1 74 c420 %s 80", IH_E_TYPE},
        {"97 01 a2 7331 07 07 a1 74 c4", IH_E_MALFORMED},        //  cut bin
        {"97 01 a2 7331 07 07 a1 74 c41f %s 80", IH_E_TRAILING}, //  bin 31
        {"97 01 a2 7331 07 07 a1 74 c41f %s", IH_E_MALFORMED},   //  bin 31
        {"97 01 a2 7331 07 07 a1 74 c0 80", IH_E_TYPE},          //  nil prev
        {"97 01 a2 7331 07 07 a1 74 c420 %s 90", IH_E_TYPE},     //  [] data
        {"97 01 a2 7331 07 07 a1 74 c420 %s c0", IH_E_TYPE},     //  nil data
        {"97 01 a2 7331 07 07 a1 74 c420 %s 80 80", IH_E_TRAILING},
        {"c1", IH_E_MALFORMED},
        {"80", IH_E_MALFORMED},        //  not array
        {"a3 616263", IH_E_MALFORMED}, //  not array
        //  Non-canonical encodings of valid values
        {"dc0007 01 a2 7331 07 07 a1 74 c420 %s 80", IH_E_MALFORMED},
        {"97 cc01 a2 7331 07 07 a1 74 c420 %s 80", IH_E_MALFORMED},
        {"97 01 d902 7331 07 07 a1 74 c420 %s 80", IH_E_MALFORMED},
        {"97 01 a2 7331 cd0007 07 a1 74 c420 %s 80", IH_E_MALFORMED},
        {"97 01 a2 7331 07 cf0000000000000007 a1 74 c420 %s 80",
         IH_E_MALFORMED},
        {"97 01 a2 7331 07 07 a1 74 c50020 %s 80", IH_E_MALFORMED},
        //  data itself is opaque, any valid map encoding is accepted
        {"97 01 a2 7331 07 07 a1 74 c420 %s de0000", IH_OK},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        snprintf (hex, sizeof (hex), cases[i].fmt, zeros);
        ih_err_t rc = s_decode_hex (key, hex);
        if (rc != cases[i].expect)
            fprintf (stderr, "case %zu (%s): got %s\n", i, cases[i].fmt,
                     ih_err_name (rc));
        ih_check (rc == cases[i].expect);
    }
    //  A 65-byte name, and a huge announced array (must not allocate)
    char longname[2 * 70 + 200];
    strcpy (longname, "97 01 d941 ");
    for (int i = 0; i < 65; i++)
        strcat (longname, "61");
    strcat (longname, " 07 07 a1 74 c420 ");
    strcat (longname, zeros);
    strcat (longname, " 80");
    ih_check (s_decode_hex (key, longname) == IH_E_TOOBIG);
    ih_check (s_decode_hex (key, "ddffffffff 01") == IH_E_MALFORMED);
    ih_check (s_decode_hex (key, "97 01 a2 7331 07 07 a1 74 c420 ") ==
              IH_E_MALFORMED);
    //  Deep data: 32 levels of map fit, 33 do not
    for (int levels = 32; levels <= 33; levels++) {
        uint8_t deepbody[300];
        size_t n = 0;
        const uint8_t head[] = {0x97, 0x01, 0xa1, 's',  0x07,
                                0x07, 0xa1, 't',  0xc4, 0x20};
        memcpy (deepbody, head, sizeof (head));
        n = sizeof (head);
        memset (deepbody + n, 0, 32);
        n += 32;
        for (int i = 0; i < levels; i++) {
            deepbody[n++] = 0x81;
            deepbody[n++] = 0xa1;
            deepbody[n++] = 'k';
        }
        deepbody[n++] = 0xc0;
        ih_check (s_decode_body (key, deepbody, n) ==
                  (levels == 32 ? IH_OK : IH_E_TOOBIG));
    }

    //  The test vector of docs/protocol.md 3.4: same body bytes, and the
    //  published signature and hash check out
    {
        const uint8_t open_map[] = {0x81, 0xa4, 'o', 'p', 'e', 'n', 0xc3};
        ih_key_t *vkey = ih_key_new ("lh-inc-01");
        ih_event_t vev;
        memset (&vev, 0, sizeof (vev));
        strcpy (vev.site, "lh-inc-01");
        strcpy (vev.type, "door.open");
        vev.seq = 1;
        vev.ts = 1700000000000ULL;
        vev.data = open_map;
        vev.data_size = sizeof (open_map);
        uint8_t *vout;
        size_t vsize;
        ih_check (ih_event_sign (&vev, vkey, &vout, &vsize) == IH_OK);
        const char *vhex =
            "75181a9a10d277b42f09653dbab2c53b9dae0c3487025d6b2d264abe52920739"
            "c958e5d4a2f4dd83d35dae594d76bcb1fd176e74ad9ce7a056ee44738aabae07"
            "97 01 a9 6c682d696e632d3031 01 cf 000001 8bcfe56800"
            "a9 646f6f722e6f70656e c420"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "81 a4 6f70656e c3";
        uint8_t vector[200];
        size_t vlen = 0;
        ih_check (sodium_hex2bin (vector, sizeof (vector), vhex, strlen (vhex),
                                  " ", &vlen, NULL) == 0);
        ih_check (vlen == 137 && vsize == 137);
        ih_check (
            memcmp (vout + IH_KEY_SIG_SIZE, vector + IH_KEY_SIG_SIZE, 73) == 0);
        uint8_t vpub[IH_KEY_PUBLIC_SIZE];
        ih_check (ih_key_from_hex ("03a107bff3ce10be1d70dd18e74bc09967e4d6309b"
                                   "a50d5f1ddc8664125531b8",
                                   vpub) == IH_OK);
        ih_check (ih_event_verify (vector, vlen, vpub) == IH_OK);
        uint8_t vhash[IH_HASH_SIZE];
        char vhash_hex[2 * IH_HASH_SIZE + 1];
        ih_event_hash (vector, vlen, vhash);
        ih_key_to_hex (vhash, vhash_hex);
        ih_check (streq (vhash_hex, "44bcc98ca2851e6a1f8554cc1501510a752cf867"
                                    "1f3194b866eb5e82d56c15b0"));
        free (vout);
        ih_key_destroy (&vkey);
    }

    //  Checked-in samples (tests/fixtures/README.md), signed by the key
    //  whose public part is fixture-site.pub; its secret was not kept.
    const char *dir = getenv ("IH_FIXTURES");
    if (!dir)
        dir = "tests/fixtures";
    char *pub_path = zsys_sprintf ("%s/fixture-site.pub", dir);
    ih_key_t *fkey = NULL;
    if (ih_key_load (pub_path, &fkey) != IH_OK)
        fprintf (stderr, "ih_event_test: cannot load %s (set IH_FIXTURES)\n",
                 pub_path);
    ih_check (fkey);
    zstr_free (&pub_path);
    struct {
        const char *name;
        ih_err_t decode;
        ih_err_t verify;
    } fixtures[] = {
        {"event-good.bin", IH_OK, IH_OK},
        {"event-badsig.bin", IH_OK, IH_E_BADSIG},
        {"event-flipped.bin", IH_OK, IH_E_BADSIG},
        {"event-empty.bin", IH_E_MALFORMED, IH_OK},
        {"event-short.bin", IH_E_MALFORMED, IH_OK},
        {"event-truncated.bin", IH_E_MALFORMED, IH_OK},
        {"event-trailing.bin", IH_E_TRAILING, IH_OK},
        {"event-extrafield.bin", IH_E_TRAILING, IH_OK},
        {"event-missing.bin", IH_E_MISSING, IH_OK},
        {"event-wrongtype.bin", IH_E_TYPE, IH_OK},
        {"event-badversion.bin", IH_E_VERSION, IH_OK},
        {"event-badname.bin", IH_E_BADNAME, IH_OK},
        {"event-longname.bin", IH_E_TOOBIG, IH_OK},
        {"event-noncanonical.bin", IH_E_MALFORMED, IH_OK},
        {"event-notarray.bin", IH_E_MALFORMED, IH_OK},
        {"event-hugecount.bin", IH_E_MALFORMED, IH_OK},
        {"event-deep.bin", IH_E_TOOBIG, IH_OK},
        {"event-toobig.bin", IH_E_TOOBIG, IH_OK},
    };
    for (size_t i = 0; i < sizeof (fixtures) / sizeof (fixtures[0]); i++)
        s_fixture (dir, fixtures[i].name, fkey, fixtures[i].decode,
                   fixtures[i].verify);
    ih_key_destroy (&fkey);

    free (signed_ev);
    ih_key_destroy (&key);
    if (verbose)
        printf ("OK\n");
}
