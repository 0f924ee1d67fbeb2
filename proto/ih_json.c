/*  =========================================================================
    ih_json - mapping between JSON (Jansson) and msgpack payloads

    Data flow: `incuhub publish` and local scripts hand JSON to the agent,
    which packs it with ih_json_to_msgpack into the event's data map; tail,
    replay and audit unpack stored data with ih_json_from_msgpack (through
    ih_json_event) to print one JSON line per event.

    Mapping rules (docs/protocol.md, "Payload"):
    - JSON integers are signed 64-bit (json_int_t): negative ones pack as
      msgpack int, non-negative ones as uint, always in shortest form. A
      msgpack uint above INT64_MAX has no JSON integer: IH_E_TOOBIG.
    - reals pack as float64; msgpack float32 and float64 both become reals.
      NaN and infinities have no JSON form: IH_E_TYPE.
    - msgpack bin becomes the string "base64:<standard base64, padded>".
      The mapping is one-way: such a string in JSON packs as a str.
    - msgpack ext, and map keys that are not strings, are IH_E_TYPE; a str
      that is not UTF-8, or a map with a repeated key, is IH_E_MALFORMED.
    - Containers nest at most IH_JSON_DEPTH deep (the outermost counts 1).
    Object keys keep Jansson's (insertion) order.
    =========================================================================*/
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <czmq.h>
#include <msgpack.h>
#include <sodium.h>
#include "ih_json.h"
#include "ih_check.h"
#include "ih_msgpack.h"

_Static_assert(IH_JSON_DEPTH == IH_MSGPACK_DEPTH,
               "JSON and msgpack depth limits must agree");

#define S_BIN_PREFIX "base64:"

static ih_err_t
s_pack (msgpack_packer *pk, const json_t *json, int depth)
{
    switch (json_typeof (json)) {
    case JSON_OBJECT: {
        if (depth + 1 > IH_JSON_DEPTH)
            return IH_E_TOOBIG;
        msgpack_pack_map (pk, json_object_size (json));
        //  The iterator API wants a non-const object; it does not modify it
        void *iter = json_object_iter ((json_t *) json);
        while (iter) {
            const char *key = json_object_iter_key (iter);
            size_t key_len = json_object_iter_key_len (iter);
            msgpack_pack_str (pk, key_len);
            msgpack_pack_str_body (pk, key, key_len);
            ih_err_t rc = s_pack (pk, json_object_iter_value (iter), depth + 1);
            if (rc)
                return rc;
            iter = json_object_iter_next ((json_t *) json, iter);
        }
        return IH_OK;
    }
    case JSON_ARRAY: {
        if (depth + 1 > IH_JSON_DEPTH)
            return IH_E_TOOBIG;
        size_t size = json_array_size (json);
        msgpack_pack_array (pk, size);
        for (size_t i = 0; i < size; i++) {
            ih_err_t rc = s_pack (pk, json_array_get (json, i), depth + 1);
            if (rc)
                return rc;
        }
        return IH_OK;
    }
    case JSON_STRING: {
        size_t len = json_string_length (json);
        msgpack_pack_str (pk, len);
        msgpack_pack_str_body (pk, json_string_value (json), len);
        return IH_OK;
    }
    case JSON_INTEGER: {
        json_int_t value = json_integer_value (json);
        if (value < 0)
            msgpack_pack_int64 (pk, (int64_t) value);
        else
            msgpack_pack_uint64 (pk, (uint64_t) value);
        return IH_OK;
    }
    case JSON_REAL:
        msgpack_pack_double (pk, json_real_value (json));
        return IH_OK;
    case JSON_TRUE:
        msgpack_pack_true (pk);
        return IH_OK;
    case JSON_FALSE:
        msgpack_pack_false (pk);
        return IH_OK;
    case JSON_NULL:
        msgpack_pack_nil (pk);
        return IH_OK;
    }
    return IH_E_TYPE;
}

ih_err_t
ih_json_to_msgpack (const json_t *object, uint8_t **out_p, size_t *size_p)
{
    assert (out_p);
    assert (size_p);
    *out_p = NULL;
    *size_p = 0;
    if (!object || !json_is_object (object))
        return IH_E_TYPE;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    ih_err_t rc = s_pack (&pk, object, 0);
    if (rc == IH_OK && sbuf.size > IH_EVENT_MAX)
        rc = IH_E_TOOBIG;
    if (rc == IH_OK) {
        uint8_t *out = (uint8_t *) malloc (sbuf.size);
        assert (out);
        memcpy (out, sbuf.data, sbuf.size);
        *out_p = out;
        *size_p = sbuf.size;
    }
    msgpack_sbuffer_destroy (&sbuf);
    return rc;
}

//  A msgpack str as a JSON string; NULL if it is not valid UTF-8.
static json_t *
s_string (const msgpack_object_str *str)
{
    return json_stringn (str->size ? str->ptr : "", str->size);
}

static ih_err_t
s_unpack (const msgpack_object *o, json_t **json_p)
{
    json_t *json = NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        json = json_null ();
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        json = json_boolean (o->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t) INT64_MAX)
            return IH_E_TOOBIG;
        json = json_integer ((json_int_t) o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        json = json_integer ((json_int_t) o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite (o->via.f64))
            return IH_E_TYPE;
        json = json_real (o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        json = s_string (&o->via.str);
        if (!json)
            return IH_E_MALFORMED;
        break;
    case MSGPACK_OBJECT_BIN: {
        size_t len = sodium_base64_ENCODED_LEN (o->via.bin.size,
                                                sodium_base64_VARIANT_ORIGINAL);
        size_t prefix = strlen (S_BIN_PREFIX);
        char *text = (char *) malloc (prefix + len);
        assert (text);
        memcpy (text, S_BIN_PREFIX, prefix);
        sodium_bin2base64 (text + prefix, len,
                           (const unsigned char *) o->via.bin.ptr,
                           o->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
        json = json_string (text);
        free (text);
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        json = json_array ();
        assert (json);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *item = NULL;
            ih_err_t rc = s_unpack (&o->via.array.ptr[i], &item);
            if (rc) {
                json_decref (json);
                return rc;
            }
            json_array_append_new (json, item);
        }
        break;
    case MSGPACK_OBJECT_MAP:
        json = json_object ();
        assert (json);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            ih_err_t rc = IH_OK;
            json_t *value = NULL;
            if (kv->key.type != MSGPACK_OBJECT_STR)
                rc = IH_E_TYPE;
            else {
                //  Check the key's UTF-8 the same way as values
                json_t *key = s_string (&kv->key.via.str);
                if (!key)
                    rc = IH_E_MALFORMED;
                json_decref (key);
            }
            const char *kptr = kv->key.via.str.ptr;
            size_t klen = kv->key.via.str.size;
            if (!rc && json_object_getn (json, klen ? kptr : "", klen))
                rc = IH_E_MALFORMED; //  repeated key
            if (!rc)
                rc = s_unpack (&kv->val, &value);
            if (!rc &&
                json_object_setn_new (json, klen ? kptr : "", klen, value)) {
                rc = IH_E_INTERNAL;
                value = NULL; //  setn_new consumed it
            }
            if (rc) {
                json_decref (json);
                return rc;
            }
        }
        break;
    default: //  ext
        return IH_E_TYPE;
    }
    assert (json);
    *json_p = json;
    return IH_OK;
}

ih_err_t
ih_json_from_msgpack (const uint8_t *bytes, size_t size, json_t **json_p)
{
    assert (json_p);
    *json_p = NULL;
    size_t used = 0;
    ih_err_t rc = ih_msgpack_check (bytes, size, IH_JSON_DEPTH, &used);
    if (rc)
        return rc;
    if (used != size)
        return IH_E_TRAILING;
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t off = 0;
    if (msgpack_unpack_next (&u, (const char *) bytes, size, &off) !=
        MSGPACK_UNPACK_SUCCESS)
        rc = IH_E_MALFORMED; //  cannot happen after the check above
    else
        rc = s_unpack (&u.data, json_p);
    msgpack_unpacked_destroy (&u);
    return rc;
}

json_t *
ih_json_event (const ih_event_t *event, uint64_t hub_seq, uint64_t received)
{
    assert (event);
    if (hub_seq > INT64_MAX || received > INT64_MAX || event->seq > INT64_MAX ||
        event->ts > INT64_MAX) {
        zsys_warning ("json: site=%s seq=%" PRIu64 " has a number beyond "
                      "JSON's integer range",
                      event->site, event->seq);
        return NULL;
    }
    json_t *data = NULL;
    ih_err_t rc = ih_json_from_msgpack (event->data, event->data_size, &data);
    if (rc) {
        zsys_warning ("json: site=%s seq=%" PRIu64 " data does not map to "
                      "JSON err=%s",
                      event->site, event->seq, ih_err_name (rc));
        return NULL;
    }
    json_t *json = json_object ();
    assert (json);
    if (hub_seq)
        json_object_set_new (json, "hub_seq",
                             json_integer ((json_int_t) hub_seq));
    json_object_set_new (json, "site", json_string (event->site));
    json_object_set_new (json, "seq", json_integer ((json_int_t) event->seq));
    json_object_set_new (json, "ts", json_integer ((json_int_t) event->ts));
    json_object_set_new (json, "type", json_string (event->type));
    if (received)
        json_object_set_new (json, "received",
                             json_integer ((json_int_t) received));
    json_object_set_new (json, "data", data);
    return json;
}

//  --------------------------------------------------------------------------
//  Selftest

static ih_err_t
s_from_hex (const char *hex, json_t **json_p)
{
    uint8_t buf[512];
    size_t len = 0;
    ih_check (sodium_hex2bin (buf, sizeof (buf), hex, strlen (hex), " ", &len,
                              NULL) == 0);
    return ih_json_from_msgpack (buf, len, json_p);
}

//  Packs JSON text and returns the msgpack as lower-case hex (caller frees)
static char *
s_to_hex (const char *text)
{
    json_t *json = json_loads (text, 0, NULL);
    ih_check (json);
    uint8_t *out;
    size_t size;
    ih_check (ih_json_to_msgpack (json, &out, &size) == IH_OK);
    json_decref (json);
    char *hex = (char *) malloc (2 * size + 1);
    sodium_bin2hex (hex, 2 * size + 1, out, size);
    free (out);
    return hex;
}

void
ih_json_test (bool verbose)
{
    if (verbose)
        printf (" * ih_json: ");

    //  Round trip through msgpack
    const char *text = "{\"a\":1,\"b\":-2,\"c\":1.5,\"d\":\"x\",\"e\":[true,"
                       "false,null],\"f\":{\"g\":9223372036854775807,"
                       "\"h\":-9223372036854775808},\"\":\"\"}";
    json_t *json = json_loads (text, 0, NULL);
    ih_check (json);
    uint8_t *mp = NULL;
    size_t mp_size = 0;
    ih_check (ih_json_to_msgpack (json, &mp, &mp_size) == IH_OK);
    ih_check (mp_size > 0 && mp[0] == 0x87);
    json_t *back = NULL;
    ih_check (ih_json_from_msgpack (mp, mp_size, &back) == IH_OK);
    ih_check (json_equal (json, back));
    char *dumped = json_dumps (back, JSON_COMPACT);
    ih_check (streq (dumped, text)); //  key order is kept
    free (dumped);
    json_decref (back);
    free (mp);

    //  Integer encodings: non-negative as uint, negative as int, shortest
    char *hex = s_to_hex ("{\"a\":1}");
    ih_check (streq (hex, "81a16101"));
    free (hex);
    hex = s_to_hex ("{\"a\":-1}");
    ih_check (streq (hex, "81a161ff"));
    free (hex);
    hex = s_to_hex ("{\"a\":200}");
    ih_check (streq (hex, "81a161ccc8"));
    free (hex);
    hex = s_to_hex ("{\"a\":-200}");
    ih_check (streq (hex, "81a161d1ff38"));
    free (hex);
    hex = s_to_hex ("{\"a\":1.0}");
    ih_check (streq (hex, "81a161cb3ff0000000000000"));
    free (hex);
    //  A string with an embedded NUL survives
    json_t *nul = json_object ();
    json_object_set_new (nul, "k", json_stringn ("a\0b", 3));
    ih_check (ih_json_to_msgpack (nul, &mp, &mp_size) == IH_OK);
    ih_check (ih_json_from_msgpack (mp, mp_size, &back) == IH_OK);
    ih_check (json_string_length (json_object_get (back, "k")) == 3);
    json_decref (back);
    json_decref (nul);
    free (mp);

    //  to_msgpack errors
    json_t *array = json_array ();
    ih_check (ih_json_to_msgpack (array, &mp, &mp_size) == IH_E_TYPE);
    ih_check (mp == NULL && mp_size == 0);
    ih_check (ih_json_to_msgpack (NULL, &mp, &mp_size) == IH_E_TYPE);
    json_decref (array);
    //  depth: IH_JSON_DEPTH objects nest, one more does not
    for (int levels = IH_JSON_DEPTH; levels <= IH_JSON_DEPTH + 1; levels++) {
        json_t *deep = json_object ();
        json_t *inner = deep;
        for (int i = 1; i < levels; i++) {
            json_t *next = json_object ();
            json_object_set_new (inner, "k", next);
            inner = next;
        }
        ih_err_t rc = ih_json_to_msgpack (deep, &mp, &mp_size);
        ih_check (rc == (levels == IH_JSON_DEPTH ? IH_OK : IH_E_TOOBIG));
        if (rc == IH_OK) {
            ih_check (ih_json_from_msgpack (mp, mp_size, &back) == IH_OK);
            ih_check (json_equal (back, deep));
            json_decref (back);
            free (mp);
        }
        json_decref (deep);
    }
    json_t *huge = json_object ();
    char *long_string = (char *) malloc (IH_EVENT_MAX + 1);
    memset (long_string, 'x', IH_EVENT_MAX);
    long_string[IH_EVENT_MAX] = 0;
    json_object_set_new (huge, "k", json_string (long_string));
    ih_check (ih_json_to_msgpack (huge, &mp, &mp_size) == IH_E_TOOBIG);
    free (long_string);
    json_decref (huge);

    //  from_msgpack: each mapping and each error
    ih_check (s_from_hex ("c4 03 010203", &back) == IH_OK);
    ih_check (streq (json_string_value (back), "base64:AQID"));
    json_decref (back);
    ih_check (s_from_hex ("c4 00", &back) == IH_OK);
    ih_check (streq (json_string_value (back), "base64:"));
    json_decref (back);
    ih_check (s_from_hex ("ca 3fc00000", &back) == IH_OK); //  float32 1.5
    ih_check (json_is_real (back) && json_real_value (back) == 1.5);
    json_decref (back);
    ih_check (s_from_hex ("cf 7fffffffffffffff", &back) == IH_OK);
    ih_check (json_integer_value (back) == INT64_MAX);
    json_decref (back);
    ih_check (s_from_hex ("d3 8000000000000000", &back) == IH_OK);
    ih_check (json_integer_value (back) == INT64_MIN);
    json_decref (back);
    ih_check (s_from_hex ("c0", &back) == IH_OK && json_is_null (back));
    json_decref (back);
    ih_check (s_from_hex ("a0", &back) == IH_OK);
    ih_check (json_string_length (back) == 0);
    json_decref (back);
    struct {
        const char *hex;
        ih_err_t expect;
    } cases[] = {
        {"cf 8000000000000000", IH_E_TOOBIG},
        {"d4 01 02", IH_E_TYPE},                  //  fixext 1
        {"c7 01 05 00", IH_E_TYPE},               //  ext 8
        {"81 01 02", IH_E_TYPE},                  //  int key
        {"81 c4 01 61 02", IH_E_TYPE},            //  bin key
        {"cb 7ff8000000000000", IH_E_TYPE},       //  NaN
        {"cb 7ff0000000000000", IH_E_TYPE},       //  +inf
        {"a2 c328", IH_E_MALFORMED},              //  bad UTF-8
        {"81 a2 c328 01", IH_E_MALFORMED},        //  bad UTF-8 key
        {"82 a1 61 01 a1 61 02", IH_E_MALFORMED}, //  repeated key
        {"92 01 d4 01 02", IH_E_TYPE},            //  ext inside array
        {"", IH_E_MALFORMED},
        {"c1", IH_E_MALFORMED},
        {"92 01", IH_E_MALFORMED},
        {"a3 6162", IH_E_MALFORMED},
        {"dd ffffffff", IH_E_MALFORMED},
        {"c0 c0", IH_E_TRAILING},
        {"81 a1 61 01 00", IH_E_TRAILING},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        back = NULL;
        ih_err_t rc = s_from_hex (cases[i].hex, &back);
        if (rc != cases[i].expect)
            fprintf (stderr, "json case %zu (%s): got %s\n", i, cases[i].hex,
                     ih_err_name (rc));
        ih_check (rc == cases[i].expect);
        ih_check (back == NULL);
    }
    //  Too deep: 33 nested arrays
    uint8_t deep[IH_JSON_DEPTH + 2];
    memset (deep, 0x91, sizeof (deep));
    deep[sizeof (deep) - 1] = 0xc0;
    ih_check (ih_json_from_msgpack (deep, sizeof (deep), &back) == IH_E_TOOBIG);
    ih_check (ih_json_from_msgpack (deep + 1, sizeof (deep) - 1, &back) ==
              IH_OK);
    json_decref (back);
    //  Every truncation of a valid payload is malformed
    ih_check (ih_json_to_msgpack (json, &mp, &mp_size) == IH_OK);
    for (size_t len = 0; len < mp_size; len++)
        ih_check (ih_json_from_msgpack (mp, len, &back) == IH_E_MALFORMED);

    //  Event line
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    strcpy (event.site, "lh-inc-01");
    strcpy (event.type, "door.open");
    event.seq = 5;
    event.ts = 1700000000000ULL;
    event.data = mp;
    event.data_size = mp_size;
    json_t *line = ih_json_event (&event, 77, 1700000000500ULL);
    ih_check (line);
    dumped = json_dumps (line, JSON_COMPACT);
    ih_check (
        strncmp (dumped,
                 "{\"hub_seq\":77,\"site\":\"lh-inc-01\",\"seq\":5,"
                 "\"ts\":1700000000000,\"type\":\"door.open\","
                 "\"received\":1700000000500,\"data\":{\"a\":1,",
                 strlen ("{\"hub_seq\":77,\"site\":\"lh-inc-01\",\"seq\":5,"
                         "\"ts\":1700000000000,\"type\":\"door.open\","
                         "\"received\":1700000000500,\"data\":{\"a\":1,")) ==
        0);
    free (dumped);
    json_decref (line);
    line = ih_json_event (&event, 0, 0);
    ih_check (line);
    ih_check (!json_object_get (line, "hub_seq"));
    ih_check (!json_object_get (line, "received"));
    ih_check (json_equal (json_object_get (line, "data"), json));
    json_decref (line);
    const uint8_t bad[] = {0xd4, 0x01, 0x02};
    event.data = bad;
    event.data_size = sizeof (bad);
    ih_check (ih_json_event (&event, 1, 1) == NULL);
    event.data = mp;
    event.seq = UINT64_MAX;
    ih_check (ih_json_event (&event, 1, 1) == NULL);
    free (mp);
    json_decref (json);
    if (verbose)
        printf ("OK\n");
}
