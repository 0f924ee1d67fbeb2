/*  =========================================================================
    ih_record - the hub's stored log record

    The hub's LMDB log maps a hub sequence (8 bytes big-endian, so keys sort
    in log order and MDB_APPEND applies) to a record:

        record = version (1 byte, 1) || received (8 bytes BE, ms since epoch)
                 || signed event (verbatim, as the site signed it)

    Readers (replay, audit, tail) decode records with ih_record_decode.
    =========================================================================*/
#ifndef IH_RECORD_H_INCLUDED
#define IH_RECORD_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"

#define IH_RECORD_VERSION 1
#define IH_RECORD_HEADER 9

//  Big-endian helpers for LMDB keys and frames.
void ih_record_put_u64 (uint8_t *out, uint64_t value);
uint64_t ih_record_get_u64 (const uint8_t *in);

//  Writes header + event into a malloc'ed buffer the caller frees.
//  Errors: IH_E_TOOBIG.
ih_err_t ih_record_encode (uint64_t received, const uint8_t *event, size_t size,
                           uint8_t **out_p, size_t *size_p);

//  Splits a record. *event_p points into bytes. Errors: IH_E_MALFORMED
//  (too short), IH_E_VERSION, IH_E_TOOBIG.
ih_err_t ih_record_decode (const uint8_t *bytes, size_t size,
                           uint64_t *received_p, const uint8_t **event_p,
                           size_t *event_size_p);

//  Selftest
void ih_record_test (bool verbose);

#endif
