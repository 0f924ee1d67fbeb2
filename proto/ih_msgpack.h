/*  =========================================================================
    ih_msgpack - bounded msgpack validation, private to proto/

    msgpack-c trusts the lengths it reads: a 5-byte input that announces an
    array of 2^32 elements makes msgpack_unpack_next allocate gigabytes
    before it notices the input is short. Every proto/ decoder therefore
    walks untrusted bytes with ih_msgpack_check first, which proves that the
    bytes hold one complete, well-formed value whose every announced count
    and length fits in the input and whose containers nest at most
    max_depth deep. Only then do the decoders hand the bytes to msgpack-c.

    Not part of the public API: only the .c files of proto/ include it.
    =========================================================================*/
#ifndef IH_MSGPACK_H_INCLUDED
#define IH_MSGPACK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"

//  Deepest container nesting accepted in a payload (a map holding a map
//  is depth 2). Equal to IH_JSON_DEPTH, and to msgpack-c's own parser
//  stack (MSGPACK_EMBED_STACK_SIZE), so msgpack-c never fails on input
//  that passed ih_msgpack_check.
#define IH_MSGPACK_DEPTH 32

//  Checks that bytes[0..size) begins with exactly one well-formed msgpack
//  value and sets *used_p to its length; the caller decides whether bytes
//  after it are an error. Never reads past size.
//  Errors: IH_E_MALFORMED (truncated, or the never-used byte 0xc1),
//  IH_E_TOOBIG (nesting deeper than max_depth).
ih_err_t ih_msgpack_check (const uint8_t *bytes, size_t size, int max_depth,
                           size_t *used_p);

//  True if the value starting at bytes (size >= 1) is a map.
bool ih_msgpack_is_map (const uint8_t *bytes, size_t size);

//  Reads an array header at bytes: sets *count_p and *header_p (its size
//  in bytes). Errors: IH_E_MALFORMED (not an array, or truncated).
ih_err_t ih_msgpack_array_header (const uint8_t *bytes, size_t size,
                                  uint32_t *count_p, size_t *header_p);

#endif
