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

IH_FUZZ_INITIALIZE ();

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    json_error_t jerr;
    json_t *json = json_loadb ((const char *) bytes, size,
                               JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!json)
        return 0;
    //  Whatever Jansson parses (no NUL, integers within int64, finite
    //  reals) has a msgpack form that maps back without loss
    ih_err_t rc = ih_fuzz_json_repack (json);
    if (!json_is_object (json))
        IH_FUZZ_CHECK (rc == IH_E_TYPE);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_TYPE || rc == IH_E_TOOBIG);
    json_decref (json);
    return 0;
}
