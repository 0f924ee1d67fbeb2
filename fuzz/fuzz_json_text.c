/*  =========================================================================
    fuzz_json_text - libFuzzer target for JSON -> msgpack

    The input is JSON text, as `incuhub publish --data` and library callers
    hand a payload to the agent. Jansson parses it (json_loadb, as the CLI
    does); an object is packed with ih_json_to_msgpack, and the packed map
    must read back with ih_json_from_msgpack into an equal value. Jansson
    itself is not under test: it is not instrumented, only called.
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
    json_error_t jerr;
    json_t *json = json_loadb ((const char *) bytes, size,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!json)
        return 0;
    uint8_t *packed = NULL;
    size_t packed_size = 0;
    ih_err_t rc = ih_json_to_msgpack (json, &packed, &packed_size);
    if (!json_is_object (json))
        IH_FUZZ_CHECK (rc == IH_E_TYPE);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_TYPE || rc == IH_E_TOOBIG);
    if (rc == IH_OK) {
        IH_FUZZ_CHECK (packed && packed_size >= 1 &&
                       packed_size <= IH_EVENT_MAX);
        json_t *again = NULL;
        rc = ih_json_from_msgpack (packed, packed_size, &again);
        //  Whatever Jansson parses (no NUL, integers within int64, finite
        //  reals) has a msgpack form that maps back without loss
        IH_FUZZ_CHECK (rc == IH_OK);
        IH_FUZZ_CHECK (s_same (json, again));
        json_decref (again);
    } else
        IH_FUZZ_CHECK (packed == NULL && packed_size == 0);
    free (packed);
    json_decref (json);
    return 0;
}
