/*  =========================================================================
    fuzz_json_msgpack - libFuzzer target for msgpack -> JSON

    The input is one msgpack value, such as the data map of a stored event
    that tail, replay and audit print as JSON (ih_json_from_msgpack). An
    accepted value is printed (json_dumps, as the CLI does) and, if it is an
    object, packed back with ih_json_to_msgpack: that must succeed (unless
    the JSON form outgrew IH_EVENT_MAX, e.g. bin turned base64) and read
    back as an equal JSON value, so the mapping in protocol.md 6 is stable
    after one round.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_json.h"

//  True if a and b pack to the same msgpack bytes. Used instead of
//  json_equal, which in Jansson 2.14 looks keys up with strlen and so
//  calls objects with a key holding NUL ("t\0x", which msgpack allows
//  and ih_json keeps) unequal to themselves.
static bool
s_same (const json_t *a, const json_t *b)
{
    uint8_t *a_bytes = NULL, *b_bytes = NULL;
    size_t a_size = 0, b_size = 0;
    IH_FUZZ_CHECK (ih_json_to_msgpack (a, &a_bytes, &a_size) == IH_OK);
    IH_FUZZ_CHECK (ih_json_to_msgpack (b, &b_bytes, &b_size) == IH_OK);
    bool same = a_size == b_size && memcmp (a_bytes, b_bytes, a_size) == 0;
    free (a_bytes);
    free (b_bytes);
    return same;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    ih_fuzz_init ();
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    json_t *json = NULL;
    ih_err_t rc = ih_json_from_msgpack (bytes, size, &json);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_MALFORMED || rc == IH_E_TRAILING ||
                   rc == IH_E_TYPE || rc == IH_E_TOOBIG);
    if (rc != IH_OK) {
        IH_FUZZ_CHECK (json == NULL);
        return 0;
    }
    IH_FUZZ_CHECK (json);
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    IH_FUZZ_CHECK (text);
    free (text);

    if (json_is_object (json)) {
        uint8_t *packed = NULL;
        size_t packed_size = 0;
        rc = ih_json_to_msgpack (json, &packed, &packed_size);
        IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_TOOBIG);
        if (rc == IH_OK) {
            IH_FUZZ_CHECK (packed && packed_size >= 1 &&
                           packed_size <= IH_EVENT_MAX);
            json_t *again = NULL;
            IH_FUZZ_CHECK (ih_json_from_msgpack (packed, packed_size, &again) ==
                           IH_OK);
            IH_FUZZ_CHECK (s_same (json, again));
            json_decref (again);
        } else
            IH_FUZZ_CHECK (packed == NULL && packed_size == 0);
        free (packed);
    }
    json_decref (json);
    return 0;
}
