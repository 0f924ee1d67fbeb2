/*  =========================================================================
    ih_record - the hub's stored log record

    Data flow: the hub's store wraps each accepted signed event in a record
    (ih_record_encode) and appends it to the LMDB log under its hub
    sequence; replay, audit and tail read records back (ih_record_decode)
    and hand the verbatim signed event to ih_event_decode/verify.

    The 9-byte header (version, receive time) is the hub's own annotation;
    the signed event after it is never touched, so the site's signature can
    be re-verified from the log at any time.
    =========================================================================*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "ih_record.h"
#include "ih_check.h"
#include "ih_event.h"

void
ih_record_put_u64 (uint8_t *out, uint64_t value)
{
    assert (out);
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t) value;
        value >>= 8;
    }
}

uint64_t
ih_record_get_u64 (const uint8_t *in)
{
    assert (in);
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | in[i];
    return value;
}

ih_err_t
ih_record_encode (uint64_t received, const uint8_t *event, size_t size,
                  uint8_t **out_p, size_t *size_p)
{
    assert (out_p);
    assert (size_p);
    assert (event || size == 0);
    *out_p = NULL;
    *size_p = 0;
    if (size > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    uint8_t *out = (uint8_t *) malloc (IH_RECORD_HEADER + size);
    assert (out);
    out[0] = IH_RECORD_VERSION;
    ih_record_put_u64 (out + 1, received);
    if (size)
        memcpy (out + IH_RECORD_HEADER, event, size);
    *out_p = out;
    *size_p = IH_RECORD_HEADER + size;
    return IH_OK;
}

ih_err_t
ih_record_decode (const uint8_t *bytes, size_t size, uint64_t *received_p,
                  const uint8_t **event_p, size_t *event_size_p)
{
    assert (received_p);
    assert (event_p);
    assert (event_size_p);
    *received_p = 0;
    *event_p = NULL;
    *event_size_p = 0;
    //  The version byte comes first so that a later record version may
    //  change everything after it.
    if (!bytes || size < 1)
        return IH_E_MALFORMED;
    if (bytes[0] != IH_RECORD_VERSION)
        return IH_E_VERSION;
    if (size <= IH_RECORD_HEADER)
        return IH_E_MALFORMED; //  a record always holds an event
    if (size - IH_RECORD_HEADER > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    *received_p = ih_record_get_u64 (bytes + 1);
    *event_p = bytes + IH_RECORD_HEADER;
    *event_size_p = size - IH_RECORD_HEADER;
    return IH_OK;
}

void
ih_record_test (bool verbose)
{
    if (verbose)
        printf (" * ih_record: ");
    uint8_t buf[8];
    ih_record_put_u64 (buf, 0x0102030405060708ULL);
    ih_check (buf[0] == 1 && buf[7] == 8);
    ih_check (ih_record_get_u64 (buf) == 0x0102030405060708ULL);
    ih_record_put_u64 (buf, UINT64_MAX);
    ih_check (ih_record_get_u64 (buf) == UINT64_MAX);
    //  Keys sort in numeric order as bytes
    uint8_t a[8], b[8];
    ih_record_put_u64 (a, 255);
    ih_record_put_u64 (b, 256);
    ih_check (memcmp (a, b, 8) < 0);

    //  Round trip
    const uint8_t event[] = {1, 2, 3, 4, 5};
    uint8_t *rec = NULL;
    size_t rec_size = 0;
    ih_check (ih_record_encode (1700000000123ULL, event, sizeof (event), &rec,
                                &rec_size) == IH_OK);
    ih_check (rec_size == IH_RECORD_HEADER + sizeof (event));
    ih_check (rec[0] == IH_RECORD_VERSION);
    uint64_t received;
    const uint8_t *ev;
    size_t ev_size;
    ih_check (ih_record_decode (rec, rec_size, &received, &ev, &ev_size) ==
              IH_OK);
    ih_check (received == 1700000000123ULL);
    ih_check (ev == rec + IH_RECORD_HEADER && ev_size == sizeof (event));
    ih_check (memcmp (ev, event, sizeof (event)) == 0);

    //  Truncated at every length that leaves no event
    for (size_t len = 0; len <= IH_RECORD_HEADER; len++)
        ih_check (ih_record_decode (rec, len, &received, &ev, &ev_size) ==
                  IH_E_MALFORMED);
    ih_check (ih_record_decode (NULL, 0, &received, &ev, &ev_size) ==
              IH_E_MALFORMED);
    //  Bad version
    rec[0] = 2;
    ih_check (ih_record_decode (rec, rec_size, &received, &ev, &ev_size) ==
              IH_E_VERSION);
    rec[0] = 0;
    ih_check (ih_record_decode (rec, 1, &received, &ev, &ev_size) ==
              IH_E_VERSION);
    free (rec);

    //  Oversize, both ways
    uint8_t *big = (uint8_t *) zmalloc (IH_RECORD_HEADER + IH_EVENT_MAX + 1);
    ih_check (big);
    ih_check (ih_record_encode (0, big, IH_EVENT_MAX + 1, &rec, &rec_size) ==
              IH_E_TOOBIG);
    ih_check (rec == NULL && rec_size == 0);
    big[0] = IH_RECORD_VERSION;
    ih_check (ih_record_decode (big, IH_RECORD_HEADER + IH_EVENT_MAX + 1,
                                &received, &ev, &ev_size) == IH_E_TOOBIG);
    ih_check (ih_record_decode (big, IH_RECORD_HEADER + IH_EVENT_MAX, &received,
                                &ev, &ev_size) == IH_OK);
    free (big);
    if (verbose)
        printf ("OK\n");
}
