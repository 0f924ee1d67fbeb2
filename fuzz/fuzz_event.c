/*  =========================================================================
    fuzz_event - libFuzzer target for the signed-event decoder

    The input is one signed event as it arrives in an EVENT frame, a PUB
    message or a log record: ih_event_decode, ih_event_verify and
    ih_event_hash see it, and a decoded event is turned into the JSON line
    tail/replay/audit print (ih_json_event). When the decoder accepts the
    bytes, the view it returns must hold what docs/protocol.md 3.5 promises.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_event.h"
#include "ih_json.h"

//  Any 32 bytes do as a public key: the signature is attacker-controlled
//  too, so all verify has to do is answer without reading out of bounds.
static const uint8_t s_public[IH_KEY_PUBLIC_SIZE] = {
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd,
    0x18, 0xe7, 0x4b, 0xc0, 0x99, 0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5,
    0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8};

IH_FUZZ_INITIALIZE ();

static bool
s_is_map_header (uint8_t byte)
{
    return (byte & 0xf0) == 0x80 || byte == 0xde || byte == 0xdf;
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    uint8_t *copy = ih_fuzz_copy (bytes, size);

    ih_event_t event;
    ih_err_t rc = ih_event_decode (copy, size, &event);
    IH_FUZZ_CHECK (rc >= IH_OK && rc <= IH_E_ERR_MAX);
    if (rc == IH_OK) {
        //  What protocol.md 3.5 guarantees of an accepted event
        IH_FUZZ_CHECK (size > IH_KEY_SIG_SIZE && size <= IH_EVENT_MAX);
        IH_FUZZ_CHECK (copy[IH_KEY_SIG_SIZE] == 0x97);
        IH_FUZZ_CHECK (ih_event_name_valid (event.site));
        IH_FUZZ_CHECK (ih_event_name_valid (event.type));
        IH_FUZZ_CHECK (event.seq >= 1);
        IH_FUZZ_CHECK (event.data && event.data_size >= 1);
        IH_FUZZ_CHECK (event.data_size <= size);
        //  data is the last element and nothing trails it
        IH_FUZZ_CHECK (event.data >= copy + IH_KEY_SIG_SIZE);
        IH_FUZZ_CHECK (event.data + event.data_size == copy + size);
        IH_FUZZ_CHECK (s_is_map_header (event.data[0]));

        //  Decoding is a pure function of the bytes
        ih_event_t again;
        IH_FUZZ_CHECK (ih_event_decode (copy, size, &again) == IH_OK);
        IH_FUZZ_CHECK (
            streq (again.site, event.site) && streq (again.type, event.type) &&
            again.seq == event.seq && again.ts == event.ts &&
            memcmp (again.prev, event.prev, IH_HASH_SIZE) == 0 &&
            again.data == event.data && again.data_size == event.data_size);

        //  The JSON line may refuse the payload (non-UTF-8, ext, ...), but
        //  must not crash or leak
        json_t *line = ih_json_event (&event, 1, 1);
        json_decref (line);

        //  A decoded event is never a decodable event plus a byte
        uint8_t *longer = malloc (size + 1);
        IH_FUZZ_CHECK (longer);
        memcpy (longer, copy, size);
        longer[size] = 0xc0;
        ih_event_t extra;
        ih_err_t longer_rc = ih_event_decode (longer, size + 1, &extra);
        IH_FUZZ_CHECK (longer_rc == IH_E_TRAILING || longer_rc == IH_E_TOOBIG);
        free (longer);
    }
    rc = ih_event_verify (copy, size, s_public);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_BADSIG || rc == IH_E_MALFORMED);
    if (size < IH_KEY_SIG_SIZE)
        IH_FUZZ_CHECK (rc == IH_E_MALFORMED);

    uint8_t hash[IH_HASH_SIZE];
    ih_event_hash (copy, size, hash);
    free (copy);
    return 0;
}
