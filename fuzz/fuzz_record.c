/*  =========================================================================
    fuzz_record - libFuzzer target for the hub's log record decoder

    The input is one LMDB value of the hub's log, as replay and audit read
    it (a damaged or hostile data.mdb can hold anything). An accepted
    record must split exactly as docs/protocol.md 4 says and re-encode to
    the same bytes; its event part then goes through ih_event_decode, as
    replay does.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_event.h"
#include "ih_record.h"

IH_FUZZ_INITIALIZE ();

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    uint64_t received = 0;
    const uint8_t *event = NULL;
    size_t event_size = 0;
    ih_err_t rc =
        ih_record_decode (bytes, size, &received, &event, &event_size);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_MALFORMED || rc == IH_E_VERSION ||
                   rc == IH_E_TOOBIG);
    if (rc != IH_OK) {
        IH_FUZZ_CHECK (event == NULL && event_size == 0 && received == 0);
        return 0;
    }
    IH_FUZZ_CHECK (size > IH_RECORD_HEADER && bytes[0] == IH_RECORD_VERSION);
    IH_FUZZ_CHECK (event == bytes + IH_RECORD_HEADER);
    IH_FUZZ_CHECK (event_size == size - IH_RECORD_HEADER);
    IH_FUZZ_CHECK (event_size >= 1 && event_size <= IH_EVENT_MAX);
    IH_FUZZ_CHECK (received == ih_record_get_u64 (bytes + 1));

    //  Encoding the parts gives back the very bytes
    uint8_t *again = NULL;
    size_t again_size = 0;
    IH_FUZZ_CHECK (ih_record_encode (received, event, event_size, &again,
                                     &again_size) == IH_OK);
    IH_FUZZ_CHECK (again_size == size && memcmp (again, bytes, size) == 0);
    free (again);

    ih_event_t decoded;
    rc = ih_event_decode (event, event_size, &decoded);
    IH_FUZZ_CHECK (rc >= IH_OK && rc <= IH_E_ERR_MAX);
    if (rc == IH_OK)
        IH_FUZZ_CHECK (decoded.data + decoded.data_size == event + event_size);
    return 0;
}
