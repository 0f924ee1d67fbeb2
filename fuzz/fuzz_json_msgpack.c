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

IH_FUZZ_INITIALIZE ();

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
        rc = ih_fuzz_json_repack (json);
        IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_TOOBIG);
    }
    json_decref (json);
    return 0;
}
