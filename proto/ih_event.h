/*  =========================================================================
    ih_event - the signed event, incuhub's unit of record

    An event is a fact a site reports: site id, per-site sequence number
    (1, 2, 3 ... never reused), timestamp, event type, a payload (msgpack
    map) and the hash of the same site's previous signed event, so each
    site's events form a hash chain.

    Encoding (docs/protocol.md is the normative text):

        signed event = signature (64 bytes) || body
        body         = msgpack array of 7, canonical (shortest encodings):
                       [ version (uint, 1),
                         site    (str, 1..64, [a-z0-9._-]),
                         seq     (uint, >= 1),
                         ts      (uint, ms since Unix epoch, UTC),
                         type    (str, 1..64, [a-z0-9._-]),
                         prev    (bin 32: SHA-256 of the previous signed
                                  event of this site; 32 zero bytes for seq 1),
                         data    (map) ]
        signature    = Ed25519 over the body bytes
        event hash   = SHA-256 over the whole signed event

    The signed event is at most IH_EVENT_MAX bytes. The hub stores the
    signed bytes verbatim, so anyone can re-verify them forever.
    =========================================================================*/
#ifndef IH_EVENT_H_INCLUDED
#define IH_EVENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_key.h"

#define IH_EVENT_VERSION 1
#define IH_NAME_MAX 64     //  site ids and event types, in bytes
#define IH_HASH_SIZE 32    //  SHA-256
#define IH_EVENT_MAX 65536 //  whole signed event, in bytes

//  A decoded event: a view, not a class. Strings are copied and
//  NUL-terminated; data points into the buffer that was decoded and lives
//  as long as that buffer.
typedef struct {
    char site[IH_NAME_MAX + 1];
    uint64_t seq;
    uint64_t ts; //  ms since the Unix epoch, UTC
    char type[IH_NAME_MAX + 1];
    uint8_t prev[IH_HASH_SIZE];
    const uint8_t *data; //  msgpack map, borrowed
    size_t data_size;
} ih_event_t;

//  True if name is 1..IH_NAME_MAX bytes of [a-z0-9._-].
bool ih_event_name_valid (const char *name);

//  Encodes event's body canonically, signs it with key and returns the
//  signed event in a malloc'ed buffer (*out_p, *size_p); the caller frees.
//  event->site must equal the key's name. data NULL with data_size 0 means
//  an empty map; data is copied in verbatim (not re-canonicalised).
//  Errors: IH_E_BADNAME, IH_E_BADARG (seq 0, key without secret, site not
//  the key's), IH_E_MALFORMED (data not exactly one msgpack map),
//  IH_E_TOOBIG (over IH_EVENT_MAX, or data nested deeper than 32).
ih_err_t ih_event_sign (const ih_event_t *event, ih_key_t *key, uint8_t **out_p,
                        size_t *size_p);

//  Decodes a signed event without checking the signature. Never reads past
//  size. Errors: IH_E_TOOBIG (size > IH_EVENT_MAX), IH_E_MALFORMED (too
//  short, not msgpack, not an array), IH_E_MISSING (array too short),
//  IH_E_TRAILING (extra elements or bytes), IH_E_TYPE, IH_E_VERSION,
//  IH_E_BADNAME, IH_E_TOOBIG (a name too long).
//  Also (rules the format above implies): IH_E_MALFORMED for seq 0, a prev
//  that is not exactly 32 bytes, or a header (array header and first six
//  fields) not in shortest encoding; IH_E_TOOBIG for data nested deeper
//  than 32 containers. The version is checked before the array length.
ih_err_t ih_event_decode (const uint8_t *bytes, size_t size, ih_event_t *event);

//  Checks the signature of a signed event against a 32-byte public key.
//  Errors: IH_E_MALFORMED (shorter than a signature), IH_E_BADSIG.
ih_err_t ih_event_verify (const uint8_t *bytes, size_t size,
                          const uint8_t *public_key);

//  SHA-256 of the whole signed event into hash (32 bytes).
void ih_event_hash (const uint8_t *bytes, size_t size, uint8_t *hash);

//  Milliseconds since the Unix epoch, now.
uint64_t ih_event_now (void);

//  Selftest
void ih_event_test (bool verbose);

#endif
